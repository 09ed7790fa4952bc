/**
 * The background job runner: periodic housekeeping inside the server, recorded in the
 * `jobs` table, and runnable by hand (`mur-server jobs run NAME`).
 *
 * Each run is one transaction that holds the job's lock, does all of the job's work and
 * records the run, so a crash (or a kill) mid-job rolls everything back and the next run
 * starts from scratch. On PostgreSQL the lock is `pg_try_advisory_xact_lock`: when several
 * server processes share the database, one of them runs the job and the others skip it;
 * the "last started" time read under the lock makes a job that just ran elsewhere not due.
 * SQLite has a single server process, and its first write inside the transaction takes
 * the database's write lock.
 *
 * The backup job (when `BackupSchedule` is provided) reads through a snapshot connection of
 * its own; the runner's transaction only holds its lock and records the run, and on SQLite,
 * where a transaction would hold the one connection (and the write lock) for the whole
 * backup, there is none.
 */
import type { SqlError } from "@effect/sql/SqlError"
import { Data, Duration, Effect, Option } from "effect"
import { type BackupError, BackupSchedule, scheduledBackup } from "./Backup.js"
import { DeviceCodeRepo } from "./DeviceCodeRepo.js"
import { JobRepo } from "./JobRepo.js"
import { now } from "./rows.js"
import { SessionRepo } from "./SessionRepo.js"
import { Stats } from "./Stats.js"
import { Database } from "./Storage.js"
import { TeamRepo } from "./TeamRepo.js"

export type JobName = "purge-stats" | "purge-refresh-tokens" | "purge-invites" | "purge-device-codes" | "backup"

export interface JobDefinition {
  readonly name: JobName
  readonly description: string
  /** How often the scheduler runs it. */
  readonly every: Duration.Duration
  /** The work; its result (counts) is kept in `jobs.last_result`. Runs inside the job's transaction. */
  readonly work: Effect.Effect<Record<string, unknown>, SqlError | BackupError>
  /** The work uses a connection of its own, not the job's transaction (see above). */
  readonly ownConnection?: boolean
}

export type JobOutcome =
  | {
      readonly name: JobName
      readonly status: "ok"
      readonly started_at: string
      readonly finished_at: string
      readonly result: Record<string, unknown>
    }
  | { readonly name: JobName; readonly status: "skipped"; readonly reason: "locked" | "not_due" }
  | { readonly name: JobName; readonly status: "failed"; readonly error: string }

/** A job as the `jobs` table records it. */
export interface JobState {
  readonly name: JobName
  readonly description: string
  readonly every_seconds: number
  readonly last_started_at: string | null
  readonly last_finished_at: string | null
  readonly last_status: string | null
  readonly last_error: string | null
  readonly last_result: Record<string, unknown> | null
  readonly runs: number
}

export class UnknownJob extends Data.TaggedError("UnknownJob")<{ readonly name: string; readonly known: string }> {
  override get message() {
    return `unknown job "${this.name}"; the jobs are: ${this.known}`
  }
}

/** The advisory-lock key of a job (`hashtext` of it), shared by every process. */
export const jobLockKey = (name: JobName) => `mur-job:${name}`

/** Expired credentials are kept this long, so that a late client still hears "expired". */
const EXPIRED_GRACE_MS = 24 * 3600 * 1000

