/** The Stats section of the contract: usage records in, totals and rankings out. */
import { Schema } from "effect"
import { DateParam } from "./audit.js"
import { UserId } from "./ids.js"
import { Text } from "./text.js"

const encoder = new TextEncoder()

/** Largest `duration_ms` / `tokens_used` of one record: sums of many stay exact in a double. */
export const MAX_STAT_INTEGER = 2_147_483_647
/** Largest `cost_usd` of one record (dollars). */
export const MAX_STAT_COST_USD = 1_000_000
export const MAX_STAT_METADATA_BYTES = 16 * 1024
/** How far ahead of the server's clock a record's `created_at` may be (clock skew). */
export const STAT_FUTURE_SKEW_MS = 24 * 3600 * 1000
/** Earliest day a record or a range may name. */
export const STATS_EPOCH = "2000-01-01"

const name = (field: string) =>
  Text.pipe(
    Schema.minLength(1, { message: () => `${field} must not be empty` }),
    Schema.maxLength(100, { message: () => `${field} must be at most 100 characters` })
  )

const count = (field: string) =>
  Schema.Number.annotations({ message: () => `${field} must be a whole number` }).pipe(
    Schema.int({ message: () => `${field} must be a whole number` }),
    Schema.between(0, MAX_STAT_INTEGER, { message: () => `${field} must be between 0 and ${MAX_STAT_INTEGER}` })
  )

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i

/** An RFC 3339 time from 2000 on, at most a day ahead of the server's clock. */
export const StatTime = Schema.String.pipe(
  Schema.filter((s) => {
    const t = Date.parse(s)
    if (!RFC3339.test(s) || Number.isNaN(t)) return "created_at must be an RFC 3339 time like 2026-11-22T10:00:00Z"
    if (t < Date.parse(`${STATS_EPOCH}T00:00:00Z`)) return `created_at must not be before ${STATS_EPOCH}`
    if (t > Date.now() + STAT_FUTURE_SKEW_MS) return "created_at must not be in the future"
    return true
  })
).annotations({ description: "RFC 3339 time; defaults to the time the server receives the record" })

/** One usage record as a client sends it. */
export const StatRecord = Schema.Struct({
  id: Schema.optional(
    Schema.UUID.annotations({
      message: () => "id must be a UUID",
      description: "Client-made UUID: a record sent again with the same id counts once"
    })
  ),
  tool: name("tool"),
  action: name("action"),
  model: Schema.optional(
    name("model").annotations({ description: "The model the usage was made with, e.g. claude-sonnet-4-5" })
  ),
  duration_ms: Schema.optional(count("duration_ms")),
  tokens_used: Schema.optional(
    count("tokens_used").annotations({
      description: "All tokens of the record; defaults to the sum of the four kinds below"
    })
  ),
  input_tokens: Schema.optional(count("input_tokens")),
  output_tokens: Schema.optional(count("output_tokens")),
  cache_read_tokens: Schema.optional(count("cache_read_tokens")),
  cache_write_tokens: Schema.optional(count("cache_write_tokens")),
  session_id: Schema.optional(
    Schema.NullOr(
      Text.pipe(
        Schema.minLength(1, { message: () => "session_id must not be empty" }),
        Schema.maxLength(256, { message: () => "session_id must be at most 256 characters" })
      )
    )
  ),
  cost_usd: Schema.optional(
    Schema.Number.annotations({ message: () => "cost_usd must be a number" }).pipe(
      Schema.between(0, MAX_STAT_COST_USD, {
        message: () => `cost_usd must be between 0 and ${MAX_STAT_COST_USD}`
      })
    )
  ).annotations({
    description:
      "Dollars; kept as whole micro-dollars (rounded to the nearest). Without it, the cost is computed from the price table when the model and the token kinds are known"
  }),
  prompt_hash: Schema.optional(
    Schema.NullOr(
      Text.pipe(
        Schema.minLength(1, { message: () => "prompt_hash must not be empty" }),
        Schema.maxLength(256, { message: () => "prompt_hash must be at most 256 characters" })
      )
    )
  ),
  pattern_id: Schema.optional(Schema.NullOr(Schema.UUID.annotations({ message: () => "pattern_id must be a UUID" }))),
  metadata: Schema.optional(
    Schema.NullOr(
      Schema.Record({ key: Schema.String, value: Schema.Unknown })
        .annotations({ message: () => "metadata must be a JSON object" })
        .pipe(
          Schema.filter(
            (o) =>
              encoder.encode(JSON.stringify(o)).length <= MAX_STAT_METADATA_BYTES ||
              `metadata must be at most ${MAX_STAT_METADATA_BYTES} bytes as JSON`
          )
        )
    )
  ),
  created_at: Schema.optional(StatTime)
}).annotations({ identifier: "StatRecord" })
export type StatRecord = typeof StatRecord.Type

export const RecordStatsRequest = Schema.Struct({
  stats: Schema.Array(StatRecord).pipe(
    Schema.minItems(1, { message: () => "a batch carries at least 1 record" }),
    Schema.maxItems(1000, { message: () => "a batch carries at most 1000 records" })
  )
})

