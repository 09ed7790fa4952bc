/**
 * The messages of `/ws/sync` (Real-time section of the contract): one JSON object per text
 * frame, told apart by `type`. The server decodes what a client sends with
 * `SyncClientMessage` and writes `SyncServerMessage`s; the SDK does the reverse.
 * docs/sync-protocol.md ("Messages") lists every one of them, checked by socket.test.ts.
 */
import { Schema } from "effect"
import { PatternId } from "./ids.js"
import { Timestamp } from "./models.js"
import { Pattern } from "./patterns.js"
import { StatRecord, TodayStats } from "./stats.js"
import { ClientActionId, PushResult } from "./sync.js"

export const SyncChannel = Schema.Literal("patterns", "stats", "presence").annotations({
  identifier: "SyncChannel",
  message: () => ({ message: "must be patterns, stats or presence", override: true })
})
export type SyncChannel = typeof SyncChannel.Type

/** An optional field: absent, or present with a value (never `undefined`: JSON has none). */
const optional = <S extends Schema.Schema.Any>(schema: S) => Schema.optionalWith(schema, { exact: true })

const wholeNumber = (message: string, min: number) =>
  Schema.Number.annotations({ message: () => message }).pipe(
    Schema.int({ message: () => message }),
    Schema.greaterThanOrEqualTo(min, { message: () => message })
  )

/** A position in the team's log: 0 before the first event. */
const Seq = wholeNumber("must be a whole number (a seq)", 0)

const PatternFields = Schema.Record({ key: Schema.String, value: Schema.Unknown }).annotations({
  message: () => "must be an object",
  description: "The pattern's fields, as in a push's `pattern` (checked like a push: a bad one is acked rejected)"
})

// ---------------------------------------------------------------------------------------
// Client → server

export const PingMessage = Schema.Struct({ type: Schema.tag("ping") }).annotations({
  identifier: "PingMessage",
  description: "Answered with `pong`"
})

export const SubscribeMessage = Schema.Struct({
  type: Schema.tag("subscribe"),
  /** Default `["patterns"]`. */
  channels: optional(
    Schema.Array(SyncChannel)
      .annotations({ message: () => "must be a list of patterns, stats, presence" })
      .pipe(Schema.minItems(1, { message: () => "must name at least one of patterns, stats, presence" }))
  ),
  /** Replay every event after this seq; default: the team's head (only new events). */
  after: optional(Seq)
}).annotations({
  identifier: "SubscribeMessage",
  description: "Answered with `subscribed`, then every event after `after`, then live ones"
})

const writeFields = {
  pattern: PatternFields,
  base_version: optional(wholeNumber("must be a whole number from 1 (the version changed)", 1)),
  client_action_id: optional(ClientActionId)
}

export const PatternCreatedMessage = Schema.Struct({ type: Schema.tag("pattern_created"), ...writeFields }).annotations(
  { identifier: "PatternCreatedMessage", description: "An upsert, applied like a push; answered with `ack`" }
)

export const PatternUpdatedMessage = Schema.Struct({ type: Schema.tag("pattern_updated"), ...writeFields }).annotations(
  { identifier: "PatternUpdatedMessage", description: "An upsert, applied like a push; answered with `ack`" }
)

export const PatternDeletedMessage = Schema.Struct({
  type: Schema.tag("pattern_deleted"),
  pattern_id: Schema.String.annotations({ message: () => "must be a pattern id" }),
  client_action_id: optional(ClientActionId)
}).annotations({
  identifier: "PatternDeletedMessage",
  description: "A delete, applied like a push; answered with `ack`"
})

export const StatRecordedMessage = Schema.Struct({
  type: Schema.tag("stat_recorded"),
  stat: StatRecord,
  client_action_id: optional(ClientActionId)
}).annotations({
  identifier: "StatRecordedMessage",
  description: "One usage record, ingested like `POST /api/stats`; answered with `ack`"
})

/** Everything a client may send. */
export const SyncClientMessage = Schema.Union(
  PingMessage,
  SubscribeMessage,
  PatternCreatedMessage,
  PatternUpdatedMessage,
  PatternDeletedMessage,
  StatRecordedMessage
)
export type SyncClientMessage = typeof SyncClientMessage.Type

// ---------------------------------------------------------------------------------------
// Server → client

