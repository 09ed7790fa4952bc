/**
 * The storage rule, checked on the sources: SQL lives in repositories (`*Repo.ts`) and the
 * storage layer (Storage, migrations, Backup) only; services call repositories. Each
 * repository says at its top which tables it owns ("Owns `a` and `b`"); every table of the
 * migrations has exactly one owner, and a repository writes only to the tables it owns.
 */
import { readdirSync, readFileSync } from "node:fs"
import { join, relative } from "node:path"
import { describe, expect, it } from "vitest"

const ROOT = join(import.meta.dirname, "..")
const DIRS = ["packages/core/src", "packages/server/src"]

/** The storage layer besides the repositories: may hold SQL. */
const STORAGE_FILES = new Set([
  "packages/core/src/Storage.ts",
  "packages/core/src/Backup.ts",
  "packages/core/src/migrations/index.ts"
])
const isRepository = (file: string) => /Repo\.ts$/.test(file)
const isMigration = (file: string) => file.startsWith("packages/core/src/migrations/")

const sources = (): ReadonlyArray<string> =>
  DIRS.flatMap((dir) =>
    (readdirSync(join(ROOT, dir), { recursive: true }) as Array<string>)
      .filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts") && !f.endsWith(".d.ts"))
      .map((f) => relative(ROOT, join(ROOT, dir, f)))
  ).sort()

const read = (file: string) => readFileSync(join(ROOT, file), "utf8")

/** `sql\`…\``, `sql<T>\`…\``, `sql.unsafe(…)`, `.onDialect…(`: a query, or a dialect branch. */
const SQL_USE = /\bsql\s*(?:<(?:[^<>`]|<[^<>`]*>)*>)?\s*`|\bsql\.unsafe\s*\(|\.onDialect(?:OrElse)?\s*\(/g

const lineOf = (text: string, index: number) => text.slice(0, index).split("\n").length

/** The tables the migrations create (either dialect), under their final names. */
const migrationTables = (): ReadonlyArray<string> => {
  const names = new Set<string>()
  for (const file of sources().filter(isMigration)) {
    for (const m of read(file).matchAll(
      /\bCREATE\s+(?:VIRTUAL\s+|UNLOGGED\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?"?(\w+)"?/gi
    ))
      names.add(m[1]!)
    // A table rebuilt under a new name and renamed back (SQLite cannot alter a primary key).
    for (const m of read(file).matchAll(/\bALTER\s+TABLE\s+"?(\w+)"?\s+RENAME\s+TO\s+"?(\w+)"?/gi)) {
      names.delete(m[1]!)
      names.add(m[2]!)
    }
  }
  return [...names].sort()
}

/** The tables a repository's top comment says it owns: the backquoted names of its "Owns …" sentence. */
const ownedTables = (text: string): ReadonlyArray<string> => {
  const header = /^\/\*\*([\s\S]*?)\*\//.exec(text)?.[1] ?? ""
  const flat = header.replace(/^\s*\*\s?/gm, "").replace(/\s+/g, " ")
  const sentence = /\bOwns\b(.*?)(?:\.\s|\.$|$)/.exec(flat.replace(/\([^()]*\)/g, ""))?.[1] ?? ""
  return [...sentence.matchAll(/`(\w+)`/g)].map((m) => m[1]!)
}

describe("SQL lives in repositories", () => {
  it("no service or HTTP module holds a query or a dialect branch", () => {
    const offences: Array<string> = []
    for (const file of sources()) {
      if (isRepository(file) || isMigration(file) || STORAGE_FILES.has(file)) continue
      const text = read(file)
      for (const m of text.matchAll(SQL_USE))
        offences.push(`${file}:${lineOf(text, m.index)}: ${m[0].trim().split("\n")[0]}`)
    }
    expect(offences, "SQL outside a repository (move it into the repository of its table)").toEqual([])
  })

  it("the check sees a query where there is one", () => {
    const found = (s: string) => [...s.matchAll(SQL_USE)].length
    expect(found("sql`SELECT 1`")).toBe(1)
    expect(found("sql<{ n: number }>`SELECT count(*) AS n FROM t`")).toBe(1)
    expect(found("sql<Omit<Row, 'a'>>`SELECT a FROM t`")).toBe(1)
    expect(found("sql.onDialectOrElse({ pg: () => x, orElse: () => y })")).toBe(1)
    expect(found('sql.unsafe("PRAGMA x")')).toBe(1)
    expect(found("sql.withTransaction(effect)")).toBe(0)
  })

  it("every table has exactly one owning repository, which says so at its top", () => {
    const owners = new Map<string, Array<string>>()
    for (const file of sources().filter(isRepository)) {
      const tables = ownedTables(read(file))
      expect(tables.length, `${file} has no "Owns \`table\`" comment at its top`).toBeGreaterThan(0)
      for (const t of tables) owners.set(t, [...(owners.get(t) ?? []), file])
    }
    const tables = migrationTables()
    expect(tables.length).toBeGreaterThan(15)
    const problems = [
      ...tables
        .filter((t) => (owners.get(t)?.length ?? 0) !== 1)
        .map((t) => `${t}: owned by ${owners.get(t) ?? "none"}`),
      ...[...owners.keys()].filter((t) => !tables.includes(t)).map((t) => `${t}: owned but no migration creates it`)
    ]
    expect(problems).toEqual([])
  })

  it("a repository writes only to the tables it owns", () => {
    const problems: Array<string> = []
    for (const file of sources().filter(isRepository)) {
      const text = read(file)
      const owned = ownedTables(text)
      for (const m of text.matchAll(/\b(?:INSERT\s+INTO|(?<!\b(?:DO|FOR)\s+)UPDATE|DELETE\s+FROM)\s+(\w+)/g)) {
        if (!owned.includes(m[1]!)) problems.push(`${file}:${lineOf(text, m.index)}: ${m[0]} (not one of ${owned})`)
      }
    }
    expect(problems).toEqual([])
  })
})
