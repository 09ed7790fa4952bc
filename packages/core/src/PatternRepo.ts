/**
 * Patterns and their versions. The only module that knows how each store searches:
 * PostgreSQL's `tsvector` (GIN) and SQLite's FTS5 table, both ranked by relevance.
 *
 * Owns `patterns`, `pattern_versions` and SQLite's `patterns_fts` (kept in step by triggers).
 */
import { SqlClient } from "@effect/sql"
import type { ListPatternsParams, Pattern, PatternVersion } from "@mur/domain"
import { Effect, Option } from "effect"
import { batches, bool, json } from "./rows.js"

export interface PatternRow {
  readonly id: string
  readonly team_id: string
  readonly name: string
  readonly description: string
  readonly content: string
  readonly category: string | null
  readonly tags: string
  readonly author_id: string | null
  readonly is_public: unknown
  readonly usage_count: number
  readonly version: number
  readonly created_at: string
  readonly updated_at: string
  readonly deleted_at: string | null
}

export const toPattern = (row: PatternRow): Pattern => ({
  id: row.id as Pattern["id"],
  team_id: row.team_id as Pattern["team_id"],
  name: row.name,
  description: row.description,
  content: json(row.content),
  category: row.category,
  tags: json(row.tags),
  author_id: row.author_id as Pattern["author_id"],
  is_public: bool(row.is_public),
  usage_count: Number(row.usage_count),
  version: Number(row.version),
  created_at: row.created_at,
  updated_at: row.updated_at
})

const COLUMNS =
  "p.id, p.team_id, p.name, p.description, p.content, p.category, p.tags, p.author_id, p.is_public, p.usage_count, p.version, p.created_at, p.updated_at, p.deleted_at"

/** Words of a free-text search, safe for FTS5: each becomes a quoted term (implicit AND). */
export const ftsQuery = (search: string): string | null => {
  const words = search.match(/[\p{L}\p{N}_]+/gu)
  if (words === null || words.length === 0) return null
  return words
    .slice(0, 32)
    .map((w) => `"${w}"`)
    .join(" ")
}

export interface ListQuery {
  /** Team whose patterns to list, or null for every team's public patterns. */
  readonly teamId: string | null
  readonly params: ListPatternsParams
  readonly page: number
  readonly limit: number
}

