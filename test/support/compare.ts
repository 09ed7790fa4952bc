/**
 * Reads every data table of a database as normalised rows, ordered by primary key, so that
 * two databases, of the same store or not, can be compared table by table.
 */
import { Backup } from "@mur/core"
import Database from "better-sqlite3"
import pg from "pg"

/** Not data: the tables a backup leaves out (FTS5 shadow tables are left out by name). */
const SKIPPED = Backup.SKIPPED

export type TableRows = Map<string, { readonly columns: string[]; readonly rows: string[] }>

/** One value as both stores agree on it: times as RFC 3339, booleans as 0/1, integers as numbers. */
const normalise = (v: unknown): unknown => {
  if (v === true) return 1
  if (v === false) return 0
  if (v instanceof Date) return v.toISOString()
  return v
}

const types = {
  getTypeParser: (oid: number, format?: any) => {
    if (oid === 20) return (v: string) => Number(v) // int8
    if (oid === 1082) return (v: string) => v // date
    return pg.types.getTypeParser(oid, format)
  }
} as any

export const readTables = async (url: string): Promise<TableRows> => {
  const out: TableRows = new Map()
  const add = (name: string, unsorted: string[], key: string[], rows: Record<string, unknown>[]) => {
    // By name: a column added by a migration may sit at another position in the other store.
    const columns = [...unsorted].sort()
    const lines = rows.map((r) => ({
      key: JSON.stringify(key.map((k) => normalise(r[k]))),
      line: JSON.stringify(columns.map((c) => normalise(r[c])))
    }))
    lines.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    out.set(name, { columns, rows: lines.map((l) => l.line) })
  }
  if (url.startsWith("file:")) {
    const db = new Database(url.slice("file:".length), { readonly: true, fileMustExist: true })
    try {
      const tables = db
        .prepare(
          "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'patterns_fts%'"
        )
        .all() as { name: string }[]
      for (const { name } of tables) {
        if (SKIPPED.has(name)) continue
        const info = db.prepare(`SELECT name, pk FROM pragma_table_info(?)`).all(name) as { name: string; pk: number }[]
        const columns = info.map((c) => c.name)
        const key = info.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk)
        add(
          name,
          columns,
          key.length > 0 ? key.map((c) => c.name) : columns,
          db.prepare(`SELECT * FROM "${name}"`).all() as Record<string, unknown>[]
        )
      }
    } finally {
      db.close()
    }
    return out
  }
  const client = new pg.Client({ connectionString: url, types })
  await client.connect()
  try {
    const tables = await client.query<{ name: string }>(
      "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
    )
    for (const { name } of tables.rows) {
      if (SKIPPED.has(name)) continue
      const cols = await client.query<{ name: string }>(
        "SELECT column_name AS name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 AND is_generated = 'NEVER' ORDER BY ordinal_position",
        [name]
      )
      const key = await client.query<{ name: string }>(
        `SELECT a.attname AS name FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
         WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)`,
        [name]
      )
      const columns = cols.rows.map((c) => c.name)
      const rows = await client.query(`SELECT ${columns.map((c) => `"${c}"`).join(", ")} FROM "${name}"`)
      add(name, columns, key.rows.length > 0 ? key.rows.map((k) => k.name) : columns, rows.rows)
    }
  } finally {
    await client.end()
  }
  return out
}

/** Every difference between two databases' tables, as lines (empty: the same data). */
export const diffTables = (a: TableRows, b: TableRows): string[] => {
  const out: string[] = []
  for (const name of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(name)
    const y = b.get(name)
    if (x === undefined || y === undefined) {
      out.push(`${name}: only in ${x === undefined ? "the second" : "the first"}`)
      continue
    }
    if (JSON.stringify(x.columns) !== JSON.stringify(y.columns)) out.push(`${name}: columns differ`)
    const inX = new Set(x.rows)
    const inY = new Set(y.rows)
    const onlyX = x.rows.filter((r) => !inY.has(r))
    const onlyY = y.rows.filter((r) => !inX.has(r))
    if (x.rows.length !== y.rows.length) out.push(`${name}: ${x.rows.length} rows vs ${y.rows.length}`)
    for (const r of onlyX.slice(0, 3)) out.push(`${name}: only in the first: ${r}`)
    for (const r of onlyY.slice(0, 3)) out.push(`${name}: only in the second: ${r}`)
  }
  return out
}

/** Compares two databases table by table. */
export const diffDatabases = async (a: string, b: string) => diffTables(await readTables(a), await readTables(b))
