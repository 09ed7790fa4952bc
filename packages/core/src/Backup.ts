/**
 * Backup and restore: one portable, versioned archive for both stores.
 *
 * An archive is gzip over newline-delimited JSON:
 *
 *     {"format":"mur-backup","version":1,"migration":4,"source":"sqlite","created_at":"…"}
 *     {"table":"users","columns":["id","email",…]}
 *     ["0b6c…","ann@example.com",…]             one JSON array per row, in the columns' order
 *     …
 *     {"end":{"tables":{"users":3,…},"rows":1234,"sha256":"…"}}
 *
 * The SHA-256 covers every byte before the last line, and the end record counts the rows of
 * each table, so a truncated or altered archive is refused. Values are JSON: times as the
 * RFC 3339 strings both stores read back, integers, text (JSON documents stay text), and
 * booleans as `true`/`false` (PostgreSQL) or `0`/`1` (SQLite); a restore binds them the way
 * the target store takes them. The tables and columns are read from the database, not
 * listed here, so a migration that adds either needs no change in this file.
 */
import { createHash, randomBytes } from "node:crypto"
import { createReadStream, createWriteStream, existsSync, mkdirSync, readdirSync, renameSync, rmSync } from "node:fs"
import { open, stat } from "node:fs/promises"
import { basename, dirname, join } from "node:path"
import { pipeline } from "node:stream/promises"
import { StringDecoder } from "node:string_decoder"
import { createGunzip, createGzip } from "node:zlib"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import Sqlite from "better-sqlite3"
import { Context, Data, Effect, Layer } from "effect"
import pg from "pg"
import { type CopyStreamQuery, from as copyFrom, to as copyTo } from "pg-copy-streams"
import { bool } from "./rows.js"
import * as Storage from "./Storage.js"

export const ARCHIVE_FORMAT = "mur-backup"
/** The archive format this build writes and the newest it reads. */
export const ARCHIVE_VERSION = 1

