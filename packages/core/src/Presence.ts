/** Who is online per team, across every server process (see migration 0003). */
import type { SqlError } from "@effect/sql/SqlError"
import { Effect } from "effect"
import { ChangeFeed } from "./ChangeFeed.js"
import { PresenceRepo } from "./PresenceRepo.js"
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
    const repo = yield* PresenceRepo
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
        yield* repo.insert({ ...row, since: at, seen_at: at })
        yield* feed.publish({ kind: "presence", teamId: row.team_id })
      })

    const leave = (connId: string, teamId: string) =>
      Effect.gen(function* () {
        yield* repo.remove(connId)
        yield* feed.publish({ kind: "presence", teamId })
      })

    /** Refreshes every row of a process, and forgets rows of processes that stopped. */
    const heartbeat = (processId: string) =>
      Effect.gen(function* () {
        const at = now()
        yield* repo.touchProcess(processId, at)
        const stale = new Date(Date.now() - 2 * STALE_MS).toISOString()
        yield* repo.removeSeenBefore(stale)
      })

    const online = (teamId: string): Effect.Effect<ReadonlyArray<OnlineEntry>, SqlError> =>
      Effect.suspend(() => repo.ofTeam(teamId, new Date(Date.now() - STALE_MS).toISOString()))

    /** Drops the rows of one process (its clean shutdown). */
    const clear = (processId: string) => repo.removeProcess(processId)

    return { join, leave, heartbeat, online, clear } as const
  }),
  dependencies: [PresenceRepo.Default]
}) {}
