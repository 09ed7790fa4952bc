/**
 * mur-server's configuration: the environment (the contract's names), overridden by
 * flags. A bad value is reported as one line naming the variable.
 */

import { dirname, join, resolve } from "node:path"
import { type Backup, Storage } from "@mur/core"
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

const UNIT_SECONDS: Record<string, number> = { "": 1, s: 1, m: 60, h: 3600, d: 86400 }

/** A duration: whole seconds, or a number with `s`, `m`, `h` or `d` (`30m`, `6h`, `1d`). */
const duration = (name: string, raw: string, minSeconds: number): number => {
  const m = /^(\d+)\s*([smhd]?)$/.exec(raw.trim().toLowerCase())
  if (!m) return fail(name, `"${raw}" is not a duration like 3600, 30m, 6h or 1d`)
  const seconds = Number(m[1]) * UNIT_SECONDS[m[2]!]!
  if (seconds < minSeconds || seconds > 365 * 86400) fail(name, `${raw} is outside ${minSeconds} s..365 d`)
  return seconds
}

/** Scheduled backups: on when `BACKUP_DIR` is set (every 24 h, keeping 7, unless told). */
export const readBackupSchedule = (env: NodeJS.ProcessEnv): Backup.BackupScheduleShape | undefined => {
  const get = (name: string) => (env[name] === undefined || env[name] === "" ? undefined : env[name])
  const dir = get("BACKUP_DIR")
  if (dir === undefined) {
    for (const name of ["BACKUP_INTERVAL", "BACKUP_KEEP"])
      if (get(name) !== undefined) fail(name, "is set but BACKUP_DIR is not")
    return undefined
  }
  return {
    dir: resolve(dir),
    everySeconds: duration("BACKUP_INTERVAL", get("BACKUP_INTERVAL") ?? "24h", 60),
    keep: integer("BACKUP_KEEP", get("BACKUP_KEEP") ?? "7", 1, 10_000)
  }
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

  const backup = readBackupSchedule(env)

  const redisUrl = get("REDIS_URL")
  if (redisUrl !== undefined && !/^rediss?:\/\/\S+$/.test(redisUrl))
    fail("REDIS_URL", "must start with redis:// or rediss://")

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
        refreshTokenTtlSeconds: 7 * 24 * 60 * 60,
        ...(redisUrl === undefined ? {} : { redisUrl: Redacted.make(redisUrl) })
      },
      corsOrigins,
      rateLimits,
      logLevel: logLevel === "warn" ? "warning" : logLevel,
      logFormat,
      ...(backup === undefined ? {} : { backup })
    }
  }
}
