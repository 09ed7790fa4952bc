/**
 * What the gateway does with each message a client sends: one handler per `type` of
 * `SyncClientMessage`, each given a `DispatchContext` (the hub, the services, sending).
 */
import { randomUUID } from "node:crypto"
import {
  PatternCreatedMessage,
  PatternDeletedMessage,
  PatternUpdatedMessage,
  PingMessage,
  type PushResult,
  type StatRecord,
  StatRecordedMessage,
  SubscribeMessage,
  type SyncClientMessage,
  type SyncServerMessage
} from "@mur/domain"
import { Either, type ParseResult, Schema } from "effect"
import type { Conn } from "./Conn.js"
import type { Hub } from "./Hub.js"
import { issueText } from "./Wire.js"

/** The messages that change something, and so may be refused (rate limited). */
export type AdmitKind = "pattern_created" | "pattern_updated" | "pattern_deleted" | "stat_recorded"

/**
 * Whether a socket may have one more `kind` of message handled now: `null` admits it, a
 * refusal (core's `Limiter`) says why and in how many seconds to send again. The socket
 * stays open either way.
 */
export type Admit = (
  conn: Conn,
  kind: AdmitKind
) => Promise<{ readonly message: string; readonly retryAfter: number } | null>

export interface DispatchContext {
  readonly hub: Hub<Conn>
  readonly send: (conn: Conn, message: SyncServerMessage) => boolean
  /** Every write and `stat_recorded` asks here first. */
  readonly admit: Admit
  /** Applies one change exactly like `POST /api/sync/push` of that one event. */
  readonly push: (conn: Conn, event: Record<string, unknown>) => Promise<PushResult>
  /** Ingests one record like `POST /api/stats`; true when it was new (not a duplicate). */
  readonly recordStat: (conn: Conn, stat: StatRecord) => Promise<boolean>
}

type Message<T extends SyncClientMessage["type"]> = Extract<SyncClientMessage, { readonly type: T }>

interface Route<M> {
  readonly decode: (input: unknown) => Either.Either<M, ParseResult.ParseError>
  readonly handle: (ctx: DispatchContext, conn: Conn, message: M) => void | Promise<void>
  /** The error code of a message of this type that does not decode. */
  readonly invalidCode: string
  /** Errors about messages of this type carry their `client_action_id`. */
  readonly acted: boolean
}

const route = <M>(
  schema: Schema.Schema<M, any>,
  handle: Route<M>["handle"],
  options: { readonly invalidCode?: string; readonly acted?: boolean } = {}
): Route<M> => ({
  decode: Schema.decodeUnknownEither(schema),
  handle,
  invalidCode: options.invalidCode ?? "invalid_message",
  acted: options.acted ?? false
})

/** Asks `ctx.admit`; a refused message is answered `rate_limited` and goes no further. */
const admitted = async (ctx: DispatchContext, conn: Conn, kind: AdmitKind, clientActionId: string | null) => {
  const refused = await ctx.admit(conn, kind)
  if (refused === null) return true
  ctx.send(conn, {
    type: "error",
    code: "rate_limited",
    message: refused.message,
    retry_after: refused.retryAfter,
    client_action_id: clientActionId
  })
  return false
}

const write = async (
  ctx: DispatchContext,
  conn: Conn,
  message: Message<"pattern_created" | "pattern_updated" | "pattern_deleted">
) => {
  const id = message.client_action_id ?? null
  if (!(await admitted(ctx, conn, message.type, id))) return
  let change: Record<string, unknown>
  if (message.type === "pattern_deleted") change = { op: "delete", pattern_id: message.pattern_id }
  else {
    const p = message.pattern
    change = {
      op: "upsert",
      ...(typeof p.id === "string" ? { pattern_id: p.id } : {}),
      ...(typeof p.name === "string" ? { name: p.name } : {}),
      ...(message.base_version !== undefined ? { base_version: message.base_version } : {}),
      pattern: p
    }
  }
  const result = await ctx.push(conn, { ...change, client_action_id: id ?? `ws:${randomUUID()}` })
  ctx.send(conn, { type: "ack", ...result, client_action_id: id })
}

/** The handler of each message type. */
export const routes: { readonly [T in SyncClientMessage["type"]]: Route<Message<T>> } = {
  ping: route(PingMessage, (ctx, conn) => {
    ctx.send(conn, { type: "pong" })
  }),
  subscribe: route(SubscribeMessage, async (ctx, conn, message) => {
    const channels = message.channels ?? ["patterns"]
    const head = await ctx.hub.loadHead(conn.teamId)
    conn.channels = new Set(channels)
    ctx.send(conn, { type: "subscribed", channels, last_seq: head })
    // A subscribe without `after` keeps the cursor of the one before it.
    if (conn.channels.has("patterns"))
      ctx.hub.follow(conn, conn.cursor < 0 || message.after !== undefined ? (message.after ?? head) : conn.cursor)
    if (conn.channels.has("presence")) void ctx.hub.presenceTo(conn).catch(() => undefined)
  }),
  pattern_created: route(PatternCreatedMessage, write, { acted: true }),
  pattern_updated: route(PatternUpdatedMessage, write, { acted: true }),
  pattern_deleted: route(PatternDeletedMessage, write, { acted: true }),
  stat_recorded: route(
    StatRecordedMessage,
    async (ctx, conn, message) => {
      const id = message.client_action_id ?? null
      if (!(await admitted(ctx, conn, "stat_recorded", id))) return
      const fresh = await ctx.recordStat(conn, message.stat)
      ctx.send(conn, { type: "ack", client_action_id: id, status: fresh ? "applied" : "duplicate" })
    },
    // As `POST /api/stats` answers a bad record.
    { invalidCode: "invalid_request", acted: true }
  )
}

const invalid = (ctx: DispatchContext, conn: Conn, message: string) =>
  ctx.send(conn, { type: "error", code: "invalid_message", message })

/** The `client_action_id` a message that did not decode carried, if it is one. */
const actionIdOf = (input: { readonly client_action_id?: unknown }) => {
  const id = input.client_action_id
  return typeof id === "string" && id.length > 0 && id.length <= 128 ? id : null
}

/** Handles one text message of a socket; errors of the message itself are answered, not thrown. */
export const dispatch = async (ctx: DispatchContext, conn: Conn, text: string): Promise<void> => {
  let input: any
  try {
    input = JSON.parse(text)
  } catch {
    invalid(ctx, conn, "The message is not valid JSON")
    return
  }
  if (typeof input !== "object" || input === null || typeof input.type !== "string") {
    invalid(ctx, conn, "A message is a JSON object with a string `type`")
    return
  }
  const type: string = input.type
  const found: Route<SyncClientMessage> | undefined = Object.hasOwn(routes, type)
    ? (routes[type as SyncClientMessage["type"]] as Route<SyncClientMessage>)
    : undefined
  if (found === undefined) {
    invalid(ctx, conn, `Unknown message type: ${type.slice(0, 64)}`)
    return
  }
  const decoded = found.decode(input)
  if (Either.isLeft(decoded)) {
    ctx.send(conn, {
      type: "error",
      code: found.invalidCode,
      message: issueText(decoded.left),
      ...(found.acted ? { client_action_id: actionIdOf(input) } : {})
    })
    return
  }
  await found.handle(ctx, conn, decoded.right)
}
