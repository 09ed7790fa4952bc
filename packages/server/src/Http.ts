/** The HTTP handlers: each one decodes nothing itself and calls one service function. */
import { HttpApiBuilder } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { Auth, Limiter, type Principal, Storage } from "@mur/core"
import { Authentication, CurrentUser, MurApi, Unavailable } from "@mur/domain"
import { Effect, Layer, Redacted } from "effect"

const unavailable = () => new Unavailable({ code: "unavailable", message: "The database does not answer" })

/** Readiness: flipped by the server once it takes traffic, and back while draining. */
export class Readiness extends Effect.Service<Readiness>()("@mur/server/Readiness", {
  sync: () => ({ ready: { current: false } as { current: boolean } })
}) {}

export const HealthLive = HttpApiBuilder.group(MurApi, "health", (handlers) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const readiness = yield* Readiness
    const ping = Storage.ping.pipe(
      Effect.provideService(SqlClient.SqlClient, sql),
      Effect.timeoutFail({ duration: "3 seconds", onTimeout: unavailable }),
      Effect.mapError(unavailable)
    )
    return handlers
      .handle("healthz", () => Effect.as(ping, { status: "ok" }))
      .handle("readyz", () =>
        readiness.ready.current
          ? Effect.as(ping, { status: "ready" })
          : Effect.fail(new Unavailable({ code: "unavailable", message: "Not ready" }))
      )
  })
)

export const AuthLive = HttpApiBuilder.group(MurApi, "auth", (handlers) =>
  Effect.gen(function* () {
    const auth = yield* Auth
    return handlers
      .handle("register", ({ payload }) => auth.register(payload).pipe(Effect.catchTag("SqlError", Effect.die)))
      .handle("login", ({ payload }) => auth.login(payload).pipe(Effect.catchTag("SqlError", Effect.die)))
      .handle("refresh", ({ payload }) =>
        auth.refresh(payload.refresh_token).pipe(Effect.catchTag("SqlError", Effect.die))
      )
      .handle("logout", ({ payload }) =>
        auth
          .logout(payload.refresh_token)
          .pipe(Effect.as({ success: true as const }), Effect.catchTag("SqlError", Effect.die))
      )
      .handle("setPassword", ({ payload }) =>
        auth
          .setPassword(payload.token, payload.password)
          .pipe(Effect.as({ success: true as const }), Effect.catchTag("SqlError", Effect.die))
      )
  })
)

export const MeLive = HttpApiBuilder.group(MurApi, "me", (handlers) =>
  Effect.gen(function* () {
    const auth = yield* Auth
    return handlers.handle("me", () =>
      Effect.flatMap(CurrentUser, ({ user }) => auth.me(user)).pipe(Effect.catchTag("SqlError", Effect.die))
    )
  })
)

/** The `CurrentUser` of an authenticated caller. */
export const toCurrentUser = (p: Principal) => ({
  user: p.user,
  userId: p.user.id,
  sessionId: p.sessionId,
  apiKeyId: p.apiKeyId,
  serverAdmin: p.serverAdmin
})

/** Bearer authentication for every `/api/*` route, and the per-user rate limit. */
export const AuthenticationLive = Layer.effect(
  Authentication,
  Effect.gen(function* () {
    const auth = yield* Auth
    const limiter = yield* Limiter
    return {
      bearer: (token) =>
        auth.authenticate(Redacted.value(token)).pipe(
          Effect.catchTag("SqlError", Effect.die),
          // A refusal is a defect here: the edge answers it with 429 and `Retry-After`.
          Effect.tap((principal) => Effect.orDie(limiter.user(principal.user.id))),
          Effect.map(toCurrentUser)
        )
    }
  })
)