export class BackupError extends Data.TaggedError("BackupError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

export interface BackupSummary {
  readonly file: string
  readonly format_version: number
  /** The highest migration applied to the database it was taken from. */
  readonly migration: number
  readonly source: Storage.DatabaseConfig["dialect"]
  readonly created_at: string
  /** Rows per table. */
  readonly tables: Record<string, number>
  readonly rows: number
  /** Size of the archive file. */
  readonly bytes: number
  readonly sha256: string
}

export interface RestoreSummary {
  readonly file: string
  readonly format_version: number
  /** The archive's migration level, and the level the database is at after the restore. */
  readonly migration: number
  readonly migrated_to: number
  readonly tables: Record<string, number>
  readonly rows: number
  /** True when `force` replaced data that was there. */
  readonly replaced: boolean
}

/** Scheduled backups inside the server (`BACKUP_DIR`, `BACKUP_INTERVAL`, `BACKUP_KEEP`). */
export interface BackupScheduleShape {
  readonly dir: string
  readonly everySeconds: number
  readonly keep: number
}

export class BackupSchedule extends Context.Tag("@mur/core/BackupSchedule")<BackupSchedule, BackupScheduleShape>() {}

const fail = (message: string, cause?: unknown) => new BackupError({ message, cause })
const messageOf = (e: unknown) => String((e as { message?: unknown })?.message ?? e)

// ---------------------------------------------------------------------------------------
// The tables, read from the database

type Rows = ReadonlyArray<Record<string, unknown>>
type Dialect = Storage.DatabaseConfig["dialect"]

interface TableShape {
  readonly name: string
  readonly columns: ReadonlyArray<string>
  /** The columns' types, as a cast takes them (PostgreSQL) or as declared (SQLite). */
  readonly types: ReadonlyArray<string>
}

/**
 * Not data: the migrator's record (an archive names its level instead); `presence`, one row
 * per open socket of a running process; SQLite's `notices`, change-feed notices on their way
 * to the running server (PostgreSQL has no such table); PostgreSQL's `rate_limits`, the
 * minute's request counters. A restored database starts without.
 */
export const SKIPPED: ReadonlySet<string> = new Set(["effect_sql_migrations", "presence", "notices", "rate_limits"])

const catalogSql: Record<Dialect, { tables: string; columns: string; keys: string }> = {
  pg: {
    tables: `SELECT table_name AS name, '' AS sql FROM information_schema.tables
      WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`,
    // Generated columns (patterns.search) are computed again by the target.
    columns: `SELECT table_name, column_name, udt_name AS type, is_generated = 'ALWAYS' AS generated FROM information_schema.columns
      WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position`,
    keys: `SELECT (SELECT relname FROM pg_class WHERE oid = c.conrelid) AS child,
        (SELECT relname FROM pg_class WHERE oid = c.confrelid) AS parent
      FROM pg_constraint c WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace`
  },
  sqlite: {
    tables: `SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`,
    columns: `SELECT m.name AS table_name, p.name AS column_name, p.type AS type, p.hidden IN (2, 3) AS generated
      FROM sqlite_master m, pragma_table_xinfo(m.name) p
      WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.sql NOT LIKE 'CREATE VIRTUAL%' ORDER BY m.name, p.cid`,
    keys: `SELECT m.name AS child, f."table" AS parent FROM sqlite_master m, pragma_foreign_key_list(m.name) f
      WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.sql NOT LIKE 'CREATE VIRTUAL%'`
  }
}

/** The data tables and their stored columns, parents before the tables whose keys point at them. */
const shapesOf = (tables: Rows, columns: Rows, keys: Rows): ReadonlyArray<TableShape> => {
  const virtual = tables.filter((t) => /^\s*CREATE\s+VIRTUAL\s+TABLE/i.test(String(t.sql ?? ""))).map((t) => t.name)
  // An FTS5 table keeps its index in shadow tables named after it; triggers rebuild both.
  const derived = (name: string) => virtual.some((v) => name === v || name.startsWith(`${v}_`))
  const names = tables
    .map((t) => String(t.name))
    .filter((n) => !SKIPPED.has(n) && !derived(n))
    .sort()
  const columnsOf = new Map<string, Array<{ name: string; type: string }>>(names.map((n) => [n, []]))
  for (const c of columns)
    if (!bool(c.generated))
      columnsOf.get(String(c.table_name))?.push({ name: String(c.column_name), type: String(c.type) })
  const parents = new Map<string, Set<string>>(names.map((n) => [n, new Set()]))
  for (const k of keys) {
    const child = String(k.child)
    const parent = String(k.parent)
    if (child !== parent && parents.has(parent)) parents.get(child)?.add(parent)
  }
  const ordered: string[] = []
  const visit = (name: string, path: Set<string>) => {
    if (ordered.includes(name) || path.has(name)) return
    path.add(name)
    for (const p of parents.get(name) ?? []) visit(p, path)
    ordered.push(name)
  }
  for (const n of names) visit(n, new Set())
  return ordered.map((name) => {
    const cs = columnsOf.get(name) ?? []
    return { name, columns: cs.map((c) => c.name), types: cs.map((c) => c.type) }
  })
}

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`

const shapesVia = (sql: SqlClient.SqlClient, dialect: Dialect) =>
  Effect.gen(function* () {
    const q = catalogSql[dialect]
    const [tables, columns, keys] = yield* Effect.all([sql.unsafe(q.tables), sql.unsafe(q.columns), sql.unsafe(q.keys)])
    return shapesOf(tables as Rows, columns as Rows, keys as Rows)
  })

// ---------------------------------------------------------------------------------------
// Backup: one read snapshot on a connection of its own

/** Takes a chunk of archive text: hashed and compressed; a promise when the gzip is full. */
type Write = (chunk: string | Buffer) => Promise<void> | undefined

/** A consistent read of the database: every read sees the same moment. */
interface Snapshot {
  readonly all: (text: string) => Promise<Rows>
  /** Writes the table's rows as archive lines (a JSON array and a newline each); returns how many. */
  readonly lines: (table: TableShape, write: Write) => Promise<number>
  readonly close: () => Promise<void>
}

const sqliteSnapshot = (filename: string): Snapshot => {
  if (!existsSync(filename)) throw fail(`no database at ${filename}`)
  const db = new Sqlite(filename, { readonly: true, fileMustExist: true })
  db.pragma("busy_timeout = 5000")
  // A WAL read transaction: writers go on, this connection keeps seeing its first read's moment.
  db.exec("BEGIN")
  return {
    all: async (text) => db.prepare(text).all() as Rows,
    lines: async (t, write) => {
      let n = 0
      let buffer = ""
      // SQLite writes each row's JSON itself (and refuses a BLOB, which JSON cannot carry).
      const select = `SELECT json_array(${t.columns.map(quote).join(", ")}) FROM ${quote(t.name)}`
      for (const line of db.prepare(select).pluck(true).iterate() as IterableIterator<string>) {
        n++
        buffer += `${line}\n`
        if (buffer.length > 1 << 20) {
          await write(buffer)
          buffer = ""
        }
      }
      if (buffer !== "") await write(buffer)
      return n
    },
    close: async () => {
      try {
        db.exec("COMMIT")
      } finally {
        db.close()
      }
    }
  }
}

/**
 * A column as the archive holds it, made by PostgreSQL: times as RFC 3339 UTC with
 * milliseconds (what `Storage.pgTypes` makes of them), dates as YYYY-MM-DD, numbers and
 * booleans as JSON's own; anything else (uuid, text, JSON documents…) as its text.
 */
const pgValue = (column: string, type: string) => {
  const c = quote(column)
  switch (type) {
    case "timestamptz":
      return `to_char(${c} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`
    case "timestamp":
      return `to_char(${c}, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`
    case "date":
      return `to_char(${c}, 'YYYY-MM-DD')`
    case "int2":
    case "int4":
    case "int8":
    case "float4":
    case "float8":
    case "numeric":
    case "bool":
      return c
    default:
      return `${c}::text`
  }
}

/**
 * PostgreSQL writes each row's archive line itself: `json_build_array` in a COPY, so JS only
 * hashes and compresses the bytes. CSV rather than text format, because text format would
 * escape every backslash of the JSON; with a quote and a delimiter that JSON never holds raw
 * (it escapes every control character), CSV quotes nothing and the line is the JSON as is.
 */
const pgCopyOut = (t: TableShape) =>
  `COPY (SELECT json_build_array(${t.columns.map((c, i) => pgValue(c, t.types[i]!)).join(", ")}) FROM ${quote(t.name)}) ` +
  `TO STDOUT (FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01')`

const pgSnapshot = async (url: string): Promise<Snapshot> => {
  const client = new pg.Client({ connectionString: url, types: Storage.pgTypes, application_name: "mur-server backup" })
  client.on("error", () => undefined)
  await client.connect()
  await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
  return {
    all: async (text) => (await client.query(text)).rows,
    lines: async (t, write) => {
      // Counted here: one newline per row, JSON holds none raw.
      let n = 0
      for await (const chunk of client.query(copyTo(pgCopyOut(t))) as AsyncIterable<Buffer>) {
        for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) n++
        await write(chunk)
      }
      return n
    },
    close: async () => {
      try {
        await client.query("COMMIT")
      } finally {
        await client.end()
      }
    }
  }
}

/** Fast enough to keep up with PostgreSQL's COPY; a higher level buys little on this JSON. */
const GZIP_LEVEL = 3

const writeArchive = async (database: Storage.DatabaseConfig, output: string): Promise<BackupSummary> => {
  const snapshot = database.dialect === "sqlite" ? sqliteSnapshot(database.filename) : await pgSnapshot(database.url)
  // Written beside the target and renamed when complete: an archive under its name is whole.
  const tmp = join(dirname(output), `.${basename(output)}.${randomBytes(6).toString("hex")}.tmp`)
  let written = false
  try {
    const [migrated] = await snapshot
      .all("SELECT max(migration_id) AS id FROM effect_sql_migrations")
      .catch((e) => Promise.reject(fail(`the database has no migrations applied (${messageOf(e)})`)))
    const migration = Number(migrated?.id ?? 0)
    if (migration === 0) throw fail("the database has no migrations applied")
    const q = catalogSql[database.dialect]
    const tables = shapesOf(await snapshot.all(q.tables), await snapshot.all(q.columns), await snapshot.all(q.keys))

    const gzip = createGzip({ level: GZIP_LEVEL, chunkSize: 256 * 1024 })
    const file = createWriteStream(tmp, { flags: "wx", mode: 0o600 })
    const done = pipeline(gzip, file)
    done.catch(() => undefined)
    const hash = createHash("sha256")
    const write: Write = (chunk) => {
      hash.update(chunk)
      return gzip.write(chunk) ? undefined : new Promise((resolve) => gzip.once("drain", resolve))
    }
    const created_at = new Date().toISOString()
    await write(
      `${JSON.stringify({ format: ARCHIVE_FORMAT, version: ARCHIVE_VERSION, migration, source: database.dialect, created_at })}\n`
    )
    const counts: Record<string, number> = {}
    let rows = 0
    for (const t of tables) {
      await write(`${JSON.stringify({ table: t.name, columns: t.columns })}\n`)
      const n = await snapshot.lines(t, write)
      counts[t.name] = n
      rows += n
    }
    const sha256 = hash.digest("hex")
    gzip.end(`${JSON.stringify({ end: { tables: counts, rows, sha256 } })}\n`)
    await done
    const handle = await open(tmp, "r+")
    try {
      await handle.sync()
    } finally {
      await handle.close()
    }
    const { size } = await stat(tmp)
    renameSync(tmp, output)
    written = true
    return {
      file: output,
      format_version: ARCHIVE_VERSION,
      migration,
      source: database.dialect,
      created_at,
      tables: counts,
      rows,
      bytes: size,
      sha256
    }
  } finally {
    if (!written) rmSync(tmp, { force: true })
    await snapshot.close().catch(() => undefined)
  }
}

/** Writes an archive of the database to `output` (mode 0600) while servers keep writing. */
export const backup = (database: Storage.DatabaseConfig, output: string): Effect.Effect<BackupSummary, BackupError> =>
  Effect.tryPromise({
    try: () => writeArchive(database, output),
    catch: (e) => (e instanceof BackupError ? e : fail(`backup failed: ${messageOf(e)}`, e))
  })

/** The archive name of a scheduled backup: sorts by time. */
const scheduledName = /^mur-backup-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z\.ndjson\.gz$/

/** One scheduled backup: a new archive in the folder, then only the newest `keep` stay. */
export const scheduledBackup = (database: Storage.DatabaseConfig, schedule: BackupScheduleShape) =>
  Effect.gen(function* () {
    yield* Effect.try({
      try: () => mkdirSync(schedule.dir, { recursive: true, mode: 0o700 }),
      catch: (e) => fail(`cannot create ${schedule.dir}: ${messageOf(e)}`)
    })
    const name = `mur-backup-${new Date().toISOString().replace(/[:.]/g, "-")}.ndjson.gz`
    const summary = yield* backup(database, join(schedule.dir, name))
    const removed = yield* Effect.try({
      try: () => {
        const old = readdirSync(schedule.dir)
          .filter((f) => scheduledName.test(f))
          .sort()
          .reverse()
          .slice(schedule.keep)
        for (const f of old) rmSync(join(schedule.dir, f), { force: true })
        return old.length
      },
      catch: (e) => fail(`cannot remove old archives in ${schedule.dir}: ${messageOf(e)}`)
    })
    return { file: summary.file, rows: summary.rows, bytes: summary.bytes, removed }
  })

// ---------------------------------------------------------------------------------------
// Reading an archive

interface Header {
  readonly format: string
  readonly version: number
  readonly migration: number
}

interface End {
  readonly tables: Record<string, number>
  readonly rows: number
  readonly sha256: string
}

/** The end record is short; the bytes held back from the hash until the end must cover it. */
const HOLD_BYTES = 1 << 20

/**
 * The archive's lines in batches. The hash covers every byte but the last line (the end
 * record): it runs over the raw bytes as they come, holding back the newest megabyte, of
 * which the part before the last line is hashed at the end.
 */
class ArchiveReader {
  private readonly stream: AsyncIterator<Buffer>
  private readonly hash = createHash("sha256")
  private readonly decoder = new StringDecoder("utf8")
  private carry = ""
  private held: Buffer = Buffer.alloc(0)
  private hashed = 0
  private finished = false

  constructor(private readonly file: string) {
    const gunzip = createGunzip({ chunkSize: 256 * 1024 })
    pipeline(createReadStream(file, { highWaterMark: 256 * 1024 }), gunzip).catch(() => undefined)
    this.stream = gunzip[Symbol.asyncIterator]()
  }

  /** The next complete lines, or null at the end of the file. */
  async next(): Promise<string[] | null> {
    for (;;) {
      if (this.finished) return null
      let chunk: IteratorResult<Buffer>
      try {
        chunk = await this.stream.next()
      } catch (e) {
        throw fail(`${this.file} is damaged or not a mur-server backup archive (${messageOf(e)})`)
      }
      if (chunk.done) {
        this.finished = true
        if (this.carry + this.decoder.end() !== "") throw fail(`${this.file} is truncated (it ends mid-line)`)
        return null
      }
      this.hold(chunk.value)
      const text = this.carry + this.decoder.write(chunk.value)
      const last = text.lastIndexOf("\n")
      if (last === -1) {
        this.carry = text
        continue
      }
      this.carry = text.slice(last + 1)
      return text.slice(0, last).split("\n")
    }
  }

  private hold(bytes: Buffer) {
    const data = this.held.length === 0 ? bytes : Buffer.concat([this.held, bytes])
    if (data.length <= HOLD_BYTES) {
      this.held = data
      return
    }
    const cut = data.length - HOLD_BYTES
    this.hash.update(data.subarray(0, cut))
    this.hashed += cut
    this.held = Buffer.from(data.subarray(cut))
  }

  /** SHA-256 of every byte before the last line (call once the lines are all read). */
  digest(): string {
    // The held bytes end with the end record's newline; the record starts after the one before.
    const start = this.held.lastIndexOf(0x0a, this.held.length - 2) + 1
    if (start === 0 && this.hashed > 0) return "" // an end record longer than HOLD_BYTES: no match
    return this.hash.update(this.held.subarray(0, start)).digest("hex")
  }

  close() {
    void this.stream.return?.()
  }
}

const parseObject = (file: string, line: string): Record<string, unknown> => {
  try {
    const value = JSON.parse(line)
    if (value !== null && typeof value === "object" && !Array.isArray(value)) return value
  } catch {
    // reported below
  }
  throw fail(`${file} is damaged (a record is not valid JSON)`)
}

const readHeader = (reader: ArchiveReader, file: string) =>
  Effect.tryPromise({
    try: async () => {
      const lines = await reader.next()
      const header = lines === null ? undefined : (parseObject(file, lines[0]!) as unknown as Header)
      if (header?.format !== ARCHIVE_FORMAT) throw fail(`${file} is not a mur-server backup archive`)
      if (!Number.isInteger(header.version) || header.version > ARCHIVE_VERSION)
        throw fail(
          `${file} is in archive format ${header.version}, newer than this build reads (${ARCHIVE_VERSION}); use a newer mur-server`
        )
      if (!Number.isInteger(header.migration) || header.migration < 1)
        throw fail(`${file} is damaged (its migration level is missing)`)
      if (header.migration > Storage.latestMigration)
        throw fail(
          `${file} was taken at migration ${header.migration}, newer than this build's latest (${Storage.latestMigration}); use a newer mur-server`
        )
      return { header, rest: lines!.slice(1) }
    },
    catch: (e) => (e instanceof BackupError ? e : fail(messageOf(e), e))
  })

/** Opens an archive and reads its header; the reader is closed with the scope. */
const openArchive = (file: string) =>
  Effect.gen(function* () {
    const reader = new ArchiveReader(file)
    yield* Effect.addFinalizer(() => Effect.sync(() => reader.close()))
    const { header, rest } = yield* readHeader(reader, file)
    return { header, reader, rest }
  })

// ---------------------------------------------------------------------------------------
// Restore

/** Loads one table's rows: batches of archive lines, in order, then `end`. */
interface TableLoader {
  readonly write: (lines: ReadonlyArray<string>) => Effect.Effect<void, unknown>
  readonly end: Effect.Effect<void, unknown>
  /** Abandons the load after a failure (leaves the connection usable for the rollback). */
  readonly abort: Effect.Effect<void>
}

interface Sink {
  readonly target: ReadonlyArray<TableShape>
  /** Rows are loaded in batches of about this many characters of archive text. */
  readonly batchChars: number
  readonly table: (shape: TableShape, columns: ReadonlyArray<string>) => TableLoader
}

const copySpecial = /[\\\t\n\r]/
const copySpecials = /[\\\t\n\r]/g
const copyEscapes: Record<string, string> = { "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r" }

/**
 * One archive line as a row of COPY's text format: tab between values, `\N` for null,
 * backslash, tab, newline and carriage return escaped. Values go in as text for the column's
 * own input function, as the INSERT's casts took them: `t`/`f`, and SQLite's `0`/`1` are
 * booleans too; times are RFC 3339; JSON documents were text in the archive already.
 */
const copyRow = (line: string): string => {
  const row = JSON.parse(line) as unknown
  if (!Array.isArray(row)) throw new Error("a row is not a JSON array")
  let out = ""
  for (let i = 0; i < row.length; i++) {
    const v = row[i]
    if (i > 0) out += "\t"
    if (v === null) out += "\\N"
    else if (typeof v === "string") out += copySpecial.test(v) ? v.replace(copySpecials, (c) => copyEscapes[c]!) : v
    else if (typeof v === "number") out += String(v)
    else if (typeof v === "boolean") out += v ? "t" : "f"
    else throw new Error("a row holds a value this format cannot carry")
  }
  return `${out}\n`
}

/**
 * PostgreSQL: `COPY … FROM STDIN` (pg-copy-streams) on the restore's own connection, inside
 * its transaction: several times faster than INSERTs that make rows from JSON. `client` is
 * the one connection of the restore's pool (see `restorePg`), so the COPY runs in the same
 * session and transaction as the migrations and everything else of the restore.
 */
const pgSink = (client: () => pg.ClientBase, target: ReadonlyArray<TableShape>): Sink => ({
  target,
  // Smaller: the server takes in one batch while JS makes the next.
  batchChars: 1 << 20,
  table: (shape, columns) => {
    let stream: CopyStreamQuery | undefined
    let failure: unknown
    let finished: Promise<void> = Promise.resolve()
    const open = () => {
      const s = client().query(
        copyFrom(`COPY ${quote(shape.name)} (${columns.map(quote).join(", ")}) FROM STDIN`)
      ) as CopyStreamQuery
      finished = new Promise<void>((resolve, reject) => {
        s.on("finish", resolve)
        s.on("error", (e) => {
          failure ??= e
          reject(e)
        })
      })
      finished.catch(() => undefined)
      stream = s
      return s
    }
    const check = () => {
      if (failure !== undefined) throw failure
    }
    return {
      write: (lines) =>
        Effect.tryPromise({
          try: async () => {
            check()
            let text = ""
            for (const line of lines) text += copyRow(line)
            const s = stream ?? open()
            if (!s.write(text))
              await new Promise<void>((resolve) => {
                const done = () => {
                  s.off("drain", done)
                  s.off("error", done)
                  resolve()
                }
                s.on("drain", done)
                s.on("error", done)
              })
            check()
          },
          catch: (e) => e
        }),
      end: Effect.tryPromise({
        try: async () => {
          if (stream === undefined) return
          stream.end()
          await finished
          stream = undefined
        },
        catch: (e) => e
      }),
      // CopyFail: the server ends the COPY with an error and the connection takes the ROLLBACK.
      abort: Effect.promise(async () => {
        if (stream === undefined) return
        const s = stream
        stream = undefined
        if (failure === undefined && !s.writableFinished) {
          s.destroy(new Error("restore abandoned"))
          await finished.catch(() => undefined)
        }
      })
    }
  }
})

/**
 * Reads the whole archive, checking it against its end record (SHA-256, rows per table).
 * With a sink, every row is loaded too; without one, it only verifies, so that a damaged
 * archive is refused before anything is touched.
 */
const scan = (reader: ArchiveReader, file: string, first: ReadonlyArray<string>, sink?: Sink) =>
  Effect.gen(function* () {
    const byName = new Map((sink?.target ?? []).map((t) => [t.name, t]))
    const counts: Record<string, number> = {}
    let table: { name: string; loader: TableLoader | undefined } | undefined
    let batch: string[] = []
    let chars = 0
    let end: End | undefined
    const loaders: TableLoader[] = []
    const steps: Array<Effect.Effect<void, unknown>> = []
    const flush = () => {
      if (table?.loader === undefined || batch.length === 0) return
      steps.push(table.loader.write(batch))
      batch = []
      chars = 0
    }
    const close = () => {
      flush()
      if (table?.loader !== undefined) steps.push(table.loader.end)
    }
    // Synchronous per line; the loads it queues run after each chunk of lines.
    const take = (line: string) => {
      if (end !== undefined) throw fail(`${file} is damaged (data after its end record)`)
      if (line.charCodeAt(0) === 91 /* [ */) {
        if (table === undefined) throw fail(`${file} is damaged (a row outside any table)`)
        counts[table.name]!++
        if (sink === undefined) return
        // The first pass checked the SHA-256: these are the lines the backup wrote.
        batch.push(line)
        chars += line.length
        if (chars >= sink.batchChars) flush()
        return
      }
      const record = parseObject(file, line)
      close()
      if (typeof record.table === "string" && Array.isArray(record.columns)) {
        const name = record.table
        const columns = record.columns.map(String)
        if (sink === undefined) {
          if (name in counts) throw fail(`${file} is damaged (table ${name} appears twice)`)
          counts[name] = 0
          table = { name, loader: undefined }
          return
        }
        const shape = targetTable(file, name, columns, counts, byName)
        counts[name] = 0
        const loader = sink.table(shape, columns)
        loaders.push(loader)
        table = { name, loader }
      } else if (record.end !== null && typeof record.end === "object") {
        end = record.end as End
        table = undefined
      } else {
        throw fail(`${file} is damaged (an unknown record)`)
      }
    }
    const takeAll = (lines: ReadonlyArray<string>) =>
      Effect.try({
        try: () => {
          for (const line of lines) take(line)
        },
        catch: (e) => (e instanceof BackupError ? e : fail(messageOf(e), e))
      })
    const run = Effect.suspend(() => Effect.forEach(steps.splice(0), (step) => step, { discard: true })).pipe(
      Effect.mapError((e) => fail(`restore failed: ${messageOf((e as { cause?: unknown })?.cause ?? e)}`, e))
    )
    const all = Effect.gen(function* () {
      yield* takeAll(first)
      yield* run
      for (;;) {
        const lines = yield* Effect.tryPromise({
          try: () => reader.next(),
          catch: (e) => (e instanceof BackupError ? e : fail(messageOf(e), e))
        })
        if (lines === null) break
        yield* takeAll(lines)
        yield* run
      }
      // An archive cut short after a table's rows: its load is still open.
      close()
      yield* run
    })
    yield* all.pipe(Effect.tapError(() => Effect.forEach(loaders, (l) => l.abort, { discard: true })))
    yield* Effect.try({ try: () => checkEnd(file, reader, end, counts), catch: (e) => e as BackupError })
    return counts
  })

/** A table record checked against the target schema: a table and columns it has, seen once. */
const targetTable = (
  file: string,
  name: string,
  columns: ReadonlyArray<string>,
  counts: Readonly<Record<string, number>>,
  shapes: ReadonlyMap<string, TableShape>
): TableShape => {
  if (name in counts) throw fail(`${file} is damaged (table ${name} appears twice)`)
  const shape = shapes.get(name)
  if (shape === undefined) throw fail(`${file} has a table ${name} that this database's schema does not have`)
  const unknown = columns.filter((c) => !shape.columns.includes(c))
  if (unknown.length > 0)
    throw fail(`${file} has columns ${name}.${unknown.join(", ")} that this database's schema does not have`)
  return shape
}

/** The end record agrees with what was read: the SHA-256 of every line before it, and the rows per table. */
const checkEnd = (
  file: string,
  reader: ArchiveReader,
  end: End | undefined,
  counts: Readonly<Record<string, number>>
) => {
  if (end === undefined) throw fail(`${file} is truncated (it has no end record)`)
  if (reader.digest() !== end.sha256) throw fail(`${file} is altered (its SHA-256 does not match)`)
  const expected = end.tables ?? {}
  for (const [name, n] of Object.entries(expected))
    if (counts[name] !== n) throw fail(`${file} is damaged (table ${name} has ${counts[name] ?? 0} rows, not ${n})`)
  if (Object.keys(counts).length !== Object.keys(expected).length)
    throw fail(`${file} is damaged (its tables do not match its end record)`)
}

/** The first table of the database that has a row, if any: such a database is not empty. */
const firstWithRows = (sql: SqlClient.SqlClient, tables: ReadonlyArray<TableShape>) =>
  Effect.gen(function* () {
    for (const t of tables) {
      if ((yield* sql.unsafe(`SELECT 1 FROM ${quote(t.name)} LIMIT 1`)).length > 0) return t.name
    }
    return undefined
  })

// PostgreSQL: every table and function of the schema goes (the audit log's triggers refuse a DELETE).
const dropSchemaObjects = `DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() LOOP
    EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', r.tablename);
  END LOOP;
  FOR r IN SELECT p.oid::regprocedure AS f FROM pg_proc p
    WHERE p.pronamespace = current_schema()::regnamespace
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e') LOOP
    EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', r.f);
  END LOOP;
END $$`

// The Migrator probes for its table with a query that fails when it is missing, which would
// abort the surrounding PostgreSQL transaction; so it is created first, as the Migrator does.
const pgMigrationsTable = `CREATE TABLE effect_sql_migrations (
  migration_id integer primary key,
  created_at timestamp with time zone not null default now(),
  name text not null
)`

const inTransaction = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql.withTransaction(self))

const levelOf = (sql: SqlClient.SqlClient) =>
  Effect.map(sql.unsafe(`SELECT max(migration_id) AS id FROM effect_sql_migrations`), (r) =>
    Number((r as Rows)[0]?.id ?? 0)
  )

// Indexes that back no constraint: dropped for the load and built again after it, which is
// several times faster than keeping them up to date row by row.
const secondaryIndexes: Record<Dialect, string> = {
  pg: `SELECT indexname AS name, indexdef AS sql FROM pg_indexes WHERE schemaname = current_schema()
    AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE connamespace = current_schema()::regnamespace)`,
  sqlite: `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL`
}

// PostgreSQL's foreign keys too, as pg_restore does: one check per key after the load (a join)
// instead of a trigger per row; added back under their names, so later migrations find them.
const pgForeignKeys = `SELECT conrelid::regclass::text AS "table", conname AS name, pg_get_constraintdef(oid) AS def
  FROM pg_constraint WHERE contype = 'f' AND connamespace = current_schema()::regnamespace`

const withoutIndexes = <A, E, R>(sql: SqlClient.SqlClient, dialect: Dialect, load: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const indexes = (yield* sql.unsafe(secondaryIndexes[dialect])) as Rows
    const keys = dialect === "pg" ? ((yield* sql.unsafe(pgForeignKeys)) as Rows) : []
    for (const k of keys) yield* sql.unsafe(`ALTER TABLE ${String(k.table)} DROP CONSTRAINT ${quote(String(k.name))}`)
    for (const i of indexes) yield* sql.unsafe(`DROP INDEX ${quote(String(i.name))}`)
    const result = yield* load
    for (const i of indexes) yield* sql.unsafe(String(i.sql))
    for (const k of keys)
      yield* sql.unsafe(`ALTER TABLE ${String(k.table)} ADD CONSTRAINT ${quote(String(k.name))} ${String(k.def)}`)
    return result
  })

/** PostgreSQL, inside one transaction on an emptied schema: migrate to the archive's level, load, migrate up. */
const rebuild = (
  file: string,
  header: Header,
  sinkOf: (sql: SqlClient.SqlClient, target: ReadonlyArray<TableShape>) => Effect.Effect<Sink, unknown>
) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe(dropSchemaObjects)
    yield* sql.unsafe(pgMigrationsTable)
    yield* Storage.migrateTo(header.migration)
    const { reader, rest } = yield* openArchive(file)
    const target = yield* shapesVia(sql, "pg")
    const counts = yield* withoutIndexes(sql, "pg", scan(reader, file, rest, yield* sinkOf(sql, target)))
    yield* Storage.migrate
    return { counts, migrated_to: yield* levelOf(sql) }
  }).pipe(Effect.scoped, inTransaction)

