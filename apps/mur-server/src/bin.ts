#!/usr/bin/env node
import { createRequire } from "node:module"
/**
 * `mur-server`: serve | migrate up | migrate status | jobs list | jobs run NAME | backup | restore.
 * Configuration is the environment (see README); flags override it.
 */
import { Args, Command, Options } from "@effect/cli"
import { NodeContext } from "@effect/platform-node"
import { runCommandLine } from "@mur/cli"
import { Backup, type ChangeFeed, Jobs, Storage } from "@mur/core"
import { startServer } from "@mur/server"
import { Console, Effect, Layer, Option } from "effect"
import { adminCommand } from "./admin.js"
import { backupCommand, restoreCommand } from "./backup.js"
import { type Overrides, readBackupSchedule, readSettings, SettingsError } from "./settings.js"

const { version } = createRequire(import.meta.url)("../package.json") as { version: string }

/** One line on stderr and a non-zero exit: how every start-up problem ends. */
const die = (message: string, code = 1): never => {
  process.stderr.write(`mur-server: ${message}\n`)
  process.exit(code)
}

const orDie = <A>(read: () => A): A => {
  try {
    return read()
  } catch (e) {
    if (e instanceof SettingsError) return die(e.message)
    throw e
  }
}

const settingsOrDie = (overrides: Overrides) => orDie(() => readSettings(process.env, overrides))

const describe = (error: unknown): string => {
  const seen = new Set<unknown>()
  const parts: string[] = []
  let cur: any = error
  while (cur && typeof cur === "object" && !seen.has(cur)) {
    seen.add(cur)
    if (typeof cur.message === "string" && cur.message && !parts.includes(cur.message)) parts.push(cur.message)
    cur = cur.cause ?? cur.error
  }
  return parts.length > 0 ? parts.join(": ") : String(error)
}

const optionalText = (name: string, value: string, description: string) =>
  Options.text(name).pipe(Options.withPseudoName(value), Options.withDescription(description), Options.optional)

const flags = {
  port: optionalText("port", "N", "Port to listen on (PORT); 0 picks a free port"),
  host: optionalText("host", "ADDRESS", "Address to bind (HOST)"),
  databaseUrl: optionalText("database-url", "URL", "file:<path> or postgres://… (DATABASE_URL)"),
  logLevel: optionalText("log-level", "LEVEL", "trace, debug, info, warning, error or none (LOG_LEVEL)"),
  logFormat: optionalText("log-format", "FORMAT", "json or pretty (LOG_FORMAT)")
}

const toOverrides = (o: {
  port?: Option.Option<string>
  host?: Option.Option<string>
  databaseUrl?: Option.Option<string>
  logLevel?: Option.Option<string>
  logFormat?: Option.Option<string>
}): Overrides => ({
  PORT: o.port ? Option.getOrUndefined(o.port) : undefined,
  HOST: o.host ? Option.getOrUndefined(o.host) : undefined,
  DATABASE_URL: o.databaseUrl ? Option.getOrUndefined(o.databaseUrl) : undefined,
  LOG_LEVEL: o.logLevel ? Option.getOrUndefined(o.logLevel) : undefined,
  LOG_FORMAT: o.logFormat ? Option.getOrUndefined(o.logFormat) : undefined
})

const serve = Command.make("serve", flags, (opts) =>
  Effect.promise(async () => {
    const settings = settingsOrDie(toOverrides(opts))
    const running = await startServer(settings.server).catch((e) => die(`cannot start: ${describe(e)}`))
    process.stdout.write(`mur-server listening on ${running.url}\n`)
    let stopping = false
    const stop = (signal: string) => {
      if (stopping) return
      stopping = true
      process.stderr.write(`mur-server: ${signal}, draining\n`)
      running.close(settings.shutdownTimeoutMs).then(
        () => process.exit(0),
        (e) => die(`shutdown failed: ${describe(e)}`)
      )
    }
    process.on("SIGTERM", () => stop("SIGTERM"))
    process.on("SIGINT", () => stop("SIGINT"))
    await new Promise<never>(() => undefined)
  })
).pipe(Command.withDescription("Run the HTTP and WebSocket server"))

const withDatabase = <A, E>(
  databaseUrl: Option.Option<string>,
  run: Effect.Effect<A, E, import("@effect/sql").SqlClient.SqlClient | ChangeFeed>
) =>
  Effect.suspend(() => {
    const url = Option.getOrUndefined(databaseUrl) ?? process.env.DATABASE_URL ?? "file:./data/mur.db"
    const database = Storage.parseDatabaseUrl(url)
    if ("error" in database) return die(`invalid DATABASE_URL: ${database.error}`)
    return run.pipe(
      Effect.provide(Storage.layer(database, { tool: true })),
      Effect.catchAll((e) => Effect.sync(() => die(describe(e))))
    )
  })