export const RecordStatsResponse = Schema.Struct({ accepted: Schema.Number, duplicates: Schema.Number })
export type RecordStatsResponse = typeof RecordStatsResponse.Type

/** A UTC day `YYYY-MM-DD` from 2000-01-01 to 2999-12-31. */
export const StatsDate = DateParam.pipe(
  Schema.filter((s) => (s >= STATS_EPOCH && s <= "2999-12-31") || `must be between ${STATS_EPOCH} and 2999-12-31`)
)

/** `from`/`to`: UTC days, both included; without them, the last 30 days. */
export const StatsRangeParams = Schema.Struct({
  from: Schema.optional(StatsDate),
  to: Schema.optional(StatsDate)
})
export type StatsRangeParams = typeof StatsRangeParams.Type

export const LeaderboardMetric = Schema.Literal("runs", "tokens", "cost_usd", "patterns").annotations({
  message: () => "metric must be one of runs, tokens, cost_usd, patterns"
})
export type LeaderboardMetric = typeof LeaderboardMetric.Type

export const LeaderboardParams = Schema.Struct({
  ...StatsRangeParams.fields,
  metric: Schema.optional(LeaderboardMetric)
})

export const ExportScope = Schema.Literal("me", "team").annotations({ message: () => "scope must be me or team" })
export type ExportScope = typeof ExportScope.Type

export const ExportParams = Schema.Struct({
  ...StatsRangeParams.fields,
  format: Schema.optional(Schema.Literal("csv").annotations({ message: () => "format must be csv" })),
  scope: Schema.optional(ExportScope)
})

const totals = {
  runs: Schema.Number,
  duration_ms: Schema.Number,
  tokens: Schema.Number,
  cost_usd: Schema.Number
}

export const ToolStats = Schema.Struct({ tool: Schema.String, ...totals }).annotations({ identifier: "ToolStats" })
export type ToolStats = typeof ToolStats.Type

/**
 * Where a cost figure comes from: `reported` by the assistant, `computed` from the price
 * table, `mixed` (some of each), `none` (no cost known: no reported cost and no price).
 */
export const CostSource = Schema.Literal("reported", "computed", "mixed", "none")
export type CostSource = typeof CostSource.Type

/** Totals of one model (`""`: records that named none), most tokens first. */
export const ModelStats = Schema.Struct({
  model: Schema.String,
  ...totals,
  input_tokens: Schema.Number,
  output_tokens: Schema.Number,
  cache_read_tokens: Schema.Number,
  cache_write_tokens: Schema.Number,
  cost_source: CostSource,
  /** Tokens of records with neither a reported cost nor a price: their cost is not in `cost_usd`. */
  unpriced_tokens: Schema.Number
}).annotations({ identifier: "ModelStats" })
export type ModelStats = typeof ModelStats.Type

export const DayStats = Schema.Struct({
  date: Schema.String,
  runs: Schema.Number,
  tokens: Schema.Number,
  cost_usd: Schema.Number
}).annotations({ identifier: "DayStats" })
export type DayStats = typeof DayStats.Type

/**
 * Totals over a range, by tool (most runs first), by model (most tokens first) and by day
 * (days with activity, oldest first).
 */
export const StatsSummary = Schema.Struct({
  ...totals,
  by_tool: Schema.Array(ToolStats),
  by_model: Schema.Array(ModelStats),
  by_day: Schema.Array(DayStats)
}).annotations({ identifier: "StatsSummary" })
export type StatsSummary = typeof StatsSummary.Type

export const MemberStats = Schema.Struct({
  user_id: UserId,
  name: Schema.String,
  email: Schema.String,
  ...totals
}).annotations({ identifier: "MemberStats" })
export type MemberStats = typeof MemberStats.Type

export const MyStatsResponse = Schema.Struct({ stats: StatsSummary })
export const TeamStatsResponse = Schema.Struct({ stats: StatsSummary, members: Schema.Array(MemberStats) })
export type TeamStatsResponse = typeof TeamStatsResponse.Type

export const LeaderboardEntry = Schema.Struct({
  rank: Schema.Number,
  user_id: UserId,
  name: Schema.String,
  value: Schema.Number
}).annotations({ identifier: "LeaderboardEntry" })
export type LeaderboardEntry = typeof LeaderboardEntry.Type

export const LeaderboardResponse = Schema.Struct({ leaderboard: Schema.Array(LeaderboardEntry) })

/** The body of `stats_updated` on `/ws/sync`: the team's totals for one UTC day (today). */
export const TodayStats = Schema.Struct({
  date: Schema.String,
  ...totals,
  by_tool: Schema.Array(ToolStats)
}).annotations({ identifier: "TodayStats" })
export type TodayStats = typeof TodayStats.Type

/** The columns of `GET /api/stats/export?format=csv`, in order. */
export const EXPORT_COLUMNS = [
  "created_at",
  "user_id",
  "user_email",
  "tool",
  "action",
  "duration_ms",
  "tokens_used",
  "cost_usd",
  "pattern_id",
  "prompt_hash",
  "metadata",
  "model",
  "input_tokens",
  "output_tokens",
  "cache_read_tokens",
  "cache_write_tokens",
  "cost_source",
  "session_id"
] as const
