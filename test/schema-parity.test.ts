/**
 * The two hand-written dialects of every migration make the same schema: a fresh SQLite file
 * and a fresh PostgreSQL database are migrated through the real migrations, read back from
 * their catalogs, mapped onto one vocabulary and compared table by table: columns (type,
 * nullability, whether there is a default), primary keys, unique constraints and indexes
 * (by key columns, uniqueness, partialness and method; names may differ) and foreign keys.
 *
 * What legitimately exists in one dialect only is listed in `DIALECT_ONLY`, each with why;
 * an entry that no longer matches anything fails the test too, so the list stays true.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Storage } from "@mur/core"
import Database from "better-sqlite3"
import { Effect } from "effect"
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createDatabase, type TestDatabase } from "./support/stores.js"

type Side = "sqlite" | "pg"

interface Column {
  /** In the common vocabulary: text, integer, real, boolean, blob, json (else `?<type>`). */
  readonly type: string
  readonly notNull: boolean
  readonly hasDefault: boolean
}

interface Table {
  readonly columns: Map<string, Column>
  readonly primaryKey: ReadonlyArray<string>
  /** Unique constraints and every other index but the primary key's, as descriptors. */
  readonly indexes: ReadonlyArray<string>
  readonly foreignKeys: ReadonlyArray<string>
}

type Schema = Map<string, Table>

/**
 * Objects one dialect has and the other must not be asked for. Keys: `table`, `table.column`,
 * `table: <index descriptor>`; values say why.
 */
const DIALECT_ONLY: Record<Side, Record<string, string>> = {
  sqlite: {
    // Where `mur-server admin` leaves change-feed notices for the server on the same file;
    // PostgreSQL has LISTEN/NOTIFY for that (migration 0005).
    notices: "change-feed notices between processes on one SQLite file",
    // Full-text search: the FTS5 virtual table (0002) and the shadow tables FTS5 keeps for it.
    // PostgreSQL searches the generated `patterns.search` column instead.
    patterns_fts: "FTS5 index over patterns",
    patterns_fts_config: "FTS5 shadow table",
    patterns_fts_data: "FTS5 shadow table",
    patterns_fts_docsize: "FTS5 shadow table",
    patterns_fts_idx: "FTS5 shadow table"
  },
  pg: {
    // Request counters shared by a deployment's processes (0006); SQLite, one process,
    // counts in memory (RateLimitRepo).
    rate_limits: "rate-limit windows shared by every server process",
    // Full-text search: a generated tsvector and its GIN index (0001, redone in 0002).
    "patterns.search": "tsvector generated column for full-text search (SQLite: patterns_fts)",
    "patterns: using gin (search)": "GIN index of the tsvector",
    // 0002 added it to PostgreSQL only, for the category filter of the search plan; SQLite
    // filters categories through patterns_team_updated. Applied migrations are never edited:
    // giving SQLite the index needs a new migration.
    "patterns: (team_id,category) partial": "category filter index, PostgreSQL only since 0002"
  }
}

/** The common vocabulary of column types. */
const commonType = (declared: string): string => {
  const t = declared
    .toLowerCase()
    .replace(/\(.*\)/, "")
    .trim()
  if (
    [
      "text",
      "varchar",
      "character varying",
      "char",
      "bpchar",
      "uuid",
      "timestamptz",
      "timestamp",
      "date",
      "datetime"
    ].includes(t)
  )
    return "text"
  if (["integer", "int", "int2", "int4", "int8", "bigint", "smallint"].includes(t)) return "integer"
  if (["real", "double", "double precision", "float", "float4", "float8", "numeric", "decimal"].includes(t))
    return "real"
  if (["boolean", "bool"].includes(t)) return "boolean"
  if (["blob", "bytea"].includes(t)) return "blob"
  if (["json", "jsonb"].includes(t)) return "json"
  return `?${t}`
}

