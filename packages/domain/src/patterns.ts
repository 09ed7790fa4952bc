/** Patterns: the shared unit of the product (Patterns section of the contract). */
import { Schema } from "effect"
import { PatternId, TeamId, UserId } from "./ids.js"
import { Timestamp } from "./models.js"
import { Text } from "./text.js"

export const MAX_CONTENT_BYTES = 256 * 1024

export const PatternName = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9_-]{1,64}$/, {
    message: () => "name must be 1 to 64 characters of letters, digits, '_' and '-'"
  })
).annotations({ description: "1–64 characters of [A-Za-z0-9_-], unique within a team (case-insensitive)" })

const encoder = new TextEncoder()

/** Any JSON object up to 256 KB serialized. */
export const PatternContent = Schema.Record({ key: Schema.String, value: Schema.Unknown })
  .pipe(
    Schema.filter(
      (o) =>
        encoder.encode(JSON.stringify(o)).length <= MAX_CONTENT_BYTES ||
        `content must be at most ${MAX_CONTENT_BYTES} bytes as JSON`
    )
  )
  .annotations({ description: "A JSON object of at most 256 KB serialized" })

export const Tag = Text.pipe(
  Schema.minLength(1, { message: () => "a tag must not be empty" }),
  Schema.maxLength(64, { message: () => "a tag must be at most 64 characters" })
)
export const Tags = Schema.Array(Tag).pipe(Schema.maxItems(32, { message: () => "at most 32 tags" }))

export const Category = Schema.NullOr(
  Text.pipe(Schema.maxLength(100, { message: () => "category must be at most 100 characters" }))
)

export const Description = Text.pipe(
  Schema.maxLength(10_000, { message: () => "description must be at most 10000 characters" })
)

export const Pattern = Schema.Struct({
  id: PatternId,
  team_id: TeamId,
  name: Schema.String,
  description: Schema.String,
  content: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  category: Schema.NullOr(Schema.String),
  tags: Schema.Array(Schema.String),
  author_id: Schema.NullOr(UserId),
  is_public: Schema.Boolean,
  usage_count: Schema.Number,
  version: Schema.Number,
  created_at: Timestamp,
  updated_at: Timestamp
}).annotations({ identifier: "Pattern" })
export type Pattern = typeof Pattern.Type

export const CreatePatternRequest = Schema.Struct({
  name: PatternName,
  description: Schema.optional(Description),
  content: PatternContent,
  category: Schema.optional(Category),
  tags: Schema.optional(Tags),
  is_public: Schema.optional(Schema.Boolean)
})
export type CreatePatternRequest = typeof CreatePatternRequest.Type

export const UpdatePatternRequest = Schema.Struct({
  name: Schema.optional(PatternName),
  description: Schema.optional(Description),
  content: Schema.optional(PatternContent),
  category: Schema.optional(Category),
  tags: Schema.optional(Tags),
  is_public: Schema.optional(Schema.Boolean),
  base_version: Schema.optional(Schema.Int.pipe(Schema.positive()))
})
export type UpdatePatternRequest = typeof UpdatePatternRequest.Type

export const PatternResponse = Schema.Struct({ pattern: Pattern })

export const PageParam = Schema.NumberFromString.pipe(Schema.int(), Schema.greaterThanOrEqualTo(1))
export const LimitParam = Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 100))

export const PatternSort = Schema.Literal("updated", "name", "usage")

export const ListPatternsParams = Schema.Struct({
  page: Schema.optional(PageParam),
  limit: Schema.optional(LimitParam),
  category: Schema.optional(Text),
  tag: Schema.optional(Text),
  search: Schema.optional(Text.pipe(Schema.maxLength(500))),
  sort: Schema.optional(PatternSort),
  scope: Schema.optional(Schema.Literal("team", "public"))
})
export type ListPatternsParams = typeof ListPatternsParams.Type

export const PatternList = Schema.Struct({
  patterns: Schema.Array(Pattern),
  total: Schema.Number,
  page: Schema.Number,
  limit: Schema.Number
})

export const PatternIdParam = Schema.Struct({ id: PatternId })

export const UseResponse = Schema.Struct({ success: Schema.Literal(true), usage_count: Schema.Number })

export const PatternVersion = Schema.Struct({
  version: Schema.Number,
  name: Schema.String,
  description: Schema.String,
  content: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  category: Schema.NullOr(Schema.String),
  tags: Schema.Array(Schema.String),
  author_id: Schema.NullOr(UserId),
  created_at: Timestamp
}).annotations({ identifier: "PatternVersion" })
export type PatternVersion = typeof PatternVersion.Type

export const PatternVersions = Schema.Struct({ versions: Schema.Array(PatternVersion) })
export const RestoreRequest = Schema.Struct({ version: Schema.Int.pipe(Schema.positive()) })

/** An entry of a team's event log (Sync section). */
export const SyncEvent = Schema.Struct({
  seq: Schema.Number,
  type: Schema.Literal("pattern_created", "pattern_updated", "pattern_deleted"),
  pattern_id: PatternId,
  version: Schema.Number,
  pattern: Schema.NullOr(Pattern),
  actor_id: Schema.NullOr(UserId),
  device_id: Schema.NullOr(Schema.String),
  created_at: Timestamp
}).annotations({ identifier: "SyncEvent" })
export type SyncEvent = typeof SyncEvent.Type
