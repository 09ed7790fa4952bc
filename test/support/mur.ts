/** Running the real `mur` binary with its own `$MUR_HOME`. */
import { type ChildProcess, spawn } from "node:child_process"
import { join } from "node:path"
import { expect } from "vitest"
import { childEnv, ROOT } from "./server.js"

export const MUR_BIN = join(ROOT, "apps", "mur", "dist", "mur.mjs")

export interface Run {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

export const spawnMur = (home: string, args: ReadonlyArray<string>, env: Record<string, string> = {}): ChildProcess =>
  spawn(process.execPath, [MUR_BIN, ...args], {
    env: { ...childEnv(), MUR_HOME: home, NO_COLOR: "1", ...env },
    stdio: ["pipe", "pipe", "pipe"]
  })

/** Runs `mur` to completion (stdin gets `input`, then end of file). */
export const runMur = (
  home: string,
  args: ReadonlyArray<string>,
  options: { readonly input?: string; readonly env?: Record<string, string> } = {}
): Promise<Run> =>
  new Promise((resolve) => {
    const child = spawnMur(home, args, options.env)
    let stdout = ""
    let stderr = ""
    child.stdout!.on("data", (d) => {
      stdout += d
    })
    child.stderr!.on("data", (d) => {
      stderr += d
    })
    child.stdin!.end(options.input ?? "")
    const timer = setTimeout(() => child.kill("SIGKILL"), 100_000)
    child.once("exit", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })

/** Asserts exit 0 (showing both streams when not) and returns the run. */
export const ok = (run: Run) => {
  expect(run.code, `stdout: ${run.stdout}\nstderr: ${run.stderr}`).toBe(0)
  return run
}
