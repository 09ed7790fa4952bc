/**
 * A headless Chromium driven over the DevTools protocol with the `ws` client the project
 * already has: enough to open a page, run script in it, wait for a condition and collect
 * the page's errors. (A driver library would bring some 70 packages for these four calls.)
 */
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import WebSocket from "ws"

/** The Chromium to use: `MUR_TEST_CHROMIUM`, else the usual install paths. */
export const CHROMIUM = [
  process.env.MUR_TEST_CHROMIUM,
  "/usr/bin/chromium",
  "/usr/bin/chromium-browser",
  "/usr/bin/google-chrome"
].find((p): p is string => p !== undefined && p !== "" && existsSync(p))

export interface Page {
  /** Navigates and waits for the document to finish loading. */
  goto(url: string): Promise<void>
  /** Evaluates `expression` in the page (awaiting a promise) and returns its value as JSON. */
  eval<T = unknown>(expression: string): Promise<T>
  /** Polls `expression` until it is truthy; returns its value. */
  waitFor<T = unknown>(expression: string, timeoutMs?: number): Promise<T>
  /** Uncaught exceptions, console errors and failed loads, as text. */
  readonly errors: string[]
}

export interface Browser {
  readonly page: Page
  close(): Promise<void>
}

export const launchBrowser = async (): Promise<Browser> => {
  if (CHROMIUM === undefined) throw new Error("no Chromium found (set MUR_TEST_CHROMIUM)")
  const profile = mkdtempSync(join(tmpdir(), "mur-chromium-"))
  const child: ChildProcess = spawn(
    CHROMIUM,
    [
      "--headless=new",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--no-first-run",
      "--remote-debugging-port=0",
      `--user-data-dir=${profile}`,
      "about:blank"
    ],
    { stdio: ["ignore", "ignore", "pipe"] }
  )
  const endpoint = await new Promise<string>((resolve, reject) => {
    let seen = ""
    const timer = setTimeout(() => reject(new Error(`Chromium did not start: ${seen.slice(-500)}`)), 20_000)
    child.stderr!.on("data", (chunk: Buffer) => {
      seen += chunk.toString()
      const match = /DevTools listening on (ws:\/\/\S+)/.exec(seen)
      if (match) {
        clearTimeout(timer)
        resolve(match[1]!)
      }
    })
    child.once("exit", (code) => reject(new Error(`Chromium exited with ${code}: ${seen.slice(-500)}`)))
  })

  const ws = new WebSocket(endpoint, { perMessageDeflate: false })
  await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject))
  let nextId = 1
  const pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>()
  const listeners: Array<(method: string, params: any) => void> = []
  ws.on("message", (data) => {
    const msg = JSON.parse(data.toString())
    if (msg.id !== undefined) {
      const p = pending.get(msg.id)
      pending.delete(msg.id)
      if (msg.error) p?.reject(new Error(`${msg.error.message} (${msg.error.code})`))
      else p?.resolve(msg.result)
    } else {
      for (const l of listeners) l(msg.method, msg.params)
    }
  })
  const send = (method: string, params: object = {}, sessionId?: string): Promise<any> =>
    new Promise((resolve, reject) => {
      const id = nextId++
      pending.set(id, { resolve, reject })
      ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }))
    })

  const { targetId } = await send("Target.createTarget", { url: "about:blank" })
  const { sessionId } = await send("Target.attachToTarget", { targetId, flatten: true })
  const errors: string[] = []
  listeners.push((method, params) => {
    if (method === "Runtime.exceptionThrown") {
      errors.push(`exception: ${params.exceptionDetails?.exception?.description ?? params.exceptionDetails?.text}`)
    } else if (method === "Runtime.consoleAPICalled" && params.type === "error") {
      errors.push(`console.error: ${params.args.map((a: any) => a.value ?? a.description).join(" ")}`)
    } else if (method === "Log.entryAdded" && params.entry.level === "error") {
      errors.push(`log: ${params.entry.text} ${params.entry.url ?? ""}`)
    } else if (method === "Page.javascriptDialogOpening") {
      // confirm() and alert(): a person clicking OK.
      void send("Page.handleJavaScriptDialog", { accept: true }, sessionId)
    }
  })
  await Promise.all(["Runtime.enable", "Page.enable", "Log.enable"].map((m) => send(m, {}, sessionId)))

  const evaluate = async <T>(expression: string): Promise<T> => {
    const r = await send("Runtime.evaluate", { expression, awaitPromise: true, returnByValue: true }, sessionId)
    if (r.exceptionDetails) {
      throw new Error(`in page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`)
    }
    return r.result.value as T
  }
  const waitFor = async <T>(expression: string, timeoutMs = 10_000): Promise<T> => {
    const until = Date.now() + timeoutMs
    let last: unknown
    for (;;) {
      try {
        last = await evaluate<T>(expression)
        if (last) return last as T
      } catch (e) {
        last = e
      }
      if (Date.now() > until) throw new Error(`timed out waiting for ${expression}; last: ${String(last)}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  const page: Page = {
    errors,
    eval: evaluate,
    waitFor,
    goto: async (url) => {
      await send("Page.navigate", { url }, sessionId)
      await waitFor(`document.readyState === "complete" && location.href !== "about:blank"`)
    }
  }
  return {
    page,
    close: async () => {
      // Browser.close lets Chromium end its helper processes; SIGKILL only if it hangs.
      const exited = new Promise((r) => (child.exitCode !== null ? r(null) : child.once("exit", r)))
      const killer = setTimeout(() => child.kill("SIGKILL"), 5000)
      await Promise.race([send("Browser.close").catch(() => child.kill("SIGKILL")), exited])
      await exited
      clearTimeout(killer)
      ws.close()
      rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 })
    }
  }
}
