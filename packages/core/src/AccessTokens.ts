/** HS256 access tokens (JWT) through `jose`; nothing but HS256 is ever accepted. */
import { randomUUID } from "node:crypto"
import { Effect, Redacted } from "effect"
import { errors, jwtVerify, SignJWT } from "jose"
import { EngineConfig } from "./Config.js"

export interface AccessClaims {
  readonly userId: string
  readonly sessionId: string
}

export type VerifyFailure = "expired" | "invalid"

const ISSUER = "mur-server"

export class AccessTokens extends Effect.Service<AccessTokens>()("@mur/core/AccessTokens", {
  effect: Effect.gen(function* () {
    const config = yield* EngineConfig
    // Imported once: jose would otherwise import a raw key on every verification.
    const key = yield* Effect.promise(() =>
      globalThis.crypto.subtle.importKey(
        "raw",
        new TextEncoder().encode(Redacted.value(config.jwtSecret)),
        { name: "HMAC", hash: "SHA-256" },
        false,
        ["sign", "verify"]
      )
    )
    const ttl = config.accessTokenTtlSeconds

    const sign = (claims: AccessClaims) =>
      Effect.promise(() =>
        new SignJWT({ sid: claims.sessionId })
          .setProtectedHeader({ alg: "HS256", typ: "JWT" })
          .setSubject(claims.userId)
          .setIssuer(ISSUER)
          // Unique per token: two tokens of one login signed in the same second (a refresh
          // right after login) would otherwise be the same string.
          .setJti(randomUUID())
          .setIssuedAt()
          .setExpirationTime(Math.floor(Date.now() / 1000) + ttl)
          .sign(key)
      )

    const verify = (token: string): Effect.Effect<AccessClaims, VerifyFailure> =>
      Effect.tryPromise({
        try: () => jwtVerify(token, key, { algorithms: ["HS256"], issuer: ISSUER }),
        catch: (e): VerifyFailure => (e instanceof errors.JWTExpired ? "expired" : "invalid")
      }).pipe(
        Effect.flatMap(({ payload }) =>
          typeof payload.sub === "string" && typeof payload.sid === "string"
            ? Effect.succeed({ userId: payload.sub, sessionId: payload.sid })
            : Effect.fail<VerifyFailure>("invalid")
        )
      )

    return { sign, verify, ttlSeconds: ttl } as const
  })
}) {}
