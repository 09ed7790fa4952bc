/**
 * Storage: the `SqlClient` layer for the configured database, SQLite (embedded default)
 * or PostgreSQL (hosted, several processes on one database), and its migrations.
 */

import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from "node:fs"
import { dirname, resolve } from "node:path"
import { Migrator, SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { PgClient } from "@effect/sql-pg"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Context, Data, Duration, Effect, Layer, Redacted } from "effect"
import pg from "pg"
import type { ChangeFeed } from "./ChangeFeed.js"
import * as ChangeFeedLayers from "./ChangeFeed.js"
import { latestMigrationId, loader, loaderUpTo, migrations } from "./migrations/index.js"

export type DatabaseConfig =
  | { readonly dialect: "sqlite"; readonly filename: string }
  | { readonly dialect: "pg"; readonly url: string; readonly maxConnections?: number }

export class StorageError extends Data.TaggedError("StorageError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * Reads `DATABASE_URL`: `file:<path>` (or `sqlite:<path>`) for SQLite,
 * `postgres://…` / `postgresql://…` for PostgreSQL.
 */
export const parseDatabaseUrl = (url: string): DatabaseConfig | { readonly error: string } => {
  const value = url.trim()
  const file = /^(?:file|sqlite):(?:\/\/)?(.+)$/.exec(value)
  if (file) {
    const path = (file[1] ?? "").split("?")[0] ?? ""
    if (path === "" || path === ":memory:") return { dialect: "sqlite", filename: path === "" ? "" : ":memory:" }
    return { dialect: "sqlite", filename: resolve(path) }
  }
  if (/^postgres(?:ql)?:\/\//.test(value)) {
    try {
      const parsed = new URL(value)
      if (!parsed.hostname && !parsed.searchParams.get("host")) return { error: "has no host" }
      return { dialect: "pg", url: value }
    } catch {
      return { error: "is not a valid postgres:// URL" }
    }
  }
  return { error: "must start with file: (SQLite) or postgres:// (PostgreSQL)" }
}

/** Which store is in use, for the few places that must know (docs, fan-out). */
export class Dialect extends Context.Tag("@mur/core/Dialect")<Dialect, DatabaseConfig["dialect"]>() {}

/** The database the `SqlClient` is open on (backups open their own connection to it). */
export class Database extends Context.Tag("@mur/core/Database")<Database, DatabaseConfig>() {}

/** Times come back as ISO strings and 64-bit integers as numbers, as they do from SQLite. */
export const pgTypes = {
  getTypeParser: (oid: number, format?: any) => {
    switch (oid) {
      case 1184: // timestamptz: "2026-11-22 10:00:00.123+00"
        return (v: string) => new Date(v.replace(" ", "T").replace(/([+-]\d\d)$/, "$1:00")).toISOString()
      case 1114: // timestamp (no zone): read as UTC
        return (v: string) => new Date(`${v.replace(" ", "T")}Z`).toISOString()
      case 1082: // date
        return (v: string) => v
      case 20: // int8
        return (v: string) => Number(v)
      default:
        return pg.types.getTypeParser(oid, format)
    }
  }
} as any

/**
 * The database file is readable by its owner only, like `jwt-secret`: created 0600 before
 * SQLite opens it (SQLite gives `-wal` and `-shm` the mode of the database file), or
 * narrowed to 0600 when it already exists.
 */
export const ownerOnly = (filename: string) => {
  mkdirSync(dirname(filename), { recursive: true })
  if (existsSync(filename)) chmodSync(filename, 0o600)
  else closeSync(openSync(filename, "a", 0o600))
  for (const suffix of ["-wal", "-shm"]) if (existsSync(filename + suffix)) chmodSync(filename + suffix, 0o600)
}

const sqliteLayer = (filename: string) => {
  if (filename !== ":memory:" && filename !== "") ownerOnly(filename)
  const pragmas = Layer.effectDiscard(
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* sql.unsafe("PRAGMA foreign_keys = ON")
      yield* sql.unsafe("PRAGMA busy_timeout = 5000")
    })
  )
  return pragmas.pipe(Layer.provideMerge(SqliteClient.layer({ filename })))
}