export class Jobs extends Effect.Service<Jobs>()("@mur/core/Jobs", {
  effect: Effect.gen(function* () {
    const stats = yield* Stats
    const jobs = yield* JobRepo
    const sessions = yield* SessionRepo
    const teams = yield* TeamRepo
    const deviceCodes = yield* DeviceCodeRepo

    /** Deletes the rows of a table whose `expires_at` passed more than the grace ago. */
    const purgeExpired = (deleteExpired: (before: string) => Effect.Effect<number, SqlError>) =>
      Effect.suspend(() =>
        Effect.map(deleteExpired(new Date(Date.now() - EXPIRED_GRACE_MS).toISOString()), (deleted) => ({ deleted }))
      )

    const backupSchedule = yield* Effect.serviceOption(BackupSchedule)
    const database = yield* Effect.serviceOption(Database)

    const definitions: Array<JobDefinition> = [
      {
        name: "purge-stats",
        description: "Delete raw stats older than the team's plan retention (7/90/365 days); rollups stay",
        every: Duration.hours(1),
        work: Effect.suspend(() => stats.purgeRaw())
      },
      {
        name: "purge-refresh-tokens",
        description: "Delete refresh tokens expired for more than a day",
        every: Duration.hours(1),
        work: purgeExpired(sessions.deleteExpiredTokens)
      },
      {
        name: "purge-invites",
        description: "Delete invites expired for more than a day (used or not)",
        every: Duration.hours(1),
        work: purgeExpired(teams.deleteExpiredInvites)
      },
      {
        name: "purge-device-codes",
        description: "Delete device-login codes expired for more than a day",
        every: Duration.hours(1),
        work: purgeExpired(deviceCodes.deleteExpired)
      }
    ]
    if (Option.isSome(backupSchedule) && Option.isSome(database)) {
      const schedule = backupSchedule.value
      definitions.push({
        name: "backup",
        description: `Write a backup archive to ${schedule.dir}, keeping the newest ${schedule.keep}`,
        every: Duration.seconds(schedule.everySeconds),
        work: scheduledBackup(database.value, schedule),
        ownConnection: true
      })
    }
    const byName = new Map(definitions.map((d) => [d.name as string, d]))

    const find = (name: string): Effect.Effect<JobDefinition, UnknownJob> => {
      const job = byName.get(name)
      return job === undefined
        ? Effect.fail(new UnknownJob({ name, known: definitions.map((d) => d.name).join(", ") }))
        : Effect.succeed(job)
    }

    const isDue = (job: JobDefinition, lastStarted: string | null) =>
      lastStarted === null || Date.parse(lastStarted) <= Date.now() - Duration.toMillis(job.every)

    const describe = (e: unknown): string => {
      const cause = (e as { cause?: { message?: unknown } })?.cause?.message
      const message = (e as { message?: unknown })?.message
      return String(typeof cause === "string" ? cause : typeof message === "string" ? message : e).slice(0, 1000)
    }

    /**
     * Runs a job once: under its lock, in one transaction with the record of the run. With
     * `force` false it runs only when due (its last start is older than its interval).
     */
    const runJob = (job: JobDefinition, force: boolean): Effect.Effect<JobOutcome> => {
      const started_at = now()
      const attempt = Effect.gen(function* () {
        if (!(yield* jobs.tryLock(jobLockKey(job.name)))) {
          return { name: job.name, status: "skipped", reason: "locked" } as const
        }
        yield* jobs.ensure(job.name)
        const lastStarted = yield* jobs.lastStarted(job.name)
        if (!force && !isDue(job, lastStarted)) {
          return { name: job.name, status: "skipped", reason: "not_due" } as const
        }
        const result = yield* job.work
        const finished_at = now()
        yield* jobs.recordOk(job.name, started_at, finished_at, JSON.stringify(result))
        return { name: job.name, status: "ok", started_at, finished_at, result } as const
      })
      return jobs.transaction(attempt, job.ownConnection === true).pipe(
        Effect.catchAll((e) => {
          const error = describe(e)
          const failed = { name: job.name, status: "failed", error } as const
          // The work rolled back; the failure is recorded on its own.
          return jobs.recordFailure(job.name, started_at, now(), error).pipe(
            Effect.catchAll((e2) => Effect.logWarning(`cannot record the failure of job ${job.name}`, e2)),
            Effect.as(failed)
          )
        })
      )
    }

    /** Runs a job by name now, due or not (still never beside another run of it). */
    const run = (name: string): Effect.Effect<JobOutcome, UnknownJob> =>
      Effect.flatMap(find(name), (j) => runJob(j, true))

    /** Runs a job by name if it is due. */
    const runIfDue = (name: string): Effect.Effect<JobOutcome, UnknownJob> =>
      Effect.flatMap(find(name), (j) => runJob(j, false))

    /** Every job with what the `jobs` table says of its last run. */
    const list: Effect.Effect<ReadonlyArray<JobState>, SqlError> = Effect.gen(function* () {
      const rows = yield* jobs.list
      const byRow = new Map(rows.map((r) => [r.name, r]))
      return definitions.map((d): JobState => {
        const r = byRow.get(d.name)
        return {
          name: d.name,
          description: d.description,
          every_seconds: Duration.toSeconds(d.every),
          last_started_at: r?.last_started_at ?? null,
          last_finished_at: r?.last_finished_at ?? null,
          last_status: r?.last_status ?? null,
          last_error: r?.last_error ?? null,
          last_result: r?.last_result ? JSON.parse(r.last_result) : null,
          runs: Number(r?.runs ?? 0)
        }
      })
    })

    const log = (outcome: JobOutcome) => {
      switch (outcome.status) {
        case "ok":
          return Object.values(outcome.result).some((v) => typeof v === "number" && v > 0)
            ? Effect.logInfo(`job ${outcome.name} done`, outcome.result)
            : Effect.logDebug(`job ${outcome.name} done`, outcome.result)
        case "skipped":
          return Effect.logDebug(`job ${outcome.name} skipped (${outcome.reason})`)
        case "failed":
          return Effect.logWarning(`job ${outcome.name} failed: ${outcome.error}`)
      }
    }

    /**
     * Runs every due job, then again every `tick`, forever (interrupt to stop; a run
     * interrupted mid-way rolls back). A cheap read first skips jobs that are plainly not due.
     */
    const schedule = (tick: Duration.DurationInput = Duration.minutes(1)): Effect.Effect<never> =>
      Effect.gen(function* () {
        for (const job of definitions) {
          const due = yield* jobs.lastStarted(job.name).pipe(
            Effect.map((lastStarted) => isDue(job, lastStarted)),
            Effect.catchAll(() => Effect.succeed(true))
          )
          if (due) yield* Effect.flatMap(runJob(job, false), log)
        }
      }).pipe(
        Effect.catchAllCause((cause) => Effect.logWarning("job scheduler tick failed", cause)),
        Effect.zipRight(Effect.sleep(tick)),
        Effect.forever
      )

    return { definitions, run, runIfDue, list, schedule } as const
  }),
  dependencies: [Stats.Default, JobRepo.Default, SessionRepo.Default, TeamRepo.Default, DeviceCodeRepo.Default]
}) {}