/** SQLite binds no booleans: a PostgreSQL archive's `true`/`false` become 1/0. */
const sqliteValue = (v: unknown) => (v === true ? 1 : v === false ? 0 : v)

/**
 * Fills a new SQLite file (migrated to the archive's level, nothing else open on it) straight
 * through better-sqlite3: multi-row prepared INSERTs, no journal, no fsync, secondary indexes
 * built after the load, the archive verified as it is read. The file is thrown away by the
 * caller on any failure, so checking at the end changes nothing that was live.
 */
const loadSqliteFile = (filename: string, file: string) =>
  Effect.gen(function* () {
    const { reader, rest } = yield* openArchive(file)
    const db = new Sqlite(filename)
    yield* Effect.addFinalizer(() => Effect.sync(() => db.close()))
    return yield* Effect.tryPromise({
      try: async () => {
        db.pragma("journal_mode = OFF")
        db.pragma("synchronous = OFF")
        db.pragma("cache_size = -131072")
        db.pragma("foreign_keys = ON")
        db.pragma("defer_foreign_keys = ON")
        const all = (text: string) => db.prepare(text).all() as Rows
        const q = catalogSql.sqlite
        const shapes = new Map(shapesOf(all(q.tables), all(q.columns), all(q.keys)).map((t) => [t.name, t]))
        const indexes = all(secondaryIndexes.sqlite)
        db.exec("BEGIN")
        for (const i of indexes) db.exec(`DROP INDEX ${quote(String(i.name))}`)
        const counts: Record<string, number> = {}
        let end: End | undefined
        let table:
          | { name: string; width: number; many: Sqlite.Statement; one: Sqlite.Statement; per: number }
          | undefined
        let values: unknown[] = []
        const flush = () => {
          if (table === undefined) return
          const { width, one } = table
          for (let i = 0; i < values.length; i += width) one.run(values.slice(i, i + width))
          values = []
        }
        const take = (line: string) => {
          if (end !== undefined) throw fail(`${file} is damaged (data after its end record)`)
          if (line.charCodeAt(0) === 91 /* [ */) {
            if (table === undefined) throw fail(`${file} is damaged (a row outside any table)`)
            let row: unknown
            try {
              row = JSON.parse(line)
            } catch {
              throw fail(`${file} is damaged (a row is not valid JSON)`)
            }
            if (!Array.isArray(row) || row.length !== table.width)
              throw fail(`${file} is damaged (a row of ${table.name} has the wrong number of values)`)
            for (const v of row) values.push(sqliteValue(v))
            counts[table.name]!++
            if (values.length === table.width * table.per) {
              table.many.run(values)
              values = []
            }
            return
          }
          const record = parseObject(file, line)
          flush()
          if (typeof record.table === "string" && Array.isArray(record.columns)) {
            const name = record.table
            const columns = record.columns.map(String)
            targetTable(file, name, columns, counts, shapes)
            counts[name] = 0
            const width = Math.max(1, columns.length)
            // SQLite binds at most 32,766 values per statement.
            const per = Math.max(1, Math.min(200, Math.floor(30_000 / width)))
            const tuple = `(${columns.map(() => "?").join(", ")})`
            const head = `INSERT INTO ${quote(name)} (${columns.map(quote).join(", ")}) VALUES `
            table = {
              name,
              width,
              per,
              many: db.prepare(head + Array.from({ length: per }, () => tuple).join(", ")),
              one: db.prepare(head + tuple)
            }
          } else if (record.end !== null && typeof record.end === "object") {
            end = record.end as End
          } else {
            throw fail(`${file} is damaged (an unknown record)`)
          }
        }
        for (const line of rest) take(line)
        for (;;) {
          const lines = await reader.next()
          if (lines === null) break
          for (const line of lines) take(line)
        }
        flush()
        checkEnd(file, reader, end, counts)
        for (const i of indexes) db.exec(String(i.sql))
        db.exec("COMMIT")
        db.pragma("journal_mode = WAL")
        return counts
      },
      catch: (e) => (e instanceof BackupError ? e : fail(`restore failed: ${messageOf(e)}`, e))
    })
  }).pipe(Effect.scoped)