export class PatternRepo extends Effect.Service<PatternRepo>()("@mur/core/PatternRepo", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const isPg = sql.onDialectOrElse({ pg: () => true, orElse: () => false })

    const findById = (id: string) =>
      sql<PatternRow>`SELECT ${sql.literal(COLUMNS)} FROM patterns p WHERE p.id = ${id} AND p.deleted_at IS NULL`.pipe(
        Effect.map((rows) => Option.fromNullable(rows[0]))
      )

    const findByName = (teamId: string, name: string) =>
      sql<PatternRow>`
        SELECT ${sql.literal(COLUMNS)} FROM patterns p
        WHERE p.team_id = ${teamId} AND lower(p.name) = ${name.toLowerCase()} AND p.deleted_at IS NULL`.pipe(
        Effect.map((rows) => Option.fromNullable(rows[0]))
      )

    const allLive = (teamId: string) =>
      sql<PatternRow>`
        SELECT ${sql.literal(COLUMNS)} FROM patterns p
        WHERE p.team_id = ${teamId} AND p.deleted_at IS NULL ORDER BY p.created_at, p.id`

    const countLive = (teamId: string) =>
      sql<{ n: number }>`SELECT count(*) AS n FROM patterns WHERE team_id = ${teamId} AND deleted_at IS NULL`.pipe(
        Effect.map((rows) => Number(rows[0]!.n))
      )

    const stored = (row: PatternRow) => ({
      id: row.id,
      team_id: row.team_id,
      name: row.name,
      description: row.description,
      content: row.content,
      category: row.category,
      tags: row.tags,
      author_id: row.author_id,
      is_public: isPg ? bool(row.is_public) : bool(row.is_public) ? 1 : 0,
      usage_count: Number(row.usage_count),
      version: Number(row.version),
      created_at: row.created_at,
      updated_at: row.updated_at,
      deleted_at: row.deleted_at
    })

    /**
     * The patterns a batch of changes may touch: those with one of `ids` (any team, live or
     * deleted, so that a reused id is noticed) and the team's live ones named one of `names`.
     */
    const findForChange = (teamId: string, ids: ReadonlyArray<string>, names: ReadonlyArray<string>) => {
      const byId = ids.length === 0 ? null : sql`p.id IN ${sql.in(ids)}`
      const byName =
        names.length === 0
          ? null
          : sql`(p.team_id = ${teamId} AND lower(p.name) IN ${sql.in(names.map((n) => n.toLowerCase()))} AND p.deleted_at IS NULL)`
      const where = byId !== null && byName !== null ? sql.or([byId, byName]) : (byId ?? byName)
      return where === null
        ? Effect.succeed([] as ReadonlyArray<PatternRow>)
        : sql<PatternRow>`SELECT ${sql.literal(COLUMNS)} FROM patterns p WHERE ${where}`
    }

    /** New patterns, in as few statements as the stores' parameter limits allow. */
    const insertMany = (rows: ReadonlyArray<PatternRow>) =>
      Effect.forEach(batches(rows, 14), (chunk) => sql`INSERT INTO patterns ${sql.insert(chunk.map(stored))}`, {
        discard: true
      })

    /**
     * Existing patterns written as they now are (one row per pattern, however many changes
     * it had). `usage_count` is left alone: counting a use does not take the team's lock.
     */
    const updateMany = (rows: ReadonlyArray<PatternRow>) =>
      Effect.forEach(
        batches(rows, 14),
        (chunk) => sql`
          INSERT INTO patterns ${sql.insert(chunk.map(stored))}
          ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = excluded.description,
            content = excluded.content, category = excluded.category, tags = excluded.tags,
            author_id = excluded.author_id, is_public = excluded.is_public, version = excluded.version,
            updated_at = excluded.updated_at, deleted_at = excluded.deleted_at`,
        { discard: true }
      )

    const incrementUsage = (id: string) =>
      sql<{ usage_count: number }>`
        UPDATE patterns SET usage_count = usage_count + 1
        WHERE id = ${id} AND deleted_at IS NULL RETURNING usage_count`.pipe(
        Effect.map((rows) => (rows[0] === undefined ? Option.none() : Option.some(Number(rows[0].usage_count))))
      )

    const insertVersions = (
      rows: ReadonlyArray<{
        pattern_id: string
        version: number
        name: string
        description: string
        content: string
        category: string | null
        tags: string
        author_id: string | null
        created_at: string
      }>
    ) =>
      Effect.forEach(batches(rows, 9), (chunk) => sql`INSERT INTO pattern_versions ${sql.insert(chunk)}`, {
        discard: true
      })

    const versions = (patternId: string) =>
      sql<Omit<PatternVersion, "content" | "tags"> & { content: string; tags: string }>`
        SELECT version, name, description, content, category, tags, author_id, created_at
        FROM pattern_versions WHERE pattern_id = ${patternId} ORDER BY version DESC`.pipe(
        Effect.map(
          (rows): ReadonlyArray<PatternVersion> =>
            rows.map((r) => ({ ...r, version: Number(r.version), content: json(r.content), tags: json(r.tags) }))
        )
      )

    const findVersion = (patternId: string, version: number) =>
      Effect.map(versions(patternId), (all) => Option.fromNullable(all.find((v) => v.version === version)))

    const list = (q: ListQuery) =>
      Effect.gen(function* () {
        const { params } = q
        const where = [sql`p.deleted_at IS NULL`]
        if (q.teamId !== null) where.push(sql`p.team_id = ${q.teamId}`)
        else where.push(isPg ? sql`p.is_public = true` : sql`p.is_public = 1`)
        if (params.category !== undefined) where.push(sql`p.category = ${params.category}`)
        if (params.tag !== undefined) {
          where.push(
            isPg
              ? sql`(p.tags::jsonb) ? ${params.tag}`
              : sql`EXISTS (SELECT 1 FROM json_each(p.tags) WHERE json_each.value = ${params.tag})`
          )
        }
        const search = params.search?.trim() ? params.search.trim() : undefined
        let from = sql`patterns p`
        let rank: string | null = null
        if (search !== undefined) {
          if (isPg) {
            where.push(sql`p.search @@ q.query`)
            from = sql`patterns p CROSS JOIN (SELECT websearch_to_tsquery('english', ${search}) || websearch_to_tsquery('simple', ${search}) AS query) q`
            rank = "ts_rank(p.search, q.query) DESC"
          } else {
            const match = ftsQuery(search)
            if (match === null) return { rows: [] as ReadonlyArray<PatternRow>, total: 0 }
            from = sql`patterns p JOIN (SELECT rowid AS rid, bm25(patterns_fts, 5.0, 2.0, 1.0) AS score FROM patterns_fts WHERE patterns_fts MATCH ${match}) f ON f.rid = p.rowid`
            rank = "f.score ASC"
          }
        }
        const order =
          params.sort === "name"
            ? sql.literal("lower(p.name) ASC, p.id ASC")
            : params.sort === "usage"
              ? sql.literal("p.usage_count DESC, p.updated_at DESC, p.id ASC")
              : params.sort === undefined && rank !== null
                ? sql.literal(`${rank}, p.updated_at DESC, p.id ASC`)
                : sql.literal("p.updated_at DESC, p.id ASC")
        const clause = sql.and(where)
        const [count] = yield* sql<{ n: number }>`SELECT count(*) AS n FROM ${from} WHERE ${clause}`
        const rows = yield* sql<PatternRow>`
          SELECT ${sql.literal(COLUMNS)} FROM ${from} WHERE ${clause}
          ORDER BY ${order} LIMIT ${q.limit} OFFSET ${(q.page - 1) * q.limit}`
        return { rows, total: Number(count?.n ?? 0) }
      })

    return {
      findById,
      findByName,
      allLive,
      countLive,
      findForChange,
      insertMany,
      updateMany,
      incrementUsage,
      insertVersions,
      versions,
      findVersion,
      list
    } as const
  })
}) {}
