/** Row helpers shared by the repositories: the few value shapes that differ by store. */
import { createHash, randomUUID } from "node:crypto"
import { Effect } from "effect"

/** Now, as the RFC 3339 string the contract and both stores use. */
export const now = (): string => new Date().toISOString()

export const addSeconds = (iso: string, seconds: number): string =>
  new Date(Date.parse(iso) + seconds * 1000).toISOString()

export const newId = (): string => randomUUID()

/** SQLite answers 0/1, PostgreSQL true/false. */
export const bool = (v: unknown): boolean => v === true || v === 1 || v === "1" || v === "t"

/** A JSON text column. */
export const json = <A = unknown>(v: unknown): A => (typeof v === "string" ? JSON.parse(v) : (v as A))

/** Hex SHA-256: how secrets (refresh tokens, API keys, codes) are stored. */
export const sha256 = (value: string): string => createHash("sha256").update(value).digest("hex")

/** A unique or primary-key violation, in either store. */
export const isUniqueViolation = (e: unknown): boolean => {
  const cause = (e as { cause?: { code?: unknown } } | undefined)?.cause
  const code = cause?.code
  return code === "23505" || code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT_PRIMARYKEY"
}

/**
 * Splits rows for multi-row statements so that none binds more than 30,000 parameters
 * (SQLite allows 32,766, PostgreSQL 65,535). No rows, no batch (an empty INSERT is an error).
 */
export const batches = <A>(rows: ReadonlyArray<A>, columns: number): ReadonlyArray<ReadonlyArray<A>> => {
  const size = Math.max(1, Math.floor(30_000 / columns))
  if (rows.length === 0) return []
  if (rows.length <= size) return [rows]
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size))
  return out
}

/** Rows changed by a statement, in either store. */
export const affected = <E>(statement: { readonly raw: Effect.Effect<unknown, E> }): Effect.Effect<number, E> =>
  Effect.map(statement.raw, (r: any) => Number(r?.rowCount ?? r?.changes ?? 0))