const asBackupError = (what: string) => (e: unknown) =>
  e instanceof BackupError ? e : fail(`${what}: ${messageOf((e as { cause?: unknown })?.cause ?? e)}`, e)

/** Is the database empty? Returns the first table holding rows, or undefined. */
const inspect = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const dialect = yield* Storage.Dialect
  return yield* firstWithRows(sql, yield* shapesVia(sql, dialect))
})

const withStore = <A, E>(
  database: Storage.DatabaseConfig,
  effect: Effect.Effect<A, E, SqlClient.SqlClient | Storage.Dialect>
): Effect.Effect<A, E | BackupError> =>
  Effect.scoped(
    Layer.build(Storage.layer(database)).pipe(
      Effect.mapError((e) => fail(`cannot open the database: ${messageOf(e.cause ?? e)}`, e)),
      Effect.flatMap((context) => Effect.provide(effect, context))
    )
  )

/**
 * The PostgreSQL restore's store: a pool of exactly one connection behind the SqlClient.
 * COPY needs node-pg's client itself, and @effect/sql-pg hands out no transaction's
 * connection; with one connection in the pool, the client the pool made is the one every
 * statement of the restore runs on (checked by pid before the load), so the COPY is in the
 * same session and the same transaction as the migrations around it: all or nothing still.
 */
