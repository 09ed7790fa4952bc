import { type Backup, DEFAULT_RATE_LIMITS, type EngineConfigShape, type Storage } from "@mur/core"
import type { RealtimeOptions } from "./realtime/Gateway.js"

/** Everything the HTTP app needs; `apps/mur-server` fills it from env and flags. */
export interface ServerOptions {
  readonly database: Storage.DatabaseConfig
  readonly engine: EngineConfigShape
  /** Apply pending migrations at start (default true). */
  readonly migrate?: boolean
  readonly corsOrigins?: ReadonlyArray<string>
  /** Requests per minute; 0 turns a limit off. */
  readonly rateLimits?: { readonly auth?: number; readonly user?: number; readonly team?: number }
  /** Largest request body in bytes (default 10 MB). */
  readonly bodyLimitBytes?: number
  readonly logLevel?: "trace" | "debug" | "info" | "warning" | "error" | "none"
  readonly logFormat?: "json" | "pretty"
  /** Create Effect spans for requests and queries (default false: they cost ~10% of a request). */
  readonly tracing?: boolean
  /** WebSocket limits (buffer per socket, ping interval, idle timeout). */
  readonly realtime?: RealtimeOptions
  /** Background jobs (retention purges): on by default, checked every `tickMs` (60 000). */
  readonly jobs?: { readonly enabled?: boolean; readonly tickMs?: number }
  /** Scheduled backups into a folder (the `backup` job); none when absent. */
  readonly backup?: Backup.BackupScheduleShape
}

export const resolved = (o: ServerOptions) => ({
  corsOrigins: o.corsOrigins ?? [],
  rateLimits: {
    auth: o.rateLimits?.auth ?? DEFAULT_RATE_LIMITS.auth,
    user: o.rateLimits?.user ?? DEFAULT_RATE_LIMITS.user,
    team: o.rateLimits?.team ?? DEFAULT_RATE_LIMITS.team
  },
  bodyLimitBytes: o.bodyLimitBytes ?? 10 * 1024 * 1024
})
