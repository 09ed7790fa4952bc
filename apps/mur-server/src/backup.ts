/**
 * `mur-server backup` and `mur-server restore`: flags and output over `Backup` in @mur/core.
 */
import { resolve } from "node:path"
import { Args, Command, Options } from "@effect/cli"
import { Backup, Storage } from "@mur/core"
import { Console, Effect, Option } from "effect"

/** One line on stderr and exit 1, as every failure of these commands ends. */
const die = (message: string): never => {
  process.stderr.write(`mur-server: ${message}\n`)
  process.exit(1)
}

const databaseUrl = Options.text("database-url").pipe(
  Options.withPseudoName("URL"),
  Options.withDescription("file:<path> or postgres://… (DATABASE_URL)"),
  Options.optional
)
const json = Options.boolean("json").pipe(Options.withDescription("Print the summary as one JSON object"))

const databaseOf = (flag: Option.Option<string>): Storage.DatabaseConfig => {
  const url = Option.getOrUndefined(flag) ?? process.env.DATABASE_URL ?? "file:./data/mur.db"
  const database = Storage.parseDatabaseUrl(url)
  if ("error" in database) return die(`invalid DATABASE_URL: ${database.error}`)
  if (database.dialect === "sqlite" && (database.filename === "" || database.filename === ":memory:"))
    return die("an in-memory SQLite database cannot be backed up or restored")
  return database
}

const tablesLine = (tables: Record<string, number>, rows: number) =>
  `${rows} rows in ${Object.keys(tables).length} tables`

export const backupCommand = Command.make(
  "backup",
  {
    output: Options.text("output").pipe(
      Options.withAlias("o"),
      Options.withPseudoName("FILE"),
      Options.withDescription("The archive file to write")
    ),
    databaseUrl,
    json
  },
  ({ output, databaseUrl, json }) =>
    Effect.suspend(() =>
      Backup.backup(databaseOf(databaseUrl), resolve(output)).pipe(
        Effect.catchAll((e) => Effect.sync(() => die(e.message))),
        Effect.flatMap((s) =>
          Console.log(
            json
              ? JSON.stringify(s)
              : `mur-server: wrote ${s.file} (${tablesLine(s.tables, s.rows)}, ${s.bytes} bytes, migration ${s.migration})`
          )
        )
      )
    )
).pipe(Command.withDescription("Write a consistent backup archive of the database while servers keep running"))

export const restoreCommand = Command.make(
  "restore",
  {
    file: Args.text({ name: "FILE" }).pipe(Args.withDescription("The archive to restore")),
    databaseUrl,
    force: Options.boolean("force").pipe(Options.withDescription("Replace the data of a database that is not empty")),
    json
  },
  ({ file, databaseUrl, force, json }) =>
    Effect.suspend(() =>
      Backup.restore(databaseOf(databaseUrl), resolve(file), { force }).pipe(
        Effect.catchAll((e) => Effect.sync(() => die(e.message))),
        Effect.flatMap((s) =>
          Console.log(
            json
              ? JSON.stringify(s)
              : `mur-server: restored ${s.file} (${tablesLine(s.tables, s.rows)}; archive at migration ${s.migration}, database now at ${s.migrated_to})`
          )
        )
      )
    )
).pipe(Command.withDescription("Restore a backup archive into an empty database (--force: replace its data)"))