const withPgRestore = <A, E>(
  url: string,
  effect: (client: () => pg.ClientBase) => Effect.Effect<A, E, SqlClient.SqlClient | Storage.Dialect>
): Effect.Effect<A, E | BackupError> =>
  Effect.scoped(
    Effect.gen(function* () {
      let connection: pg.PoolClient | undefined
      const pool = yield* Effect.acquireRelease(
        Effect.sync(() => {
          const pool = new pg.Pool({
            connectionString: url,
            max: 1,
            idleTimeoutMillis: 0,
            connectionTimeoutMillis: 5000,
            types: Storage.pgTypes,
            application_name: "mur-server restore"
          })
          pool.on("error", () => undefined)
          pool.on("connect", (c) => {
            connection = c
          })
          return pool
        }),
        (pool) => Effect.promise(() => pool.end())
      )
      yield* Effect.tryPromise({
        try: () => pool.query("SELECT 1"),
        catch: (e) => fail(`cannot open the database: ${messageOf(e)}`, e)
      })
      const client = () => {
        if (connection === undefined) throw fail("the restore has no connection")
        return connection
      }
      const context = yield* Layer.build(
        Layer.merge(
          PgClient.layerFromPool({ acquire: Effect.succeed(pool), types: Storage.pgTypes }),
          Layer.succeed(Storage.Dialect, "pg")
        )
      ).pipe(Effect.mapError((e) => fail(`cannot open the database: ${messageOf(e.cause ?? e)}`, e)))
      return yield* Effect.provide(effect(client), context)
    })
  )

