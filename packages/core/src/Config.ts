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
}

export class EngineConfig extends Context.Tag("@mur/core/EngineConfig")<EngineConfig, EngineConfigShape>() {}
