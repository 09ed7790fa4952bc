/**
 * Questions on the terminal for `mur login`: prompts go to stderr (stdout stays for the
 * result), the password is not echoed. When stdin is not a terminal the answers are read
 * line by line from it, so `printf 'me@x\nsecret\n' | mur login` works in scripts.
 */
import { createInterface } from "node:readline"
import { Effect } from "effect"

export interface Prompter {
  readonly ask: (question: string, options?: { readonly hidden?: boolean }) => Effect.Effect<string | undefined>
}

/** Runs `use` with a prompter on stdin/stderr, closed afterwards. */
export const withPrompter = <A, E, R>(use: (prompter: Prompter) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      const terminal = process.stdin.isTTY === true
      const rl = createInterface({ input: process.stdin, output: process.stderr, terminal })
      let muted = false
      ;(rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = (s: string) => {
        if (!muted) process.stderr.write(s)
      }
      const lines: Array<string> = []
      let waiting: ((line: string | undefined) => void) | undefined
      let closed = false
      rl.on("line", (line) => {
        if (waiting) {
          const w = waiting
          waiting = undefined
          w(line)
        } else lines.push(line)
      })
      rl.on("close", () => {
        closed = true
        waiting?.(undefined)
        waiting = undefined
      })
      rl.on("SIGINT", () => {
        process.stderr.write("\n")
        process.exit(130)
      })
      const next = (): Promise<string | undefined> =>
        lines.length > 0
          ? Promise.resolve(lines.shift())
          : closed
            ? Promise.resolve(undefined)
            : new Promise((resolve) => {
                waiting = resolve
              })
      const prompter: Prompter = {
        ask: (question, options = {}) =>
          Effect.promise(async () => {
            if (terminal) process.stderr.write(question)
            muted = options.hidden === true && terminal
            const answer = await next()
            if (muted) process.stderr.write("\n")
            muted = false
            return answer?.replace(/\r$/, "")
          })
      }
      return { rl, prompter }
    }),
    ({ prompter }) => use(prompter),
    ({ rl }) => Effect.sync(() => rl.close())
  )
