import { Migrator, SqlClient } from "@effect/sql"
import { Effect } from "effect"
import * as M0001 from "./0001_init.js"

type Script = { readonly sqlite: string; readonly pg: string }

/** Runs one migration script in the connected dialect. */
const script = (s: Script) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql.onDialectOrElse({
      // PostgreSQL takes the whole script in one simple-protocol round trip.
      pg: () => sql.unsafe(s.pg),
      // better-sqlite3 prepares one statement at a time.
      orElse: () =>
        Effect.forEach(
          s.sqlite
            .split(/;\s*\n/)
            .map((st) => st.trim())
            .filter((st) => st.length > 0),
          (st) => sql.unsafe(st),
          { discard: true }
        )
    })
  })

/** Every migration, by `<id>_<name>`, in order. */
export const migrations: Record<string, Effect.Effect<void, unknown, SqlClient.SqlClient>> = {
  "0001_init": script(M0001)
}

export const loader = Migrator.fromRecord(migrations)