/**
 * Restores an archive into a database that is empty (only migrations applied, or nothing),
 * or, with `force`, replaces what is there. All or nothing: PostgreSQL in one transaction;
 * SQLite into a new file beside the target, renamed over it when complete.
 */
export const restore = (
  database: Storage.DatabaseConfig,
  file: string,
  options: { readonly force?: boolean } = {}
): Effect.Effect<RestoreSummary, BackupError> =>
  Effect.gen(function* () {
    if (!existsSync(file)) return yield* fail(`no archive at ${file}`)
    const { header, reader, rest } = yield* openArchive(file)
    // SQLite fills a new file that goes live only once the whole archive checked out.
    if (database.dialect === "pg") yield* scan(reader, file, rest)
    const refuse = (table: string) =>
      fail(
        `the database is not empty (table ${table} has rows); restore into an empty database, or pass --force to replace its data`
      )

    let replaced = false
    let result: { counts: Record<string, number>; migrated_to: number }
    if (database.dialect === "pg") {
      const url = database.url
      result = yield* withPgRestore(url, (client) =>
        Effect.gen(function* () {
          const holding = yield* inspect.pipe(Effect.mapError(asBackupError("cannot read the database")))
          if (holding !== undefined && options.force !== true) return yield* refuse(holding)
          replaced = holding !== undefined
          return yield* rebuild(file, header, (sql, target) =>
            Effect.gen(function* () {
              // The COPY goes to node-pg's client directly: make sure it is this transaction's.
              const [row] = (yield* sql.unsafe("SELECT pg_backend_pid() AS pid")) as Rows
              const pid = (client() as unknown as { processID?: number }).processID
              if (Number(row?.pid) !== pid) return yield* fail("the restore's COPY would not run in its transaction")
              return pgSink(client, target)
            })
          ).pipe(
            Effect.catchAllDefect((d) => Effect.fail(d)),
            Effect.mapError(asBackupError("restore failed"))
          )
        })
      )
    } else {
      const target = database.filename
      if (existsSync(target)) {
        const holding = yield* withStore(
          database,
          Effect.gen(function* () {
            const holding = yield* inspect
            // Folds the WAL into the file, so no -wal of the old database outlives the swap.
            yield* (yield* SqlClient.SqlClient).unsafe("PRAGMA wal_checkpoint(TRUNCATE)")
            return holding
          }).pipe(Effect.mapError(asBackupError("cannot read the database")))
        )
        if (holding !== undefined && options.force !== true) return yield* refuse(holding)
        replaced = holding !== undefined
      }
      const tmp = `${target}.restoring-${randomBytes(6).toString("hex")}`
      const removeTmp = () => {
        for (const suffix of ["", "-wal", "-shm"]) rmSync(tmp + suffix, { force: true })
      }
      const store = { dialect: "sqlite", filename: tmp } as const
      const withTmp = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient | Storage.Dialect>) =>
        withStore(
          store,
          effect.pipe(
            Effect.catchAllDefect((d) => Effect.fail(d)),
            Effect.mapError(asBackupError("restore failed"))
          )
        )
      result = yield* Effect.gen(function* () {
        // The schema at the archive's level, the rows, then the migrations since.
        yield* withTmp(Storage.migrateTo(header.migration))
        const counts = yield* loadSqliteFile(tmp, file)
        const migrated_to = yield* withTmp(
          Effect.zipRight(Storage.migrate, Effect.flatMap(SqlClient.SqlClient, levelOf))
        )
        return { counts, migrated_to }
      }).pipe(Effect.tapError(() => Effect.sync(removeTmp)))
      yield* Effect.try({
        try: () => {
          for (const suffix of ["-wal", "-shm"]) rmSync(target + suffix, { force: true })
          renameSync(tmp, target)
        },
        catch: (e) => {
          removeTmp()
          return fail(`cannot move the restored database into place: ${messageOf(e)}`)
        }
      })
    }
    const rows = Object.values(result.counts).reduce((a, b) => a + b, 0)
    return {
      file,
      format_version: header.version,
      migration: header.migration,
      migrated_to: result.migrated_to,
      tables: result.counts,
      rows,
      replaced
    }
  }).pipe(Effect.scoped)
