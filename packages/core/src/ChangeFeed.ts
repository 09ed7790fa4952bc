/**
 * Tells every server process that a team changed, after the change committed.
 *
 * A writer calls `publish` inside its transaction; the notice is held until the outermost
 * transaction commits (and dropped if it rolls back), then sent: through PostgreSQL
 * `NOTIFY` so that every process on the database hears it, or through an in-process
 * PubSub on SQLite (one process). Listeners re-read the committed log from the database,
 * so a notice only says "look again", never carries the data. What it stores (SQLite's
 * `notices` table, PostgreSQL's channel) is `NoticeRepo`'s.
 */
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { PgClient } from "@effect/sql-pg"
import { Context, Duration, Effect, FiberRef, Layer, Option, PubSub, Stream } from "effect"
import { NoticeRepo } from "./NoticeRepo.js"

export type Notice =
  /** New events in a team's log, up to `seq`. */
  | { readonly kind: "events"; readonly teamId: string; readonly seq: number }
  /** A user joined or left (or was removed from) a team. */
  | { readonly kind: "member"; readonly teamId: string; readonly userId: string; readonly joined: boolean }
  /** Presence of a team changed somewhere. */
  | { readonly kind: "presence"; readonly teamId: string }
  /** Usage stats of a team changed. */
  | { readonly kind: "stats"; readonly teamId: string }
  /**
   * A login (all its tokens) or an API key was revoked, or a whole account disabled
   * (`user`): sockets opened with it must close.
   */
  | { readonly kind: "revoked"; readonly credential: "session" | "api_key" | "user"; readonly id: string }

const CHANNEL = "mur_changes"

/** Notices collected by the transaction that is running, sent after it commits. */
const pending = FiberRef.unsafeMake<Array<Notice> | null>(null)

export class ChangeFeed extends Context.Tag("@mur/core/ChangeFeed")<
  ChangeFeed,
  {
    /** Queues a notice; sent after the outermost transaction commits (at once outside one). */
    readonly publish: (notice: Notice) => Effect.Effect<void>
    /**
     * Runs `effect` in a transaction (or joins the one running) and sends its notices
     * once the outermost one has committed.
     */
    readonly transaction: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | SqlError, R>
    /** Every notice from every process, for as long as the stream is consumed. */
    readonly notices: Stream.Stream<Notice, SqlError>
  }
>() {}

const encode = (n: Notice): string => {
  switch (n.kind) {
    case "events":
      return `e|${n.teamId}|${n.seq}`
    case "member":
      return `m|${n.teamId}|${n.userId}|${n.joined ? 1 : 0}`
    case "presence":
      return `p|${n.teamId}`
    case "stats":
      return `s|${n.teamId}`
    case "revoked":
      return `r|${n.credential === "session" ? "s" : n.credential === "api_key" ? "k" : "u"}|${n.id}`
  }
}

const decode = (s: string): Notice | null => {
  const [k, first, a, b] = s.split("|")
  if (first === undefined) return null
  switch (k) {
    case "e":
      return { kind: "events", teamId: first, seq: Number(a) }
    case "m":
      return a === undefined ? null : { kind: "member", teamId: first, userId: a, joined: b === "1" }
    case "p":
      return { kind: "presence", teamId: first }
    case "s":
      return { kind: "stats", teamId: first }
    case "r":
      return a === undefined
        ? null
        : { kind: "revoked", credential: first === "s" ? "session" : first === "k" ? "api_key" : "user", id: a }
    default:
      return null
  }
}

const make = (
  send: (notices: ReadonlyArray<Notice>) => Effect.Effect<void>,
  notices: Stream.Stream<Notice, SqlError>
) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    return ChangeFeed.of({
      publish: (notice) =>
        Effect.flatMap(FiberRef.get(pending), (queue) => {
          if (queue !== null) {
            queue.push(notice)
            return Effect.void
          }
          return send([notice])
        }),
      transaction: (effect) =>
        Effect.flatMap(Effect.serviceOption(SqlClient.TransactionConnection), (outer) => {
          if (Option.isSome(outer)) return sql.withTransaction(effect)
          const queue: Array<Notice> = []
          return sql
            .withTransaction(Effect.locally(effect, pending, queue))
            .pipe(Effect.tap(() => (queue.length === 0 ? Effect.void : send(coalesce(queue)))))
        }),
      notices
    })
  })

