/**
 * Owns `jobs` (the record of each background job's last run) and the jobs' locks: on
 * PostgreSQL a transaction-scoped advisory lock per job, so that of several server processes
 * on one database only one runs a job; SQLite has one server process and needs none.
 */
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect } from "effect"

export interface JobRow {
  readonly name: string
  readonly last_started_at: string | null
  readonly last_finished_at: string | null
  readonly last_status: string | null
  readonly last_error: string | null
  /** JSON text. */
  readonly last_result: string | null
  readonly runs: number
}

export class JobRepo extends Effect.Service<JobRepo>()("@mur/core/JobRepo", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient

    /**
     * Runs one job's run in a transaction. On SQLite a job that reads through a connection of
     * its own (`ownConnection`) runs outside one: a transaction would hold the one connection,
     * and the write lock, for the whole job.
     */
    const transaction = <A, E, R>(
      effect: Effect.Effect<A, E, R>,
      ownConnection: boolean
    ): Effect.Effect<A, E | SqlError, R> =>
      sql.onDialectOrElse({
        pg: () => sql.withTransaction(effect),
        orElse: () => (ownConnection ? effect : sql.withTransaction(effect))
      })

    /**
     * Takes the job's lock for the rest of the transaction if no other process holds it
     * (`pg_try_advisory_xact_lock` of the key's `hashtext`); always true on SQLite.
     */
    const tryLock = (key: string) =>
      sql.onDialectOrElse({
        pg: () =>
          Effect.map(
            sql<{ ok: boolean }>`SELECT pg_try_advisory_xact_lock(hashtext(${key})) AS ok`,
            (rows) => rows[0]?.ok === true
          ),
        orElse: () => Effect.succeed(true)
      })

    /** Makes the job's row (never run) unless it exists. */
    const ensure = (name: string) =>
      sql`INSERT INTO jobs (name, runs) VALUES (${name}, 0) ON CONFLICT (name) DO NOTHING`.pipe(Effect.asVoid)

    /** When the job last started (null: never, or no row). */
    const lastStarted = (name: string) =>
      sql<{ last_started_at: string | null }>`
        SELECT last_started_at FROM jobs WHERE name = ${name}`.pipe(
        Effect.map((rows) => rows[0]?.last_started_at ?? null)
      )

    /** Records a run that did its work; the row must exist (`ensure`). */
    const recordOk = (name: string, startedAt: string, finishedAt: string, result: string) =>
      sql`
        UPDATE jobs SET last_started_at = ${startedAt}, last_finished_at = ${finishedAt}, last_status = 'ok',
          last_error = NULL, last_result = ${result}, runs = runs + 1
        WHERE name = ${name}`.pipe(Effect.asVoid)

    /** Records a failed run (its work rolled back), making the row if need be. */
    const recordFailure = (name: string, startedAt: string, finishedAt: string, error: string) =>
      sql`
        INSERT INTO jobs (name, last_started_at, last_finished_at, last_status, last_error, runs)
        VALUES (${name}, ${startedAt}, ${finishedAt}, 'failed', ${error}, 1)
        ON CONFLICT (name) DO UPDATE SET last_started_at = excluded.last_started_at,
          last_finished_at = excluded.last_finished_at, last_status = 'failed', last_error = excluded.last_error,
          last_result = NULL, runs = jobs.runs + 1`.pipe(Effect.asVoid)

    const list = Effect.suspend(
      () => sql<JobRow>`
        SELECT name, last_started_at, last_finished_at, last_status, last_error, last_result, runs FROM jobs`
    )

    return { transaction, tryLock, ensure, lastStarted, recordOk, recordFailure, list } as const
  })
}) {}
