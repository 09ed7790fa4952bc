/**
 * The server administration routes (`/admin/*`): authenticated like `/api/*`, but anyone
 * without the server-admin role (anonymous, a bad token, a plain user) gets 404, so the
 * section does not show it exists. Each handler calls one `Admin` function.
 */
import { HttpApiBuilder, type HttpServerRequest } from "@effect/platform"
import { Admin, type AdminActor, Auth, EngineConfig, Policy } from "@mur/core"
import { AdminAuthentication, CurrentUser, MurApi } from "@mur/domain"
import { Effect, Layer, Redacted } from "effect"
import { dieOnSql } from "./HandlerSupport.js"
import { toCurrentUser } from "./Http.js"

export const AdminAuthenticationLive = Layer.effect(
  AdminAuthentication,
  Effect.gen(function* () {
    const auth = yield* Auth
    return {
      bearer: (token) =>
        auth.authenticate(Redacted.value(token)).pipe(
          Effect.catchTag("SqlError", Effect.die),
          Effect.catchTag("Unauthorized", () => Effect.fail(Policy.hiddenAdmin())),
          Effect.tap(Policy.requireServerAdmin),
          Effect.map(toCurrentUser)
        )
    }
  })
)

const actor = Effect.map(CurrentUser, ({ user }): AdminActor => ({ userId: user.id, via: "http" }))

export const AdminLive = HttpApiBuilder.group(MurApi, "admin", (handlers) =>
  Effect.gen(function* () {
    const admin = yield* Admin
    const config = yield* EngineConfig
    /** Where set-password links point: BASE_URL, else the request's own origin. */
    const linkBase = (request: HttpServerRequest.HttpServerRequest) => {
      if (config.baseUrl !== undefined) return config.baseUrl
      const host = request.headers["x-forwarded-host"] ?? request.headers.host ?? "localhost"
      return `${request.headers["x-forwarded-proto"] ?? "http"}://${host}`
    }
    return handlers
      .handle("listUsers", ({ urlParams }) => dieOnSql(admin.listUsers(urlParams)))
      .handle("createUser", ({ payload, request }) =>
        Effect.flatMap(actor, (a) => dieOnSql(admin.createUser(a, payload, linkBase(request))))
      )
      .handle("updateUser", ({ path, payload }) =>
        Effect.flatMap(actor, (a) => dieOnSql(admin.updateUser(a, path.id, payload))).pipe(
          Effect.map((user) => ({ user }))
        )
      )
      .handle("resetPassword", ({ path, payload, request }) =>
        Effect.flatMap(actor, (a) => dieOnSql(admin.resetPassword(a, path.id, payload.password, linkBase(request))))
      )
      .handle("deleteUser", ({ path }) =>
        Effect.flatMap(actor, (a) => dieOnSql(admin.deleteUser(a, path.id))).pipe(Effect.as({ success: true as const }))
      )
      .handle("listTeams", ({ urlParams }) => dieOnSql(admin.listTeams(urlParams)))
      .handle("getTeam", ({ path }) => dieOnSql(admin.getTeam(path.id)))
      .handle("updateTeam", ({ path, payload }) =>
        Effect.flatMap(actor, (a) => dieOnSql(admin.updateTeam(a, path.id, payload))).pipe(
          Effect.map((team) => ({ team }))
        )
      )
  })
)