/** One "events" notice per team (its highest seq) says all that several would. */
const coalesce = (notices: ReadonlyArray<Notice>): ReadonlyArray<Notice> => {
  const latest = new Map<string, Notice>()
  const others = new Map<string, Notice>()
  for (const n of notices) {
    if (n.kind !== "events") {
      others.set(encode(n), n)
      continue
    }
    const prev = latest.get(n.teamId)
    if (prev === undefined || (prev.kind === "events" && prev.seq < n.seq)) latest.set(n.teamId, n)
  }
  return [...latest.values(), ...others.values()]
}

/** How often a SQLite server looks for notices left by other processes (`mur-server admin`). */
const SHARED_POLL = Duration.seconds(1)
/** Notices older than this are swept from the `notices` table. */
const SHARED_KEEP_MS = 10 * 60 * 1000

/**
 * In-process feed: SQLite, or an embedded engine that runs alone. Its own notices never touch
 * the database; it also reads, once a second, those that a command-line process on the same
 * file left in the `notices` table (`layerSqliteTool`), so an admin act reaches its sockets.
 */
export const layerLocal: Layer.Layer<ChangeFeed, never, SqlClient.SqlClient> = Layer.scoped(
  ChangeFeed,
  Effect.gen(function* () {
    const repo = yield* NoticeRepo
    const hub = yield* PubSub.unbounded<Notice>()
    let cursor: number | null = null
    let polls = 0
    const poll = Effect.gen(function* () {
      if (cursor === null) {
        // Not before migrations made the table: the driver caches a statement that failed.
        if (!(yield* repo.tableExists)) return
        cursor = yield* repo.lastId
        return
      }
      const rows = yield* repo.after(cursor)
      for (const row of rows) {
        cursor = Number(row.id)
        const notice = decode(row.notice)
        if (notice !== null) yield* PubSub.publish(hub, notice)
      }
      if (++polls % 60 === 0) {
        yield* repo.deleteBefore(new Date(Date.now() - SHARED_KEEP_MS).toISOString())
      }
    })
    yield* poll.pipe(Effect.ignore, Effect.zipRight(Effect.sleep(SHARED_POLL)), Effect.forever, Effect.forkScoped)
    return yield* make((notices) => PubSub.publishAll(hub, notices).pipe(Effect.asVoid), Stream.fromPubSub(hub))
  })
).pipe(Layer.provide(NoticeRepo.Default))

/**
 * The feed of a command-line process on a SQLite file (`mur-server admin`): its notices go to
 * the `notices` table after commit, where the server process picks them up.
 */
export const layerSqliteTool: Layer.Layer<ChangeFeed, never, SqlClient.SqlClient> = Layer.effect(
  ChangeFeed,
  Effect.gen(function* () {
    const repo = yield* NoticeRepo
    return yield* make(
      (notices) =>
        Effect.forEach(notices, (n) => repo.insert(encode(n), new Date().toISOString()), { discard: true }).pipe(
          Effect.catchAll((e) => Effect.logWarning("cannot leave a notice for the server", e))
        ),
      Stream.empty
    )
  })
).pipe(Layer.provide(NoticeRepo.Default))

/** PostgreSQL feed: `NOTIFY` after commit, `LISTEN` in every process. */
export const layerPg: Layer.Layer<ChangeFeed, never, SqlClient.SqlClient | PgClient.PgClient> = Layer.scoped(
  ChangeFeed,
  Effect.gen(function* () {
    const pg = yield* PgClient.PgClient
    const repo = yield* NoticeRepo
    return yield* make(
      (notices) =>
        Effect.forEach(notices, (n) => repo.notify(CHANNEL, encode(n)), { discard: true }).pipe(
          // The change is committed: a lost notice delays delivery until the next one, and the
          // hub's periodic check catches up, so a failed NOTIFY is logged, not raised.
          Effect.catchAll((e) => Effect.logWarning("NOTIFY failed", e))
        ),
      pg.listen(CHANNEL).pipe(
        Stream.map(decode),
        Stream.filter((n): n is Notice => n !== null)
      )
    )
  })
).pipe(Layer.provide(NoticeRepo.Default))
