import { Migrator, SqlClient } from "@effect/sql"
import { Effect } from "effect"
import * as M0001 from "./0001_init.js"
import * as M0002 from "./0002_pattern_search.js"
import * as M0003 from "./0003_presence.js"
import * as M0004 from "./0004_stats_jobs.js"
import * as M0005 from "./0005_admin.js"
import * as M0006 from "./0006_rate_limits.js"
import * as M0007 from "./0007_telemetry.js"

type Script = { readonly sqlite: string; readonly pg: string }

/** Splits a script at `;` + newline, keeping a trigger's `BEGIN … END` body whole. */
export const sqliteStatements = (script: string): ReadonlyArray<string> => {
  const out: string[] = []
  let buffer = ""
  for (const part of script.split(/;\s*\n/)) {
    buffer = buffer === "" ? part : `${buffer};\n${part}`
    const inTrigger = /\bCREATE\s+TRIGGER\b/i.test(buffer) && !/\bEND\s*;?\s*$/i.test(buffer)
    if (!inTrigger) {
      if (buffer.trim() !== "") out.push(buffer.trim())
      buffer = ""
    }
  }
  if (buffer.trim() !== "") out.push(buffer.trim())
  return out
}

/** Runs one migration script in the connected dialect. */
const script = (s: Script) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql.onDialectOrElse({
      // PostgreSQL takes the whole script in one simple-protocol round trip.
      pg: () => sql.unsafe(s.pg),
      // better-sqlite3 prepares one statement at a time.
      orElse: () => Effect.forEach(sqliteStatements(s.sqlite), (st) => sql.unsafe(st), { discard: true })
    })
  })

/** Every migration, by `<id>_<name>`, in order. */
export const migrations: Record<string, Effect.Effect<void, unknown, SqlClient.SqlClient>> = {
  "0001_init": script(M0001),
  "0002_pattern_search": script(M0002),
  "0003_presence": script(M0003),
  "0004_stats_jobs": script(M0004),
  "0005_admin": script(M0005),
  "0006_rate_limits": script(M0006),
  "0007_telemetry": script(M0007)
}

export const loader = Migrator.fromRecord(migrations)

const idOf = (key: string) => Number(key.split("_")[0])

/** The id of the newest migration this build has. */
export const latestMigrationId = Math.max(...Object.keys(migrations).map(idOf))

/** The migrations up to `id` only: how a restore rebuilds the schema an archive was taken at. */
export const loaderUpTo = (id: number) =>
  Migrator.fromRecord(Object.fromEntries(Object.entries(migrations).filter(([key]) => idOf(key) <= id)))