const migrateUp = Command.make("up", { databaseUrl: flags.databaseUrl }, ({ databaseUrl }) =>
  withDatabase(
    databaseUrl,
    Effect.flatMap(Storage.migrate, (applied) =>
      applied.length === 0
        ? Console.log("mur-server: database is up to date")
        : Effect.forEach(applied, ([id, name]) => Console.log(`applied ${String(id).padStart(4, "0")}_${name}`), {
            discard: true
          })
    )
  )
).pipe(Command.withDescription("Apply every pending migration"))

const migrateStatus = Command.make("status", { databaseUrl: flags.databaseUrl }, ({ databaseUrl }) =>
  withDatabase(
    databaseUrl,
    Effect.flatMap(Storage.migrationStatus, (rows) =>
      Effect.forEach(
        rows,
        (r) =>
          Console.log(
            `${String(r.id).padStart(4, "0")}_${r.name}\t${r.applied_at === null ? "pending" : `applied ${r.applied_at}`}`
          ),
        { discard: true }
      )
    )
  )
).pipe(Command.withDescription("List migrations and whether each is applied"))

const migrate = Command.make("migrate").pipe(
  Command.withDescription("Database migrations"),
  Command.withSubcommands([migrateUp, migrateStatus])
)

/** The job runner over a migrated database (a job writes columns the latest migrations add). */
const withJobs = <A, E>(databaseUrl: Option.Option<string>, f: (jobs: Jobs) => Effect.Effect<A, E>) =>
  withDatabase(
    databaseUrl,
    Effect.gen(function* () {
      const pending = (yield* Storage.migrationStatus).filter((m) => m.applied_at === null)
      if (pending.length > 0) return die("the database has pending migrations; run `mur-server migrate up` first")
      // The backup job exists when BACKUP_DIR is set, as in the server.
      const backup = orDie(() => readBackupSchedule(process.env))
      const jobs =
        backup === undefined
          ? Jobs.Default
          : Jobs.Default.pipe(Layer.provide(Layer.succeed(Backup.BackupSchedule, backup)))
      return yield* Effect.flatMap(Jobs, f).pipe(Effect.provide(jobs))
    })
  )

const jobsRun = Command.make(
  "run",
  { databaseUrl: flags.databaseUrl, name: Args.text({ name: "NAME" }).pipe(Args.withDescription("The job to run")) },
  ({ databaseUrl, name }) =>
    withJobs(databaseUrl, (jobs) =>
      jobs.run(name).pipe(
        Effect.catchTag("UnknownJob", (e) => Effect.sync(() => die(e.message, 2))),
        Effect.flatMap((outcome) =>
          Effect.sync(() => {
            if (outcome.status === "failed") return die(`${outcome.name} failed: ${outcome.error}`)
            if (outcome.status === "skipped") {
              process.stdout.write(`${outcome.name}: skipped, another process is running it\n`)
              process.exitCode = 3
              return
            }
            const ms = Date.parse(outcome.finished_at) - Date.parse(outcome.started_at)
            process.stdout.write(`${outcome.name}: ok in ${ms} ms ${JSON.stringify(outcome.result)}\n`)
          })
        )
      )
    )
).pipe(Command.withDescription("Run a job now (never beside another run of it): exit 0 done, 1 failed, 3 busy"))

const jobsList = Command.make("list", { databaseUrl: flags.databaseUrl }, ({ databaseUrl }) =>
  withJobs(databaseUrl, (jobs) =>
    Effect.flatMap(jobs.list, (rows) =>
      Effect.forEach(
        rows,
        (j) =>
          Console.log(
            [
              j.name,
              `every ${j.every_seconds} s`,
              j.last_status === null ? "never run" : `${j.last_status} at ${j.last_started_at}`,
              `runs ${j.runs}`,
              j.last_error ?? (j.last_result === null ? "" : JSON.stringify(j.last_result)),
              j.description
            ].join("\t")
          ),
        { discard: true }
      )
    )
  )
).pipe(Command.withDescription("List the background jobs and their last run"))

const jobsCommand = Command.make("jobs").pipe(
  Command.withDescription("Background jobs (retention purges)"),
  Command.withSubcommands([jobsList, jobsRun])
)

const root = Command.make("mur-server").pipe(
  Command.withDescription("The team server for mur"),
  Command.withSubcommands([
    serve,
    migrate,
    jobsCommand,
    adminCommand({ die, describe, withDatabase }),
    backupCommand,
    restoreCommand
  ])
)

runCommandLine(root, { name: "mur-server", version }, process.argv)
  .pipe(
    Effect.catchTag("UsageError", (e) => Effect.sync(() => die(e.message, 2))),
    Effect.provide(NodeContext.layer),
    Effect.runPromise
  )
  .then(
    () => process.exit(process.exitCode ?? 0),
    (e) => die(describe(e))
  )
