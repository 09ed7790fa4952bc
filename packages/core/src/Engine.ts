/**
 * The engine: every domain service over one database, as a single Layer. The HTTP server,
 * the CLI's `migrate` and an embedding program all start from here.
 */
import type { SqlClient } from "@effect/sql"
import { Layer } from "effect"
import { Admin } from "./Admin.js"
import { ApiKeys } from "./ApiKeys.js"
import { AuditLog } from "./AuditLog.js"
import { Auth } from "./Auth.js"
import { BackupSchedule, type BackupScheduleShape } from "./Backup.js"
import type { ChangeFeed } from "./ChangeFeed.js"
import { EngineConfig, type EngineConfigShape } from "./Config.js"
import { DeviceLogin } from "./DeviceLogin.js"
import { Jobs } from "./Jobs.js"
import { Limiter } from "./Limiter.js"
import { PatternRepo } from "./PatternRepo.js"
import { Patterns } from "./Patterns.js"
import { Presence } from "./Presence.js"
import { Prices } from "./Prices.js"
import { Stats } from "./Stats.js"
import { StatsRepo } from "./StatsRepo.js"
import * as Storage from "./Storage.js"
import { Sync } from "./Sync.js"
import { SyncLog } from "./SyncLog.js"
import { TeamRepo } from "./TeamRepo.js"
import { Teams } from "./Teams.js"

export type EngineServices =
  | Admin
  | Auth
  | AuditLog
  | TeamRepo
  | Teams
  | Patterns
  | PatternRepo
  | SyncLog
  | Sync
  | Presence
  | ApiKeys
  | DeviceLogin
  | StatsRepo
  | Stats
  | Prices
  | Jobs
  | Limiter
  | SqlClient.SqlClient
  | ChangeFeed
  | Storage.Dialect
  | Storage.Database
  | EngineConfig

export interface EngineOptions {
  readonly database: Storage.DatabaseConfig
  readonly config: EngineConfigShape
  /** Apply pending migrations when the engine starts (default true). */
  readonly migrate?: boolean
  /** Scheduled backups (the `backup` job); none when absent. */
  readonly backup?: BackupScheduleShape | undefined
}

export const Engine = {
  /** Every service of the engine, over a freshly opened (and by default migrated) database. */
  layer: (options: EngineOptions): Layer.Layer<EngineServices, Storage.StorageError> => {
    const storage = Storage.layer(options.database)
    const migrated =
      options.migrate === false ? storage : Layer.effectDiscard(Storage.migrate).pipe(Layer.provideMerge(storage))
    const services = Layer.mergeAll(
      Admin.Default,
      Auth.Default,
      AuditLog.Default,
      TeamRepo.Default,
      Teams.Default,
      Patterns.Default,
      PatternRepo.Default,
      SyncLog.Default,
      Sync.Default,
      Presence.Default,
      ApiKeys.Default,
      DeviceLogin.Default,
      StatsRepo.Default,
      Stats.Default,
      Prices.Default,
      Jobs.Default,
      Limiter.Default
    )
    const backup = options.backup === undefined ? Layer.empty : Layer.succeed(BackupSchedule, options.backup)
    return services.pipe(
      Layer.provideMerge(migrated),
      Layer.provideMerge(Layer.succeed(EngineConfig, options.config)),
      Layer.provide(backup)
    )
  }
}
