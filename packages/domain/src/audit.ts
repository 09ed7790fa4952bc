import { Schema } from "effect"
import { Timestamp } from "./models.js"
import { LimitParam, PageParam } from "./patterns.js"
import { Text } from "./text.js"

export const AuditEntry = Schema.Struct({
  id: Schema.String,
  actor_id: Schema.NullOr(Schema.String),
  action: Schema.String,
  target_type: Schema.NullOr(Schema.String),
  target_id: Schema.NullOr(Schema.String),
  ip: Schema.NullOr(Schema.String),
  user_agent: Schema.NullOr(Schema.String),
  request_id: Schema.NullOr(Schema.String),
  metadata: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  created_at: Timestamp
}).annotations({ identifier: "AuditEntry" })
export type AuditEntry = typeof AuditEntry.Type

export const DateParam = Schema.String.pipe(
  Schema.pattern(/^\d{4}-\d{2}-\d{2}$/, { message: () => "must be a date YYYY-MM-DD" }),
  Schema.filter((s) => {
    const t = Date.parse(`${s}T00:00:00Z`)
    return (!Number.isNaN(t) && new Date(t).toISOString().slice(0, 10) === s) || "must be a real date"
  })
)

export const ListAuditParams = Schema.Struct({
  page: Schema.optional(PageParam),
  limit: Schema.optional(LimitParam),
  action: Schema.optional(Text),
  actor_id: Schema.optional(Schema.UUID),
  from: Schema.optional(DateParam),
  to: Schema.optional(DateParam)
})
export type ListAuditParams = typeof ListAuditParams.Type

export const AuditList = Schema.Struct({
  entries: Schema.Array(AuditEntry),
  total: Schema.Number,
  page: Schema.Number,
  limit: Schema.Number
})
