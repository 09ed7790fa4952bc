import type { Plan } from "@mur/domain"
import { Context, type Redacted } from "effect"

/** What the engine needs to know; the app fills it from the environment and flags. */
export interface EngineConfigShape {
  readonly jwtSecret: Redacted.Redacted<string>
  readonly bcryptCost: number
  readonly allowSignup: boolean
  /** Public URL of the server; when absent, links are made from the request's Host. */
  readonly baseUrl?: string | undefined
  readonly accessTokenTtlSeconds: number
  readonly refreshTokenTtlSeconds: number
  /** The plan of new teams (default `free`). */
  readonly defaultPlan?: Plan | undefined
  /** Requests per minute (`0` turns a limit off); defaults in `DEFAULT_RATE_LIMITS`. */
  readonly rateLimits?: Partial<RateLimitsShape> | undefined
  /** Count rate limits in this Redis (`redis://…`) instead of the database (RateLimitRepo). */
  readonly redisUrl?: Redacted.Redacted<string> | undefined
}

/** Calls per minute: `auth` per client IP on `/auth/*`, `user` per user, `team` per team. */
export interface RateLimitsShape {
  readonly auth: number
  readonly user: number
  readonly team: number
}

/** The contract's limits (spec/API.md, from seed 000). */
export const DEFAULT_RATE_LIMITS: RateLimitsShape = { auth: 10, user: 100, team: 1000 }

export class EngineConfig extends Context.Tag("@mur/core/EngineConfig")<EngineConfig, EngineConfigShape>() {}
