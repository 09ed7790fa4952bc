/** Who is online per team, across every server process (see migration 0003). */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { ChangeFeed } from "./ChangeFeed.js"
import { now } from "./rows.js"

export interface OnlineEntry {
  readonly user_id: string
  readonly name: string
  readonly device_id: string | null
  readonly since: string
}

/** A row not refreshed for this long is a connection of a process that died. */
const STALE_MS = 60_000

export class Presence extends Effect.Service<Presence>()("@mur/core/Presence", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const feed = yield* ChangeFeed

    const join = (row: {
      conn_id: string
      team_id: string
      user_id: string
      name: string
      device_id: string | null
      process_id: string
    }) =>
      Effect.gen(function* () {
        const at = now()
        yield* sql`INSERT INTO presence ${sql.insert({ ...row, since: at, seen_at: at })}`
        yield* feed.publish({ kind: "presence", teamId: row.team_id })
      })

    const leave = (connId: string, teamId: string) =>
      Effect.gen(function* () {
        yield* sql`DELETE FROM presence WHERE conn_id = ${connId}`
        yield* feed.publish({ kind: "presence", teamId })
      })

    /** Refreshes every row of a process, and forgets rows of processes that stopped. */
    const heartbeat = (processId: string) =>
      Effect.gen(function* () {
        const at = now()
        yield* sql`UPDATE presence SET seen_at = ${at} WHERE process_id = ${processId}`
        const stale = new Date(Date.now() - 2 * STALE_MS).toISOString()
        yield* sql`DELETE FROM presence WHERE seen_at < ${stale}`
      })

    const online = (teamId: string) =>
      sql<OnlineEntry>`
        SELECT user_id, name, device_id, since FROM presence
        WHERE team_id = ${teamId} AND seen_at > ${new Date(Date.now() - STALE_MS).toISOString()}
        ORDER BY since, conn_id`

    /** Drops the rows of one process (its clean shutdown). */
    const clear = (processId: string) => sql`DELETE FROM presence WHERE process_id = ${processId}`.pipe(Effect.asVoid)

    return { join, leave, heartbeat, online, clear } as const
  })
}) {}
