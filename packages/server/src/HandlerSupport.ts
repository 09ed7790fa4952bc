/** What the team-scoped handlers share: the active team, and SQL errors as defects. */
import type { HttpServerRequest } from "@effect/platform"
import { type ActiveTeam, Limiter, Teams } from "@mur/core"
import { CurrentUser, type User } from "@mur/domain"
import { Effect } from "effect"

/**
 * An `SqlError` is a defect at the handler: the edge maps it to 503 when the database is
 * unreachable and 500 otherwise.
 */
export const dieOnSql = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.catchIf(effect, (e: any) => e?._tag === "SqlError", Effect.die) as Effect.Effect<
    A,
    Exclude<E, { readonly _tag: "SqlError" }>,
    R
  >

/** The active team of a request (`X-Team` or the only team), with the per-team rate limit. */
export const makeActiveTeam = Effect.gen(function* () {
  const teams = yield* Teams
  const limiter = yield* Limiter
  return (request: HttpServerRequest.HttpServerRequest) =>
    Effect.flatMap(CurrentUser, ({ user }) => teams.resolveActive(user, request.headers["x-team"])).pipe(
      // The user was counted by the authentication middleware; a refusal is answered by the edge.
      Effect.tap((active) => Effect.orDie(limiter.team(active.team.id))),
      Effect.catchTag("SqlError", Effect.die)
    )
})

/** The caller as the actor of a change made over REST (no device). */
export const actorOf = Effect.map(CurrentUser, ({ user }) => ({ user, deviceId: null }))

/** Runs `f` with the request's active team and the caller. */
export const makeWithTeam = Effect.map(
  makeActiveTeam,
  (activeTeam) =>
    <A, E, R>(
      request: HttpServerRequest.HttpServerRequest,
      f: (active: ActiveTeam, user: User) => Effect.Effect<A, E, R>
    ) =>
      Effect.flatMap(activeTeam(request), (active) =>
        Effect.flatMap(CurrentUser, ({ user }) => dieOnSql(f(active, user)))
      )
)
