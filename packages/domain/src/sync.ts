/** The Sync section of the contract: push, pull, snapshot, status. */
import { Schema } from "effect"
import { Timestamp } from "./models.js"
import { Pattern, SyncEvent } from "./patterns.js"
import { Text } from "./text.js"

export const DeviceId = Text.pipe(
  Schema.minLength(1, { message: () => "device_id must not be empty" }),
  Schema.maxLength(128, { message: () => "device_id must be at most 128 characters" })
)

export const ClientActionId = Text.pipe(
  Schema.minLength(1, { message: () => "client_action_id must not be empty" }),
  Schema.maxLength(128, { message: () => "client_action_id must be at most 128 characters" })
)

/** The fields of a pattern a push may carry (all optional: an upsert changes what it names). */
export const PushPatternFields = Schema.Struct({
  name: Schema.optional(Schema.String),
  description: Schema.optional(Schema.String),
  content: Schema.optional(Schema.Unknown),
  category: Schema.optional(Schema.NullOr(Schema.String)),
  tags: Schema.optional(Schema.Unknown),
  is_public: Schema.optional(Schema.Unknown)
})

export const PushEvent = Schema.Struct({
  client_action_id: ClientActionId,
  op: Schema.Literal("upsert", "delete"),
  pattern_id: Schema.optional(Schema.UUID),
  name: Schema.optional(Schema.String),
  base_version: Schema.optional(Schema.Int.pipe(Schema.positive())),
  pattern: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown }))
})
export type PushEvent = typeof PushEvent.Type

/** Each event is checked on its own (a bad one is `rejected`); the batch only needs 1–1000 of them. */
export const PushRequest = Schema.Struct({
  device_id: DeviceId,
  events: Schema.Array(Schema.Unknown).pipe(
    Schema.minItems(1, { message: () => "a push carries at least 1 event" }),
    Schema.maxItems(1000, { message: () => "a push carries at most 1000 events" })
  )
})

export const PushStatus = Schema.Literal("applied", "duplicate", "conflict", "rejected")
export type PushStatus = typeof PushStatus.Type

export const PushResult = Schema.Struct({
  client_action_id: Schema.NullOr(Schema.String),
  status: PushStatus,
  seq: Schema.optional(Schema.Number),
  pattern_id: Schema.optional(Schema.String),
  version: Schema.optional(Schema.Number),
  error: Schema.optional(Schema.Struct({ code: Schema.String, message: Schema.String })),
  current: Schema.optional(Pattern)
}).annotations({ identifier: "PushResult" })
export type PushResult = typeof PushResult.Type

export const PushResponse = Schema.Struct({ results: Schema.Array(PushResult), last_seq: Schema.Number })
export type PushResponse = typeof PushResponse.Type

const SeqParam = Schema.NumberFromString.pipe(Schema.int(), Schema.greaterThanOrEqualTo(0))

export const PullParams = Schema.Struct({
  after: Schema.optional(SeqParam),
  limit: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 1000))),
  device_id: Schema.optional(DeviceId)
})

export const PullResponse = Schema.Struct({
  events: Schema.Array(SyncEvent),
  last_seq: Schema.Number,
  has_more: Schema.Boolean
})
export type PullResponse = typeof PullResponse.Type

export const SnapshotResponse = Schema.Struct({ patterns: Schema.Array(Pattern), last_seq: Schema.Number })

export const DeviceStatus = Schema.Struct({
  device_id: Schema.String,
  last_seen_at: Timestamp,
  last_pulled_seq: Schema.Number
})

export const SyncStatus = Schema.Struct({
  last_seq: Schema.Number,
  pattern_count: Schema.Number,
  devices: Schema.Array(DeviceStatus)
})
