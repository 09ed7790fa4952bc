/**
 * The one rate limiter every entry point passes: REST (the edge and the authentication
 * middleware), each `/ws/sync` write and stat message, and whatever entry point comes next.
 * A call is counted under the same keys whichever way it arrives, so a member who sends
 * pattern updates over a socket is limited exactly like one who sends them over REST:
 *
 * - `ip:<address>`: `/auth/*` calls of one client address (`auth` per minute);
 * - `user:<id>`: every authenticated call of one user (`user` per minute);
 * - `team:<id>`: every team-scoped call in one team (`team` per minute).
 *
 * Where the counts live is the storage layer's business (RateLimitRepo): in PostgreSQL for
 * a PostgreSQL deployment, so N processes together allow the limit and not N times it; in
 * process memory on SQLite. A refusal is `RateLimited` with the seconds until the window
 * that refused ends.
 */
import { RateLimited } from "@mur/domain"
import { Effect } from "effect"
import { DEFAULT_RATE_LIMITS, EngineConfig } from "./Config.js"
import { type RateKey, RateLimitRepo } from "./RateLimitRepo.js"

const SLOW_DOWN = "Too many requests; slow down"

/** The refusal's message: by the kind of the key that refused (`team:…` or any other). */
const messageOf = (key: string | null) => (key?.startsWith("team:") ? "Too many requests for this team" : SLOW_DOWN)

export class Limiter extends Effect.Service<Limiter>()("@mur/core/Limiter", {
  effect: Effect.gen(function* () {
    const repo = yield* RateLimitRepo
    const config = yield* EngineConfig
    const limits = { ...DEFAULT_RATE_LIMITS, ...config.rateLimits }

    const check = (keys: ReadonlyArray<RateKey>): Effect.Effect<void, RateLimited> =>
      Effect.flatMap(repo.hit(keys), (d) =>
        d.allowed
          ? Effect.void
          : Effect.fail(
              new RateLimited({
                code: "rate_limited",
                message: messageOf(d.refusedBy),
                retry_after: d.retryAfter
              })
            )
      )

    return {
      limits,
      /** An unauthenticated `/auth/*` call from `ip`. */
      anonymous: (ip: string) => check([{ key: `ip:${ip}`, limit: limits.auth }]),
      /** An authenticated call by `userId` that is not about one team (`/api/me`, keys…). */
      user: (userId: string) => check([{ key: `user:${userId}`, limit: limits.user }]),
      /** The team part of a team-scoped call whose user was already counted (REST). */
      team: (teamId: string) => check([{ key: `team:${teamId}`, limit: limits.team }]),
      /**
       * A whole team-scoped call by `userId` in `teamId`, counted in one go (one statement on
       * PostgreSQL): what a socket message or another entry point that is not REST passes.
       */
      call: (userId: string, teamId: string) =>
        check([
          { key: `user:${userId}`, limit: limits.user },
          { key: `team:${teamId}`, limit: limits.team }
        ])
    } as const
  }),
  dependencies: [RateLimitRepo.Default]
}) {}