export const PongMessage = Schema.Struct({ type: Schema.tag("pong") }).annotations({ identifier: "PongMessage" })

export const SubscribedMessage = Schema.Struct({
  type: Schema.tag("subscribed"),
  channels: Schema.Array(SyncChannel),
  /** The team's head when the subscription started. */
  last_seq: Schema.Number
}).annotations({ identifier: "SubscribedMessage" })

/** Who made a change: null `id` for a user since deleted. */
export const EventActor = Schema.Struct({ id: Schema.NullOr(Schema.UUID), name: Schema.String })

export const PatternCreatedEvent = Schema.Struct({
  type: Schema.tag("pattern_created"),
  seq: Schema.Number,
  pattern: Pattern,
  user: EventActor
}).annotations({ identifier: "PatternCreatedEvent" })

export const PatternUpdatedEvent = Schema.Struct({
  type: Schema.tag("pattern_updated"),
  seq: Schema.Number,
  pattern: Pattern,
  user: EventActor
}).annotations({ identifier: "PatternUpdatedEvent" })

export const PatternDeletedEvent = Schema.Struct({
  type: Schema.tag("pattern_deleted"),
  seq: Schema.Number,
  pattern_id: PatternId,
  version: Schema.Number,
  user: EventActor
}).annotations({ identifier: "PatternDeletedEvent" })

/** An event of the team's log (channel `patterns`), each once and in `seq` order. */
export const SyncPatternEvent = Schema.Union(PatternCreatedEvent, PatternUpdatedEvent, PatternDeletedEvent)
export type SyncPatternEvent = typeof SyncPatternEvent.Type

export const PresenceEntry = Schema.Struct({
  user_id: Schema.UUID,
  name: Schema.String,
  device_id: Schema.NullOr(Schema.String),
  since: Timestamp
}).annotations({ identifier: "PresenceEntry" })
export type PresenceEntry = typeof PresenceEntry.Type

export const PresenceMessage = Schema.Struct({
  type: Schema.tag("presence"),
  /** One entry per open socket of the team, oldest first. */
  online: Schema.Array(PresenceEntry)
}).annotations({ identifier: "PresenceMessage" })

export const MemberJoinedMessage = Schema.Struct({
  type: Schema.tag("member_joined"),
  user: Schema.Struct({ id: Schema.UUID, name: Schema.String })
}).annotations({ identifier: "MemberJoinedMessage" })

export const MemberLeftMessage = Schema.Struct({
  type: Schema.tag("member_left"),
  user_id: Schema.UUID
}).annotations({ identifier: "MemberLeftMessage" })

export const StatsUpdatedMessage = Schema.Struct({
  type: Schema.tag("stats_updated"),
  summary: TodayStats
}).annotations({ identifier: "StatsUpdatedMessage" })

/** The result of a write or a `stat_recorded`: a push's result (`applied` or `duplicate` for a stat). */
export const AckMessage = Schema.Struct({ type: Schema.tag("ack"), ...PushResult.fields }).annotations({
  identifier: "AckMessage"
})

/**
 * A message the server could not take; the socket stays open. `code`: `invalid_message`
 * (not JSON, unknown `type`, a field wrong: `message` names it), `invalid_request` (a
 * `stat_recorded` whose record is wrong, as `POST /api/stats` says it), `rate_limited`
 * (send again after `retry_after` seconds), `internal_error`.
 */
export const ErrorMessage = Schema.Struct({
  type: Schema.tag("error"),
  code: Schema.String,
  message: Schema.String,
  /** The failed message's `client_action_id` (null when it had none), for writes and stats. */
  client_action_id: optional(Schema.NullOr(Schema.String)),
  /** Seconds to wait before sending again (`rate_limited`). */
  retry_after: optional(Schema.Number)
}).annotations({ identifier: "ErrorMessage" })
export type ErrorMessage = typeof ErrorMessage.Type

/** Everything the server sends. */
export const SyncServerMessage = Schema.Union(
  PongMessage,
  SubscribedMessage,
  PatternCreatedEvent,
  PatternUpdatedEvent,
  PatternDeletedEvent,
  PresenceMessage,
  MemberJoinedMessage,
  MemberLeftMessage,
  StatsUpdatedMessage,
  AckMessage,
  ErrorMessage
)
export type SyncServerMessage = typeof SyncServerMessage.Type
