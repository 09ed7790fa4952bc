/** A WebSocket test client for /ws/sync that records every message. */
import WebSocket from "ws"

export interface SyncSocket {
  readonly ws: WebSocket
  readonly messages: any[]
  send(msg: unknown): void
  /** Resolves with the first recorded message (from `from` on) that matches. */
  waitFor(pred: (m: any) => boolean, timeoutMs?: number, from?: number): Promise<any>
  /** Resolves when `count` messages match. */
  waitForCount(pred: (m: any) => boolean, count: number, timeoutMs?: number): Promise<any[]>
  readonly closed: Promise<{ code: number; reason: string }>
  close(): void
}

export const wsUrl = (base: string, query: Record<string, string>) =>
  `${base.replace(/^http/, "ws")}/ws/sync?${new URLSearchParams(query).toString()}`

export const connect = (base: string, query: Record<string, string>): Promise<SyncSocket> =>
  new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(base, query))
    const messages: any[] = []
    const waiters = new Set<() => void>()
    ws.on("message", (data) => {
      messages.push(JSON.parse(data.toString()))
      for (const w of waiters) w()
    })
    const closed = new Promise<{ code: number; reason: string }>((r) =>
      ws.on("close", (code, reason) => {
        r({ code, reason: reason.toString() })
        for (const w of waiters) w()
      })
    )
    ws.on("unexpected-response", (_req, res) =>
      reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode }))
    )
    ws.on("error", (e) => reject(e))
    ws.on("open", () =>
      resolve({
        ws,
        messages,
        closed,
        send: (msg) => ws.send(typeof msg === "string" ? msg : JSON.stringify(msg)),
        close: () => ws.close(),
        waitFor(pred, timeoutMs = 10_000, from = 0) {
          return new Promise((res, rej) => {
            const check = () => {
              const found = messages.slice(from).find(pred)
              if (found !== undefined) {
                waiters.delete(check)
                clearTimeout(timer)
                res(found)
              }
            }
            const timer = setTimeout(() => {
              waiters.delete(check)
              rej(new Error(`no matching message in ${timeoutMs} ms; got ${JSON.stringify(messages).slice(-500)}`))
            }, timeoutMs)
            waiters.add(check)
            check()
          })
        },
        waitForCount(pred, count, timeoutMs = 15_000) {
          return new Promise((res, rej) => {
            const check = () => {
              const found = messages.filter(pred)
              if (found.length >= count) {
                waiters.delete(check)
                clearTimeout(timer)
                res(found)
              }
            }
            const timer = setTimeout(() => {
              waiters.delete(check)
              rej(new Error(`only ${messages.filter(pred).length}/${count} matching messages in ${timeoutMs} ms`))
            }, timeoutMs)
            waiters.add(check)
            check()
          })
        }
      })
    )
  })

export const isEvent = (m: any) =>
  m.type === "pattern_created" || m.type === "pattern_updated" || m.type === "pattern_deleted"
