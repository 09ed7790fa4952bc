/**
 * mur-server's configuration: the environment (the contract's names), overridden by
 * flags. A bad value is reported as one line naming the variable.
 */

import { dirname, join } from "node:path"
import { Storage } from "@mur/core"
import { fileSecret, type ServerOptions } from "@mur/server"
import { Redacted } from "effect"

export class SettingsError extends Error {}

export interface Settings {
  readonly server: ServerOptions & { readonly port: number; readonly host: string }
  readonly shutdownTimeoutMs: number
  readonly explicitBaseUrl: boolean
}

/** Flag values given on the command line; they win over the environment. */
export type Overrides = Partial<Record<"PORT" | "HOST" | "DATABASE_URL" | "LOG_LEVEL" | "LOG_FORMAT", string>>

const fail = (name: string, message: string): never => {
  throw new SettingsError(`invalid ${name}: ${message}`)
}

const integer = (name: string, raw: string, min: number, max: number): number => {
  if (!/^\d+$/.test(raw.trim())) fail(name, `"${raw}" is not a whole number`)
  const n = Number(raw.trim())
  if (n < min || n > max) fail(name, `${n} is outside ${min}..${max}`)
  return n
}

const boolean = (name: string, raw: string): boolean => {
  const v = raw.trim().toLowerCase()
  if (["1", "true", "yes", "on"].includes(v)) return true
  if (["0", "false", "no", "off"].includes(v)) return false
  return fail(name, `"${raw}" is not true or false`)
}

const oneOf = <T extends string>(name: string, raw: string, values: ReadonlyArray<T>): T => {
  const v = raw.trim().toLowerCase() as T
  if (!values.includes(v)) fail(name, `"${raw}" is not one of ${values.join(", ")}`)
  return v
}

/** Reads the whole configuration; throws `SettingsError` with a one-line message. */
export const readSettings = (env: NodeJS.ProcessEnv, overrides: Overrides = {}): Settings => {
  const get = (name: keyof Overrides | string): string | undefined => {
    const o = (overrides as Record<string, string | undefined>)[name]
    if (o !== undefined) return o
    const v = env[name]
    return v === undefined || v === "" ? undefined : v
  }
  const databaseUrl = get("DATABASE_URL") ?? "file:./data/mur.db"
  const database = Storage.parseDatabaseUrl(databaseUrl)
  if ("error" in database)
    return fail("DATABASE_URL", `${database.error} (got "${databaseUrl.replace(/\/\/[^@/]*@/, "//***@")}")`)

  const port = integer("PORT", get("PORT") ?? "8080", 0, 65535)
  const host = get("HOST") ?? "0.0.0.0"
  const bcryptCost = integer("BCRYPT_COST", get("BCRYPT_COST") ?? "12", 10, 20)
  const allowSignup = boolean("ALLOW_SIGNUP", get("ALLOW_SIGNUP") ?? "true")
  const defaultPlan = oneOf("DEFAULT_PLAN", get("DEFAULT_PLAN") ?? "free", ["free", "team", "enterprise"] as const)
  const logLevel = oneOf("LOG_LEVEL", get("LOG_LEVEL") ?? "info", [
    "trace",
    "debug",
    "info",
    "warning",
    "warn",
    "error",
    "none"
  ] as const)
  const logFormat = oneOf("LOG_FORMAT", get("LOG_FORMAT") ?? "json", ["json", "pretty"] as const)
  const rateLimits = {
    auth: integer("RATE_LIMIT_AUTH", get("RATE_LIMIT_AUTH") ?? "10", 0, 1_000_000_000),
    user: integer("RATE_LIMIT_USER", get("RATE_LIMIT_USER") ?? "100", 0, 1_000_000_000),
    team: integer("RATE_LIMIT_TEAM", get("RATE_LIMIT_TEAM") ?? "1000", 0, 1_000_000_000)
  }
  const shutdownTimeoutMs = integer("SHUTDOWN_TIMEOUT", get("SHUTDOWN_TIMEOUT") ?? "30", 0, 3600) * 1000
  const corsOrigins = (get("CORS_ORIGINS") ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
  for (const origin of corsOrigins) {
    if (origin !== "*" && !/^https?:\/\/[^/\s]+$/.test(origin))
      fail("CORS_ORIGINS", `"${origin}" is not an origin like https://example.com`)
  }
  const baseUrlRaw = get("BASE_URL")
  if (baseUrlRaw !== undefined && !/^https?:\/\/\S+$/.test(baseUrlRaw))
    fail("BASE_URL", `"${baseUrlRaw}" is not an http(s) URL`)

  let secret = get("JWT_SECRET")
  if (secret !== undefined && secret.length < 32) fail("JWT_SECRET", "must be at least 32 characters")
  if (secret === undefined) {
    if (database.dialect === "pg")
      throw new SettingsError("JWT_SECRET is required with PostgreSQL (at least 32 characters)")
    const dir =
      database.filename === ":memory:" || database.filename === ""
        ? join(process.cwd(), "data")
        : dirname(database.filename)
    try {
      secret = fileSecret(join(dir, "jwt-secret"))
    } catch (e) {
      throw new SettingsError(`cannot keep the JWT secret in ${dir}: ${(e as Error).message}`)
    }
  }

  return {
    shutdownTimeoutMs,
    explicitBaseUrl: baseUrlRaw !== undefined,
    server: {
      port,
      host,
      database,
      engine: {
        jwtSecret: Redacted.make(secret),
        bcryptCost,
        allowSignup,
        defaultPlan,
        baseUrl: baseUrlRaw?.replace(/\/$/, ""),
        accessTokenTtlSeconds: 15 * 60,
        refreshTokenTtlSeconds: 7 * 24 * 60 * 60
      },
      corsOrigins,
      rateLimits,
      logLevel: logLevel === "warn" ? "warning" : logLevel,
      logFormat
    }
  }
}
