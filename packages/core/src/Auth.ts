/**
 * Accounts and tokens: register, login, refresh with rotation and reuse detection,
 * logout, and turning a bearer credential into the calling user.
 */

import { randomBytes } from "node:crypto"
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import {
  Conflict,
  Forbidden,
  InvalidRequest,
  type LoginRequest,
  type LoginResponse,
  type MeResponse,
  type RegisterRequest,
  type TokenPair,
  Unauthorized,
  type User
} from "@mur/domain"
import { Effect, Option } from "effect"
import { AccessTokens } from "./AccessTokens.js"
import { ApiKeys, isApiKey } from "./ApiKeys.js"
import { AuditLog } from "./AuditLog.js"
import { ChangeFeed } from "./ChangeFeed.js"
import { EngineConfig } from "./Config.js"
import { PasswordLinkRepo } from "./PasswordLinkRepo.js"
import { Passwords } from "./Passwords.js"
import { RequestInfo } from "./RequestInfo.js"
import { addSeconds, isUniqueViolation, newId, now, sha256 } from "./rows.js"
import { SessionRepo } from "./SessionRepo.js"
import { TeamRepo } from "./TeamRepo.js"
import { toUser, UserRepo } from "./UserRepo.js"

/** The caller behind a bearer credential. */
export interface Principal {
  readonly user: User
  readonly sessionId: string | null
  readonly apiKeyId: string | null
  /** Holds the server-admin role (`/admin/*`). */
  readonly serverAdmin: boolean
}

/** Said only to someone who proved the password (or holds a login): no account is revealed. */
const accountDisabled = () =>
  new Forbidden({ code: "forbidden", message: "This account is disabled; ask the server's administrator" })

const unauthorized = (message = "Missing or invalid credentials") => new Unauthorized({ code: "unauthorized", message })

