/**
 * The real-time sync client: keeps a cursor (the last `seq` it saw), reconnects with
 * exponential backoff, and resubscribes with `after: cursor`, so the events it hands out
 * are every event of the team exactly once, in order, across reconnects.
 *
 * Two faces: `connectSync` (callbacks, for any Node program) and `syncEvents` (an Effect
 * `Stream`).
 */
import { type SyncChannel, SyncClientMessage, type SyncPatternEvent, SyncServerMessage } from "@mur/domain"
import { Effect, Either, Schema, Stream } from "effect"
import WebSocket from "ws"

export type Channel = SyncChannel

/** A change of the team's patterns, as the server sends it (`@mur/domain`'s `SyncPatternEvent`). */
export type PatternEvent = SyncPatternEvent

/** Any message from the server (events, acks, presence, member changes, errors). */
export type ServerMessage = SyncServerMessage

/** Any message a client sends (writes, `stat_recorded`, `ping`; the client subscribes itself). */
export type ClientMessage = SyncClientMessage

const decodeServer = Schema.decodeUnknownEither(Schema.parseJson(SyncServerMessage))
const encodeClient = Schema.encodeSync(Schema.parseJson(SyncClientMessage))
const isPatternEvent = (m: ServerMessage): m is PatternEvent =>
  m.type === "pattern_created" || m.type === "pattern_updated" || m.type === "pattern_deleted"

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
  /**
   * Sends a message (e.g. `{type: "pattern_updated", …}`); false when not connected. Throws
   * when the message does not match its schema (the server would refuse it).
   */
  readonly send: (message: ClientMessage) => boolean
  /** Stops for good. */
  readonly close: () => void
}

/** Whether a message that did not decode claims to be a pattern event. */
const eventType = (text: string) => {
  try {
    const m = JSON.parse(text)
    return typeof m?.type === "string" && m.type.startsWith("pattern_")
  } catch {
    return false
  }
}

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
      socket.send(encodeClient({ type: "subscribe", channels, ...(cursor !== undefined ? { after: cursor } : {}) }))
    })
    socket.on("message", (data) => {
      const decoded = decodeServer(data.toString())
      if (Either.isLeft(decoded)) {
        // An event this client cannot read must not be skipped (the cursor would pass it).
        if (eventType(data.toString())) {
          stopped = true
          callbacks.onFatal?.(new Error(`the server sent an event this client cannot read: ${decoded.left.message}`))
          socket.close(1000)
        }
        // Anything else (a newer server's message, say) is not for this client.
        return
      }
      const message = decoded.right
      if (isPatternEvent(message)) {
        // The server sends each seq once per connection; across reconnects the cursor decides.
        if (cursor !== undefined && message.seq <= cursor) return
        cursor = message.seq
        callbacks.onEvent?.(message)
        return
      }
      if (message.type === "subscribed" && cursor === undefined) {
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
      ws.send(encodeClient(message))
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
