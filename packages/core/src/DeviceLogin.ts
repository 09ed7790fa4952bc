/**
 * Device login for command-line tools (RFC 8628 shape): the tool gets a device code and a
 * short user code; a logged-in person approves the user code; the tool's polling then
 * yields tokens, once. Both codes are stored as SHA-256 hashes.
 */

import { randomBytes, randomInt } from "node:crypto"
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { InvalidRequest, type LoginResponse, NotFound, type User } from "@mur/domain"
import { Effect, Option } from "effect"
import { AuditLog } from "./AuditLog.js"
import { Auth } from "./Auth.js"
import { DeviceCodeRepo } from "./DeviceCodeRepo.js"
import { addSeconds, newId, now, sha256 } from "./rows.js"
import { toUser, UserRepo } from "./UserRepo.js"

/** No 0, 1, I, L, O: nothing a person could misread. */
const USER_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
export const DEVICE_CODE_TTL_SECONDS = 900
export const DEVICE_POLL_INTERVAL_SECONDS = 5

const newUserCode = () => {
  let code = ""
  for (let i = 0; i < 8; i++) code += USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)]
  return `${code.slice(0, 4)}-${code.slice(4)}`
}

/** What a person may type: any case, with or without the dash or spaces. */
export const normalizeUserCode = (input: string) => input.toUpperCase().replace(/[^A-Z0-9]/g, "")

const flowError = (code: "authorization_pending" | "slow_down" | "expired_token" | "access_denied", message: string) =>
  new InvalidRequest({ code, message })

export class DeviceLogin extends Effect.Service<DeviceLogin>()("@mur/core/DeviceLogin", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const codes = yield* DeviceCodeRepo
    const auth = yield* Auth
    const users = yield* UserRepo
    const audit = yield* AuditLog

    const start = (clientName: string | undefined, baseUrl: string) =>
      Effect.gen(function* () {
        const deviceCode = randomBytes(32).toString("base64url")
        const userCode = newUserCode()
        const at = now()
        yield* codes.insert({
          id: newId(),
          device_code_hash: sha256(deviceCode),
          user_code: sha256(normalizeUserCode(userCode)),
          client_name: clientName ?? null,
          status: "pending",
          created_at: at,
          expires_at: addSeconds(at, DEVICE_CODE_TTL_SECONDS)
        })
        const uri = `${baseUrl.replace(/\/$/, "")}/device`
        return {
          device_code: deviceCode,
          user_code: userCode,
          verification_uri: uri,
          verification_uri_complete: `${uri}?user_code=${userCode}`,
          expires_in: DEVICE_CODE_TTL_SECONDS,
          interval: DEVICE_POLL_INTERVAL_SECONDS
        }
      })

    /** One poll of the tool; tokens when approved, once. */
    const poll = (deviceCode: string): Effect.Effect<LoginResponse, InvalidRequest | SqlError> =>
      Effect.gen(function* () {
        const outcome = yield* Effect.gen(function* () {
          const found = yield* codes.findByDeviceCode(sha256(deviceCode))
          if (Option.isNone(found))
            return { _tag: "expired_token", message: "Unknown device code; start again" } as const
          const d = found.value
          const at = Date.now()
          if (d.consumed_at !== null)
            return { _tag: "expired_token", message: "This device code was already used" } as const
          if (Date.parse(d.expires_at) <= at) {
            return { _tag: "expired_token", message: "The device code has expired; start again" } as const
          }
          if (d.status === "denied") return { _tag: "access_denied", message: "The login was denied" } as const
          const tooSoon =
            d.last_polled_at !== null && at - Date.parse(d.last_polled_at) < DEVICE_POLL_INTERVAL_SECONDS * 1000 - 250
          yield* codes.markPolled(d.id, new Date(at).toISOString())
          if (d.status === "pending") {
            return tooSoon
              ? ({ _tag: "slow_down", message: `Poll at most every ${DEVICE_POLL_INTERVAL_SECONDS} seconds` } as const)
              : ({ _tag: "authorization_pending", message: "Waiting for the code to be approved" } as const)
          }
          const claimed = yield* codes.consume(d.id, new Date(at).toISOString())
          if (!claimed) return { _tag: "expired_token", message: "This device code was already used" } as const
          return { _tag: "approved", userId: d.user_id! } as const
        }).pipe(sql.withTransaction)
        if (outcome._tag !== "approved") return yield* flowError(outcome._tag, outcome.message)
        const user = yield* users.findById(outcome.userId)
        if (Option.isNone(user)) return yield* flowError("access_denied", "This account no longer exists")
        return yield* auth
          .issueLogin(toUser(user.value), "device")
          .pipe(Effect.catchTag("Forbidden", (e) => Effect.fail(flowError("access_denied", e.message))))
      })

    /** A logged-in person approves (or denies) the code shown by the tool. */
    const decide = (user: User, userCode: string, approve: boolean): Effect.Effect<void, NotFound | SqlError> =>
      Effect.gen(function* () {
        const at = now()
        const decided = yield* codes.decide(
          sha256(normalizeUserCode(userCode)),
          approve ? "approved" : "denied",
          user.id,
          at
        )
        if (Option.isNone(decided)) {
          return yield* new NotFound({ code: "not_found", message: "Unknown, used or expired code" })
        }
        yield* audit.record({
          action: "device.approve",
          actorId: user.id,
          targetType: "device_code",
          targetId: decided.value.id,
          metadata: { approved: approve, client_name: decided.value.client_name }
        })
      }).pipe(sql.withTransaction)

    return { start, poll, decide } as const
  }),
  dependencies: [Auth.Default, AuditLog.Default, UserRepo.Default, DeviceCodeRepo.Default]
}) {}