const pgLayer = (url: string, maxConnections: number) =>
  PgClient.layer({
    url: Redacted.make(url),
    maxConnections,
    connectTimeout: Duration.seconds(5),
    idleTimeout: Duration.seconds(30),
    applicationName: "mur-server",
    types: pgTypes
  })

/**
 * The `SqlClient` for a database (no migrations applied), and the `ChangeFeed` that fits
 * it: PostgreSQL `LISTEN/NOTIFY` across processes, or in-process for SQLite.
 */
export const layer = (
  config: DatabaseConfig,
  options: {
    /**
     * A command-line process beside a running server (`mur-server admin`): on SQLite its
     * notices are left in the database for the server to read.
     */
    readonly tool?: boolean
  } = {}
): Layer.Layer<SqlClient.SqlClient | Dialect | Database | ChangeFeed, StorageError> => {
  const client =
    config.dialect === "sqlite"
      ? (options.tool ? ChangeFeedLayers.layerSqliteTool : ChangeFeedLayers.layerLocal).pipe(
          Layer.provideMerge(sqliteLayer(config.filename))
        )
      : ChangeFeedLayers.layerPg.pipe(Layer.provideMerge(pgLayer(config.url, config.maxConnections ?? 10)))
  return (client as Layer.Layer<SqlClient.SqlClient | ChangeFeed, unknown>).pipe(
    Layer.orDie,
    Layer.catchAllCause((cause) => Layer.fail(new StorageError({ message: "cannot open the database", cause }))),
    Layer.merge(Layer.succeed(Dialect, config.dialect)),
    Layer.merge(Layer.succeed(Database, config))
  )
}

/** A round trip to the database (health checks). */
export const ping: Effect.Effect<void, SqlError, SqlClient.SqlClient> = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.asVoid(sql`SELECT 1`)
)

const migrator = Migrator.make({})

/** Applies every pending migration; returns those it applied. */
export const migrate = migrator({ loader }).pipe(
  Effect.mapError((e) => new StorageError({ message: `migration failed: ${e.message}`, cause: e }))
)

/** The id of the newest migration this build has. */
export const latestMigration = latestMigrationId

/** Applies the pending migrations up to `id` only (a restore rebuilds an archive's schema so). */
export const migrateTo = (id: number) =>
  migrator({ loader: loaderUpTo(id) }).pipe(
    Effect.mapError((e) => new StorageError({ message: `migration failed: ${e.message}`, cause: e }))
  )

export interface MigrationStatus {
  readonly id: number
  readonly name: string
  readonly applied_at: string | null
}

/** Every known migration and when it was applied (null: pending). */
export const migrationStatus: Effect.Effect<ReadonlyArray<MigrationStatus>, SqlError, SqlClient.SqlClient> = Effect.gen(
  function* () {
    const sql = yield* SqlClient.SqlClient
    const exists = yield* sql.onDialectOrElse({
      pg: () =>
        sql<{
          n: number
        }>`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'effect_sql_migrations'`,
      orElse: () =>
        sql<{
          n: number
        }>`SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'effect_sql_migrations'`
    })
    const applied =
      exists[0]!.n > 0
        ? yield* sql<{
            migration_id: number
            created_at: unknown
          }>`SELECT migration_id, created_at FROM effect_sql_migrations`
        : []
    const byId = new Map(applied.map((r) => [Number(r.migration_id), r.created_at]))
    return Object.keys(migrations)
      .sort()
      .map((key) => {
        const [id, ...rest] = key.split("_")
        const at = byId.get(Number(id))
        return {
          id: Number(id),
          name: rest.join("_"),
          applied_at: at === undefined ? null : at instanceof Date ? at.toISOString() : String(at)
        }
      })
  }
)
