import { Schema } from "effect"

/**
 * A string without the NUL character: PostgreSQL cannot store U+0000 in text, so every
 * string a request may carry into the database is checked here, in both stores alike.
 */
export const Text = Schema.String.pipe(
  Schema.filter((s) => !s.includes("\u0000") || "must not contain the NUL character (U+0000)")
)

/** `Text`, trimmed. */
export const TrimmedText = Schema.Trim.pipe(
  Schema.filter((s) => !s.includes("\u0000") || "must not contain the NUL character (U+0000)")
)
