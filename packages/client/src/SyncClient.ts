/**
 * The real-time sync client: keeps a cursor (the last `seq` it saw), reconnects with
 * exponential backoff, and resubscribes with `after: cursor`, so the events it hands out
 * are every event of the team exactly once, in order, across reconnects.
 *
 * Two faces: `connectSync` (callbacks, for any Node program) and `syncEvents` (an Effect
 * `Stream`).
 */
import { Effect, Stream } from "effect"
import WebSocket from "ws"

export type Channel = "patterns" | "stats" | "presence"

/** A change of the team's patterns, as the server sends it. */
export interface PatternEvent {
  readonly type: "pattern_created" | "pattern_updated" | "pattern_deleted"
  readonly seq: number
  readonly pattern?: Record<string, unknown>
  readonly pattern_id?: string
  readonly user: { readonly id: string | null; readonly name: string }
}

/** Any message from the server (events, acks, presence, member changes, errors). */
export type ServerMessage = { readonly type: string; readonly [key: string]: unknown }

export type SyncStatus = "connecting" | "open" | "closed"

export interface SyncOptions {
  /** Server base URL, e.g. `http://localhost:8080`. */
  readonly baseUrl: string
  /** Access token or API key; called before every (re)connect, so it may refresh. */
  readonly token: () => string | Promise<string>
  /** Team id or slug, when the user belongs to several. */
  readonly team?: string
  readonly deviceId?: string
  readonly channels?: ReadonlyArray<Channel>
  /** Start after this seq (a saved cursor); default: only new events. */
  readonly after?: number
  /** Backoff between reconnects: starts at `minDelayMs`, doubles up to `maxDelayMs` (with jitter). */
  readonly minDelayMs?: number
  readonly maxDelayMs?: number
}

export interface SyncCallbacks {
  /** Each pattern event, once, in seq order. */
  readonly onEvent?: (event: PatternEvent) => void
  /** Every other message (presence, member_joined, ack, error, …). */
  readonly onMessage?: (message: ServerMessage) => void
  readonly onStatus?: (status: SyncStatus, detail?: { code?: number; reason?: string }) => void
  /** Called when the server refuses the credentials (HTTP 401/403/404 at the upgrade); no retry follows. */
  readonly onFatal?: (error: Error) => void
}

export interface SyncConnection {
  /** The last seq delivered to `onEvent`: save it to resume later. */
  readonly cursor: () => number | undefined
  /** Sends a message (e.g. `{type: "pattern_updated", …}`); false when not connected. */
  readonly send: (message: ServerMessage) => boolean
  /** Stops for good. */
  readonly close: () => void
}

const isPatternEvent = (m: ServerMessage): m is ServerMessage & PatternEvent =>
  (m.type === "pattern_created" || m.type === "pattern_updated" || m.type === "pattern_deleted") &&
  typeof m.seq === "number"

/** Connects and stays connected until `close()`. */
export const connectSync = (options: SyncOptions, callbacks: SyncCallbacks): SyncConnection => {
  let cursor = options.after
  let ws: WebSocket | undefined
  let stopped = false
  let attempt = 0
  let timer: ReturnType<typeof setTimeout> | undefined
  const minDelay = options.minDelayMs ?? 250
  const maxDelay = options.maxDelayMs ?? 30_000

  const schedule = () => {
    if (stopped) return
    const delay = Math.min(maxDelay, minDelay * 2 ** attempt) * (0.5 + Math.random() / 2)
    attempt++
    timer = setTimeout(open, delay)
  }

  const open = async () => {
    if (stopped) return
    callbacks.onStatus?.("connecting")
    let token: string
    try {
      token = await options.token()
    } catch (e) {
      callbacks.onFatal?.(e instanceof Error ? e : new Error(String(e)))
      return
    }
    const url = new URL("/ws/sync", options.baseUrl.replace(/^http/, "ws"))
    url.searchParams.set("token", token)
    if (options.team) url.searchParams.set("team", options.team)
    if (options.deviceId) url.searchParams.set("device_id", options.deviceId)
    const socket = new WebSocket(url)
    ws = socket
    let fatal = false
    socket.on("unexpected-response", (_req, res) => {
      const status = res.statusCode ?? 0
      if (status === 401 || status === 403 || status === 404 || status === 400) {
        fatal = true
        stopped = true
        callbacks.onFatal?.(new Error(`the server refused the connection (HTTP ${status})`))
      }
      socket.terminate()
    })
    socket.on("open", () => {
      attempt = 0
      callbacks.onStatus?.("open")
      const channels = options.channels ?? ["patterns"]
      socket.send(JSON.stringify({ type: "subscribe", channels, ...(cursor !== undefined ? { after: cursor } : {}) }))
    })
    socket.on("message", (data) => {
      let message: ServerMessage
      try {
        message = JSON.parse(data.toString())
      } catch {
        return
      }
      if (isPatternEvent(message)) {
        // The server sends each seq once per connection; across reconnects the cursor decides.
        if (cursor !== undefined && message.seq <= cursor) return
        cursor = message.seq
        callbacks.onEvent?.(message)
        return
      }
      if (message.type === "subscribed" && cursor === undefined && typeof message.last_seq === "number") {
        cursor = message.last_seq
      }
      callbacks.onMessage?.(message)
    })
    socket.on("close", (code, reason) => {
      if (ws === socket) ws = undefined
      callbacks.onStatus?.("closed", { code, reason: reason.toString() })
      // 4403: no longer a member; 4401: credentials refused. Neither gets better by retrying.
      if (code === 4403 || code === 4401) {
        stopped = true
        callbacks.onFatal?.(new Error(`the server closed the connection for good (${code})`))
        return
      }
      if (!fatal) schedule()
    })
    socket.on("error", () => undefined)
  }

  void open()
  return {
    cursor: () => cursor,
    send: (message) => {
      if (ws?.readyState !== WebSocket.OPEN) return false
      ws.send(JSON.stringify(message))
      return true
    },
    close: () => {
      stopped = true
      if (timer) clearTimeout(timer)
      ws?.close(1000)
    }
  }
}

/**
 * The team's pattern events as an Effect `Stream`: every event once, in seq order, across
 * reconnects; the connection closes when the stream is no longer consumed.
 */
export const syncEvents = (options: SyncOptions): Stream.Stream<PatternEvent, Error> =>
  Stream.asyncPush<PatternEvent, Error>((emit) =>
    Effect.acquireRelease(
      Effect.sync(() =>
        connectSync(options, {
          onEvent: (event) => emit.single(event),
          onFatal: (error) => emit.fail(error)
        })
      ),
      (connection) => Effect.sync(() => connection.close())
    )
  )
