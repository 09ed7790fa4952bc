/** Handlers of device login and API keys. */
import { HttpApiBuilder } from "@effect/platform"
import { ApiKeys, DeviceLogin, EngineConfig } from "@mur/core"
import { CurrentUser, MurApi } from "@mur/domain"
import { Effect } from "effect"
import { dieOnSql } from "./HandlerSupport.js"

export const DeviceLive = HttpApiBuilder.group(MurApi, "device", (handlers) =>
  Effect.gen(function* () {
    const device = yield* DeviceLogin
    const config = yield* EngineConfig
    return handlers
      .handle("code", ({ payload, request }) => {
        const host = request.headers["x-forwarded-host"] ?? request.headers.host ?? "localhost"
        const proto = request.headers["x-forwarded-proto"] ?? "http"
        return dieOnSql(device.start(payload.client_name, config.baseUrl ?? `${proto}://${host}`))
      })
      .handle("token", ({ payload }) => dieOnSql(device.poll(payload.device_code)))
  })
)

export const KeysLive = HttpApiBuilder.group(MurApi, "keys", (handlers) =>
  Effect.gen(function* () {
    const keys = yield* ApiKeys
    const device = yield* DeviceLogin
    return handlers
      .handle("approveDevice", ({ payload }) =>
        Effect.flatMap(CurrentUser, ({ user }) =>
          dieOnSql(device.decide(user, payload.user_code, payload.approve))
        ).pipe(Effect.as({ success: true as const }))
      )
      .handle("create", ({ payload }) =>
        Effect.flatMap(CurrentUser, ({ user }) => dieOnSql(keys.create(user, payload.name, payload.expires_in_days)))
      )
      .handle("list", () =>
        Effect.flatMap(CurrentUser, ({ user }) => dieOnSql(keys.list(user))).pipe(Effect.map((keys) => ({ keys })))
      )
      .handle("revoke", ({ path }) =>
        Effect.flatMap(CurrentUser, ({ user }) => dieOnSql(keys.revoke(user, path.id))).pipe(
          Effect.as({ success: true as const })
        )
      )
  })
)