/** An index key as either catalog prints it: `lower(name)`, `team_id`. */
const normalizeKey = (key: string) => key.toLowerCase().replace(/["\s]/g, "")

const indexDescriptor = (keys: ReadonlyArray<string>, unique: boolean, partial: boolean, method: string) =>
  `${unique ? "unique " : ""}${method === "btree" ? "" : `using ${method} `}(${keys.map(normalizeKey).join(",")})${
    partial ? " partial" : ""
  }`

const fkDescriptor = (
  from: ReadonlyArray<string>,
  table: string,
  to: ReadonlyArray<string>,
  del: string,
  upd: string
) => `(${from.join(",")}) -> ${table}(${to.join(",")}) on delete ${del.toLowerCase()} on update ${upd.toLowerCase()}`

/** The key expressions of `CREATE INDEX … ON t(a, lower(b)) …`, split at top-level commas. */
const sqliteIndexKeys = (createSql: string): ReadonlyArray<string> => {
  const on = /\bON\s+"?\w+"?\s*\(/i.exec(createSql)
  if (on === null) throw new Error(`cannot read the keys of: ${createSql}`)
  const keys: Array<string> = []
  let depth = 0
  let current = ""
  for (const ch of createSql.slice(on.index + on[0].length)) {
    if (ch === "(") depth++
    if (ch === ")" && depth-- === 0) break
    if (ch === "," && depth === 0) {
      keys.push(current.trim())
      current = ""
      continue
    }
    current += ch
  }
  keys.push(current.trim())
  return keys
}

const readSqlite = (filename: string): Schema => {
  const db = new Database(filename, { readonly: true, fileMustExist: true })
  try {
    const schema: Schema = new Map()
    const tables = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
      .all() as Array<{ name: string }>
    for (const { name } of tables) {
      const info = db.prepare(`SELECT * FROM pragma_table_xinfo(?)`).all(name) as Array<{
        name: string
        type: string
        notnull: number
        dflt_value: string | null
        pk: number
        hidden: number
      }>
      const columns = new Map<string, Column>()
      // hidden 1: a virtual table's hidden column; 2, 3: generated columns (kept).
      for (const c of info.filter((c) => c.hidden !== 1)) {
        // A PRIMARY KEY column is NOT NULL in PostgreSQL; SQLite's legacy rule lets a
        // non-INTEGER one hold NULL, which no insert of ours ever writes.
        columns.set(c.name, {
          type: commonType(c.type),
          notNull: c.notnull === 1 || c.pk > 0,
          hasDefault: c.dflt_value !== null
        })
      }
      const primaryKey = info
        .filter((c) => c.pk > 0)
        .sort((a, b) => a.pk - b.pk)
        .map((c) => c.name)
      const indexes: Array<string> = []
      const list = db.prepare(`SELECT * FROM pragma_index_list(?)`).all(name) as Array<{
        name: string
        unique: number
        origin: string
        partial: number
      }>
      for (const ix of list) {
        if (ix.origin === "pk") continue
        const createSql = (
          db.prepare("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?").get(ix.name) as
            | { sql: string | null }
            | undefined
        )?.sql
        const keys =
          createSql === null || createSql === undefined
            ? (
                db.prepare(`SELECT name FROM pragma_index_info(?) ORDER BY seqno`).all(ix.name) as Array<{
                  name: string
                }>
              ).map((k) => k.name)
            : sqliteIndexKeys(createSql)
        indexes.push(indexDescriptor(keys, ix.unique === 1, ix.partial === 1, "btree"))
      }
      const fkRows = db.prepare(`SELECT * FROM pragma_foreign_key_list(?) ORDER BY id, seq`).all(name) as Array<{
        id: number
        table: string
        from: string
        to: string
        on_update: string
        on_delete: string
      }>
      const byId = new Map<number, typeof fkRows>()
      for (const r of fkRows) byId.set(r.id, [...(byId.get(r.id) ?? []), r])
      const foreignKeys = [...byId.values()].map((rs) =>
        fkDescriptor(
          rs.map((r) => r.from),
          rs[0]!.table,
          rs.map((r) => r.to),
          rs[0]!.on_delete,
          rs[0]!.on_update
        )
      )
      schema.set(name, { columns, primaryKey, indexes: indexes.sort(), foreignKeys: foreignKeys.sort() })
    }
    return schema
  } finally {
    db.close()
  }
}

const PG_ACTIONS: Record<string, string> = {
  a: "no action",
  r: "restrict",
  c: "cascade",
  n: "set null",
  d: "set default"
}

const readPg = async (url: string): Promise<Schema> => {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const schema: Schema = new Map()
    const tables = await client.query<{ name: string }>(
      `SELECT table_name AS name FROM information_schema.tables
       WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`
    )
    const columns = await client.query<{
      table_name: string
      column_name: string
      udt_name: string
      is_nullable: "YES" | "NO"
      column_default: string | null
      is_generated: string
    }>(
      `SELECT table_name, column_name, udt_name, is_nullable, column_default, is_generated
       FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position`
    )
    const constraints = await client.query<{
      table_name: string
      contype: "p" | "f"
      cols: Array<string>
      ref: string | null
      refcols: Array<string> | null
      confdeltype: string
      confupdtype: string
    }>(
      `SELECT c.relname AS table_name, k.contype,
         ARRAY(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY u(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum ORDER BY u.ord) AS cols,
         r.relname AS ref,
         ARRAY(SELECT a.attname::text FROM unnest(k.confkey) WITH ORDINALITY u(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.attnum ORDER BY u.ord) AS refcols,
         k.confdeltype, k.confupdtype
       FROM pg_constraint k
       JOIN pg_class c ON c.oid = k.conrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_class r ON r.oid = k.confrelid
       WHERE n.nspname = current_schema() AND k.contype IN ('p', 'f')`
    )
    const indexes = await client.query<{
      table_name: string
      unique: boolean
      partial: boolean
      method: string
      keys: Array<string>
    }>(
      `SELECT c.relname AS table_name, x.indisunique AS unique, x.indpred IS NOT NULL AS partial, am.amname AS method,
         ARRAY(SELECT pg_get_indexdef(x.indexrelid, k, true) FROM generate_series(1, x.indnkeyatts) k ORDER BY k) AS keys
       FROM pg_index x
       JOIN pg_class c ON c.oid = x.indrelid
       JOIN pg_class i ON i.oid = x.indexrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_am am ON am.oid = i.relam
       WHERE n.nspname = current_schema() AND NOT x.indisprimary`
    )
    for (const { name } of tables.rows) {
      const cols = new Map<string, Column>()
      for (const c of columns.rows.filter((c) => c.table_name === name)) {
        cols.set(c.column_name, {
          type: commonType(c.udt_name),
          notNull: c.is_nullable === "NO",
          hasDefault: c.column_default !== null
        })
      }
      const mine = constraints.rows.filter((k) => k.table_name === name)
      schema.set(name, {
        columns: cols,
        primaryKey: mine.find((k) => k.contype === "p")?.cols ?? [],
        indexes: indexes.rows
          .filter((i) => i.table_name === name)
          .map((i) => indexDescriptor(i.keys, i.unique, i.partial, i.method))
          .sort(),
        foreignKeys: mine
          .filter((k) => k.contype === "f")
          .map((k) =>
            fkDescriptor(k.cols, k.ref!, k.refcols ?? [], PG_ACTIONS[k.confdeltype]!, PG_ACTIONS[k.confupdtype]!)
          )
          .sort()
      })
    }
    return schema
  } finally {
    await client.end()
  }
}

const describeColumn = (c: Column) =>
  `${c.type}, ${c.notNull ? "NOT NULL" : "nullable"}${c.hasDefault ? ", with a default" : ""}`

/** Every difference, as a sentence naming the table (and column); allow-listed ones left out. */
const compareSchemas = (
  sqlite: Schema,
  postgres: Schema,
  allowed: Record<Side, Record<string, string>>
): { differences: Array<string>; unusedAllowances: Array<string> } => {
  const differences: Array<string> = []
  const used = new Set<string>()
  const schemas: Record<Side, Schema> = { sqlite, pg: postgres }
  const other = (side: Side): Side => (side === "sqlite" ? "pg" : "sqlite")
  const onlyIn = (side: Side, key: string, message: string) => {
    if (allowed[side][key] !== undefined) {
      used.add(`${side}:${key}`)
      return
    }
    differences.push(message)
  }
  /** Items of a multiset on one side missing from the other. */
  const missing = (a: ReadonlyArray<string>, b: ReadonlyArray<string>) => {
    const rest = [...b]
    return a.filter((x) => {
      const i = rest.indexOf(x)
      if (i === -1) return true
      rest.splice(i, 1)
      return false
    })
  }

  for (const side of ["sqlite", "pg"] as const) {
    for (const name of schemas[side].keys()) {
      if (!schemas[other(side)].has(name)) onlyIn(side, name, `table ${name}: only in ${side}`)
    }
  }
  for (const [name, s] of sqlite) {
    const p = postgres.get(name)
    if (p === undefined) continue
    for (const side of ["sqlite", "pg"] as const) {
      const mine = side === "sqlite" ? s : p
      const theirs = side === "sqlite" ? p : s
      for (const [column, c] of mine.columns) {
        if (!theirs.columns.has(column))
          onlyIn(side, `${name}.${column}`, `column ${name}.${column}: only in ${side} (${describeColumn(c)})`)
      }
      for (const ix of missing(mine.indexes, theirs.indexes))
        onlyIn(side, `${name}: ${ix}`, `index on ${name} ${ix}: only in ${side}`)
      for (const fk of missing(mine.foreignKeys, theirs.foreignKeys))
        onlyIn(side, `${name}: ${fk}`, `foreign key of ${name} ${fk}: only in ${side}`)
    }
    for (const [column, sc] of s.columns) {
      const pc = p.columns.get(column)
      if (pc === undefined) continue
      // SQLite keeps booleans as INTEGER 0/1: a boolean column of PostgreSQL is one there.
      const sType = pc.type === "boolean" && sc.type === "integer" ? "boolean" : sc.type
      if (sType !== pc.type) differences.push(`column ${name}.${column}: ${sc.type} in sqlite, ${pc.type} in pg`)
      if (sc.notNull !== pc.notNull)
        differences.push(
          `column ${name}.${column}: ${sc.notNull ? "NOT NULL" : "nullable"} in sqlite, ${pc.notNull ? "NOT NULL" : "nullable"} in pg`
        )
      if (sc.hasDefault !== pc.hasDefault)
        differences.push(
          `column ${name}.${column}: ${sc.hasDefault ? "a default" : "no default"} in sqlite, ${pc.hasDefault ? "a default" : "no default"} in pg`
        )
    }
    if (s.primaryKey.join(",") !== p.primaryKey.join(","))
      differences.push(
        `primary key of ${name}: (${s.primaryKey.join(", ")}) in sqlite, (${p.primaryKey.join(", ")}) in pg`
      )
  }
  const unusedAllowances = (["sqlite", "pg"] as const).flatMap((side) =>
    Object.keys(allowed[side])
      .filter((key) => !used.has(`${side}:${key}`))
      .map((key) => `${side}:${key}`)
  )
  return { differences, unusedAllowances }
}

const migrate = (url: string) => {
  const database = Storage.parseDatabaseUrl(url)
  if ("error" in database) throw new Error(database.error)
  return Effect.runPromise(Effect.scoped(Effect.provide(Storage.migrate, Storage.layer(database))))
}

describe("schema parity of the SQLite and PostgreSQL migrations", () => {
  const dir = mkdtempSync(join(tmpdir(), "mur-parity-"))
  const filename = join(dir, "mur.db")
  let postgres: TestDatabase | undefined
  let sqliteSchema: Schema
  let pgSchema: Schema

  beforeAll(async () => {
    postgres = await createDatabase("postgres")
    await Promise.all([migrate(`file:${filename}`), migrate(postgres.url)])
    sqliteSchema = readSqlite(filename)
    pgSchema = await readPg(postgres.url)
  })

  afterAll(async () => {
    await postgres?.drop()
    rmSync(dir, { recursive: true, force: true })
  })

  it("both dialects have the same tables, columns, keys and indexes", () => {
    const { differences } = compareSchemas(sqliteSchema, pgSchema, DIALECT_ONLY)
    expect(differences, "schema differences between the SQLite and PostgreSQL migrations").toEqual([])
  })

  it("every dialect-only allowance still matches something", () => {
    const { unusedAllowances } = compareSchemas(sqliteSchema, pgSchema, DIALECT_ONLY)
    expect(unusedAllowances, "DIALECT_ONLY entries that match nothing (remove them)").toEqual([])
  })

  it("the introspection sees what it compares (no empty or unmapped schema)", () => {
    expect(sqliteSchema.get("users")?.columns.get("server_admin")?.type).toBe("integer")
    expect(pgSchema.get("users")?.columns.get("server_admin")?.type).toBe("boolean")
    expect(pgSchema.get("patterns")?.indexes).toContain("unique (team_id,lower(name)) partial")
    expect(sqliteSchema.get("patterns")?.indexes).toContain("unique (team_id,lower(name)) partial")
    expect(sqliteSchema.get("memberships")?.primaryKey).toEqual(["team_id", "user_id"])
    expect(sqliteSchema.size).toBeGreaterThan(15)
    // Any column of an unmapped type must be an allow-listed one.
    for (const [side, schema] of [
      ["sqlite", sqliteSchema],
      ["pg", pgSchema]
    ] as const) {
      for (const [table, t] of schema) {
        if (DIALECT_ONLY[side][table] !== undefined) continue
        for (const [column, c] of t.columns) {
          if (c.type.startsWith("?"))
            expect(DIALECT_ONLY[side][`${table}.${column}`], `${side} ${table}.${column}`).toBeDefined()
        }
      }
    }
  })
})