export class Auth extends Effect.Service<Auth>()("@mur/core/Auth", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const config = yield* EngineConfig
    const users = yield* UserRepo
    const sessions = yield* SessionRepo
    const teams = yield* TeamRepo
    const passwords = yield* Passwords
    const tokens = yield* AccessTokens
    const audit = yield* AuditLog
    const apiKeys = yield* ApiKeys
    const feed = yield* ChangeFeed
    const links = yield* PasswordLinkRepo

    /** Ends a login; once committed, every socket opened with one of its tokens is closed. */
    const revokeSession = (sessionId: string, at: string, reason: string) =>
      Effect.zipRight(
        sessions.revokeSession(sessionId, at, reason),
        feed.publish({ kind: "revoked", credential: "session", id: sessionId })
      )

    const newRefreshToken = () => randomBytes(32).toString("base64url")

    /** Issues the first token pair of a new login; runs inside the caller's transaction. */
    const startSession = (userId: string, at: string) =>
      Effect.gen(function* () {
        const info = Option.getOrNull(yield* Effect.serviceOption(RequestInfo))
        const sessionId = newId()
        const refresh = newRefreshToken()
        yield* sessions.createSession({
          id: sessionId,
          user_id: userId,
          created_at: at,
          ip: info?.ip ?? null,
          user_agent: info?.userAgent ?? null,
          client: null
        })
        yield* sessions.insertToken({
          token_hash: sha256(refresh),
          session_id: sessionId,
          created_at: at,
          expires_at: addSeconds(at, config.refreshTokenTtlSeconds)
        })
        return { sessionId, refresh }
      })

    const tokenPair = (userId: string, sessionId: string, refresh: string) =>
      Effect.map(
        tokens.sign({ userId, sessionId }),
        (access): TokenPair => ({ access_token: access, refresh_token: refresh, expires_in: tokens.ttlSeconds })
      )

    const register = (input: RegisterRequest): Effect.Effect<LoginResponse, Conflict | Forbidden | SqlError> =>
      Effect.gen(function* () {
        if (!config.allowSignup) {
          return yield* new Forbidden({ code: "signup_disabled", message: "Sign-up is turned off on this server" })
        }
        const passwordHash = yield* passwords.hash(input.password)
        const at = now()
        const row = { id: newId(), email: input.email, name: input.name, password_hash: passwordHash, created_at: at }
        const { sessionId, refresh } = yield* Effect.gen(function* () {
          yield* users.insert(row)
          const started = yield* startSession(row.id, at)
          yield* audit.record({ action: "auth.register", actorId: row.id, targetType: "user", targetId: row.id })
          return started
        }).pipe(
          sql.withTransaction,
          Effect.catchIf(isUniqueViolation, () =>
            Effect.fail(new Conflict({ code: "email_taken", message: "An account with this e-mail already exists" }))
          )
        )
        const pair = yield* tokenPair(row.id, sessionId, refresh)
        return { user: toUser(row), ...pair }
      })

    const login = (input: LoginRequest): Effect.Effect<LoginResponse, Unauthorized | Forbidden | SqlError> =>
      Effect.gen(function* () {
        const found = yield* users.findByEmail(input.email)
        const ok = Option.isSome(found)
          ? yield* passwords.verify(input.password, found.value.password_hash)
          : yield* passwords.verifyNobody(input.password)
        if (!ok || Option.isNone(found)) {
          yield* audit.record({
            action: "auth.login_failed",
            actorId: Option.isSome(found) ? found.value.id : null,
            targetType: "user",
            targetId: Option.isSome(found) ? found.value.id : null,
            metadata: { email: input.email }
          })
          return yield* new Unauthorized({ code: "invalid_credentials", message: "Wrong e-mail or password" })
        }
        const user = found.value
        if (user.disabled_at !== null) return yield* accountDisabled()
        const at = now()
        const { sessionId, refresh } = yield* Effect.gen(function* () {
          const started = yield* startSession(user.id, at)
          yield* audit.record({ action: "auth.login", actorId: user.id, targetType: "user", targetId: user.id })
          return started
        }).pipe(sql.withTransaction)
        const pair = yield* tokenPair(user.id, sessionId, refresh)
        return { user: toUser(user), ...pair }
      })

    const refresh = (refreshToken: string): Effect.Effect<TokenPair, Unauthorized | SqlError> =>
      Effect.gen(function* () {
        const at = now()
        const tokenHash = sha256(refreshToken)
        // The transaction decides; a reuse commits the revocation and only then fails.
        const outcome = yield* Effect.gen(function* () {
          const found = yield* sessions.findToken(tokenHash)
          if (Option.isNone(found) || found.value.revoked_at !== null) return { _tag: "invalid" } as const
          const token = found.value
          if (token.rotated_at === null && Date.parse(token.expires_at) <= Date.parse(at))
            return { _tag: "expired" } as const
          const rotated = token.rotated_at === null && (yield* sessions.markRotated(tokenHash, at))
          if (!rotated) {
            yield* revokeSession(token.session_id, at, "token_reused")
            yield* audit.record({
              action: "auth.token_reused",
              actorId: token.user_id,
              targetType: "session",
              targetId: token.session_id
            })
            return { _tag: "reused" } as const
          }
          const next = newRefreshToken()
          yield* sessions.insertToken({
            token_hash: sha256(next),
            session_id: token.session_id,
            created_at: at,
            expires_at: addSeconds(at, config.refreshTokenTtlSeconds)
          })
          return { _tag: "ok", userId: token.user_id, sessionId: token.session_id, next } as const
        }).pipe(feed.transaction)
        switch (outcome._tag) {
          case "invalid":
            return yield* unauthorized("Unknown or revoked refresh token")
          case "expired":
            return yield* new Unauthorized({ code: "token_expired", message: "The refresh token has expired" })
          case "reused":
            return yield* new Unauthorized({
              code: "token_reused",
              message: "This refresh token was already used; every token of this login is now revoked"
            })
          case "ok":
            return yield* tokenPair(outcome.userId, outcome.sessionId, outcome.next)
        }
      })

    const logout = (refreshToken: string): Effect.Effect<void, Unauthorized | SqlError> =>
      Effect.gen(function* () {
        const found = yield* sessions.findToken(sha256(refreshToken))
        if (Option.isNone(found)) return yield* unauthorized("Unknown refresh token")
        const token = found.value
        if (token.revoked_at !== null) return
        yield* Effect.zipRight(
          revokeSession(token.session_id, now(), "logout"),
          audit.record({
            action: "auth.logout",
            actorId: token.user_id,
            targetType: "session",
            targetId: token.session_id
          })
        ).pipe(feed.transaction)
      })

    /**
     * Starts a new login for a user already proven some other way (device login, a
     * set-password link); a disabled account gets none.
     */
    const issueLogin = (user: User, method: string): Effect.Effect<LoginResponse, Forbidden | SqlError> =>
      Effect.gen(function* () {
        const record = yield* users.findById(user.id)
        if (Option.isNone(record) || record.value.disabled_at !== null) return yield* accountDisabled()
        const at = now()
        const { sessionId, refresh } = yield* Effect.gen(function* () {
          const started = yield* startSession(user.id, at)
          yield* audit.record({
            action: "auth.login",
            actorId: user.id,
            targetType: "user",
            targetId: user.id,
            metadata: { method }
          })
          return started
        }).pipe(sql.withTransaction)
        const pair = yield* tokenPair(user.id, sessionId, refresh)
        return { user, ...pair }
      })

    /**
     * Resolves `Authorization: Bearer …` to the caller: an API key (`mur_…`), or an access
     * token checked by signature and then one indexed lookup of its login.
     */
    const authenticate = (bearer: string): Effect.Effect<Principal, Unauthorized | SqlError> =>
      Effect.gen(function* () {
        if (bearer.length === 0) return yield* unauthorized()
        if (isApiKey(bearer)) {
          const { user, keyId, serverAdmin } = yield* apiKeys.authenticate(bearer)
          return { user, sessionId: null, apiKeyId: keyId, serverAdmin }
        }
        const claims = yield* tokens
          .verify(bearer)
          .pipe(
            Effect.mapError((failure) =>
              failure === "expired"
                ? new Unauthorized({ code: "token_expired", message: "The access token has expired" })
                : unauthorized("Invalid access token")
            )
          )
        const user = yield* sessions.findLiveUser(claims.sessionId, claims.userId)
        if (Option.isNone(user)) return yield* unauthorized("This login has ended")
        return {
          user: toUser(user.value),
          sessionId: claims.sessionId,
          apiKeyId: null,
          serverAdmin: Boolean(user.value.server_admin)
        }
      })

    const me = (user: User): Effect.Effect<MeResponse, SqlError> =>
      Effect.map(teams.listForUser(user.id), (memberships) => ({ user, teams: memberships }))

    /**
     * Sets a password through a one-time link from a server admin. Every login of the user
     * ends (the link may have been made because one was stolen).
     */
    const setPassword = (token: string, password: string): Effect.Effect<void, InvalidRequest | SqlError> =>
      Effect.gen(function* () {
        const hash = yield* passwords.hash(password)
        const ok = yield* Effect.gen(function* () {
          const at = now()
          const userId = yield* links.consume(sha256(token), at)
          if (Option.isNone(userId)) return false
          yield* users.setPasswordHash(userId.value, hash, at)
          yield* links.voidAllOfUser(userId.value, at)
          const ended = yield* sessions.revokeAllOfUser(userId.value, at, "password_set")
          if (ended.length > 0) yield* feed.publish({ kind: "revoked", credential: "user", id: userId.value })
          yield* audit.record({
            action: "auth.password_set",
            actorId: userId.value,
            targetType: "user",
            targetId: userId.value
          })
          return true
        }).pipe(feed.transaction)
        if (!ok) {
          return yield* InvalidRequest.invalid("This link is unknown, used or expired; ask for a new one", [
            { path: "token", message: "unknown, used or expired" }
          ])
        }
      })

    return { register, login, refresh, logout, authenticate, issueLogin, me, setPassword } as const
  }),
  dependencies: [
    ApiKeys.Default,
    UserRepo.Default,
    SessionRepo.Default,
    TeamRepo.Default,
    Passwords.Default,
    AccessTokens.Default,
    AuditLog.Default,
    PasswordLinkRepo.Default
  ]
}) {}
