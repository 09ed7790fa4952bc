/** Row helpers shared by the repositories: the few value shapes that differ by store. */
import { createHash, randomUUID } from "node:crypto"

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
