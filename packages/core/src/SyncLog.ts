/**
 * The team event log: one row per pattern change, appended in the change's own
 * transaction with the per-team `seq` it was given under the team's lock (see `Patterns`).
 */
import type { Pattern, SyncEvent } from "@mur/domain"
import { Effect } from "effect"
import { EventRepo, type EventRow as StoredEvent } from "./EventRepo.js"
import { json } from "./rows.js"
import { TeamRepo } from "./TeamRepo.js"

export type EventType = SyncEvent["type"]

type EventRow = Omit<StoredEvent, "team_id">

const toEvent = (r: EventRow): SyncEvent => ({
  seq: Number(r.seq),
  type: r.type,
  pattern_id: r.pattern_id as SyncEvent["pattern_id"],
  version: Number(r.version),
  pattern: r.pattern === null ? null : json<Pattern>(r.pattern),
  actor_id: r.actor_id as SyncEvent["actor_id"],
  device_id: r.device_id,
  created_at: r.created_at
})

export class SyncLog extends Effect.Service<SyncLog>()("@mur/core/SyncLog", {
  effect: Effect.gen(function* () {
    const events = yield* EventRepo
    const teams = yield* TeamRepo

    /** Appends events (already numbered, in order) in as few statements as possible. */
    const appendMany = (teamId: string, list: ReadonlyArray<SyncEvent>) =>
      events.insertMany(
        list.map((event) => ({
          team_id: teamId,
          seq: event.seq,
          type: event.type,
          pattern_id: event.pattern_id,
          version: event.version,
          pattern: event.pattern === null ? null : JSON.stringify(event.pattern),
          actor_id: event.actor_id,
          device_id: event.device_id,
          created_at: event.created_at
        }))
      )

    /** Events after `after`, in `seq` order, at most `limit`. */
    const after = (teamId: string, afterSeq: number, limit: number) =>
      events.after(teamId, afterSeq, limit).pipe(Effect.map((rows) => rows.map(toEvent)))

    /** Like `after`, with the name of each event's actor (for real-time messages). */
    const afterWithActors = (teamId: string, afterSeq: number, limit: number) =>
      events
        .afterWithActors(teamId, afterSeq, limit)
        .pipe(Effect.map((rows) => rows.map((r) => ({ event: toEvent(r), actorName: r.actor_name ?? "" }))))

    const lastSeq = (teamId: string) => teams.lastSeq(teamId)

    return { appendMany, after, afterWithActors, lastSeq } as const
  }),
  dependencies: [EventRepo.Default, TeamRepo.Default]
}) {}
