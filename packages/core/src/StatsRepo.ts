/**
 * The stats tables: raw usage records (`stats`) and their daily rollups (`stats_daily`, one
 * row per team, user, UTC day, tool and model). Rollups are updated in the same transaction as the
 * raw rows they count, and are what every total is read from.
 *
 * Owns `stats` and `stats_daily`. Reports name users from `users` (owned by `UserRepo`),
 * count authored patterns in `patterns` (`PatternRepo`) and read retention from `teams`
 * (`TeamRepo`).
 */
import { SqlClient } from "@effect/sql"
import type { Plan } from "@mur/domain"
import { Effect } from "effect"
import { affected } from "./rows.js"

/** A raw record as stored: cost in whole micro-dollars, metadata as JSON text. */
export interface StatRow {
  readonly id: string
  readonly team_id: string | null
  readonly user_id: string
  readonly tool: string
  readonly action: string
  readonly model: string
  readonly duration_ms: number
  readonly tokens_used: number
  readonly input_tokens: number
  readonly output_tokens: number
  readonly cache_read_tokens: number
  readonly cache_write_tokens: number
  readonly cost_micros: number
  readonly cost_source: "reported" | "computed" | "none"
  readonly session_id: string | null
  readonly prompt_hash: string | null
  readonly pattern_id: string | null
  readonly metadata: string | null
  readonly created_at: string
}

/** One rollup increment. */
export interface DailyRow extends ModelSums {
  readonly team_id: string
  readonly user_id: string
  readonly day: string
  readonly tool: string
  readonly model: string
}

export interface Sums {
  readonly runs: number
  readonly duration_ms: number
  readonly tokens: number
  readonly cost_micros: number
}

/** Sums with the token breakdown and how much of the cost was computed (or is missing). */
export interface ModelSums extends Sums {
  readonly input_tokens: number
  readonly output_tokens: number
  readonly cache_read_tokens: number
  readonly cache_write_tokens: number
  readonly computed_cost_micros: number
  readonly unpriced_tokens: number
}

/** A raw record with its author's e-mail, for the export. */
export interface ExportRow extends StatRow {
  readonly user_email: string
}

/** Whose rows a query reads: a user's, a team's, or a user's within a team. */
export interface StatsScope {
  readonly userId?: string
  readonly teamId?: string
}

/** `stats_daily.team_id` of records made outside any team (the column is part of the key). */
export const NO_TEAM = ""

const SUMS =
  "sum(runs) AS runs, sum(duration_ms) AS duration_ms, sum(tokens) AS tokens, sum(cost_micros) AS cost_micros"
const MODEL_SUMS = `${SUMS}, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
  sum(cache_read_tokens) AS cache_read_tokens, sum(cache_write_tokens) AS cache_write_tokens,
  sum(computed_cost_micros) AS computed_cost_micros, sum(unpriced_tokens) AS unpriced_tokens`

/** Sums come back as text (PostgreSQL `numeric`) or numbers (SQLite); both exact below 2^53. */
const toSums = <R extends Sums>(r: R): R => ({
  ...r,
  runs: Number(r.runs ?? 0),
  duration_ms: Number(r.duration_ms ?? 0),
  tokens: Number(r.tokens ?? 0),
  cost_micros: Number(r.cost_micros ?? 0)
})
const toModelSums = <R extends ModelSums>(r: R): R => ({
  ...toSums(r),
  input_tokens: Number(r.input_tokens ?? 0),
  output_tokens: Number(r.output_tokens ?? 0),
  cache_read_tokens: Number(r.cache_read_tokens ?? 0),
  cache_write_tokens: Number(r.cache_write_tokens ?? 0),
  computed_cost_micros: Number(r.computed_cost_micros ?? 0),
  unpriced_tokens: Number(r.unpriced_tokens ?? 0)
})

export class StatsRepo extends Effect.Service<StatsRepo>()("@mur/core/StatsRepo", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient

    /** Inserts raw records, skipping ids already stored; returns the ids it inserted. */
    const insertNew = (rows: ReadonlyArray<StatRow>) =>
      rows.length === 0
        ? Effect.succeed(new Set<string>())
        : sql<{
            id: string
          }>`INSERT INTO stats ${sql.insert(rows as any)} ON CONFLICT (id) DO NOTHING RETURNING id`.pipe(
            Effect.map((inserted) => new Set(inserted.map((r) => r.id)))
          )

    /** Adds increments to the rollups (one row per key; callers sort keys to lock in one order). */
    const addDaily = (rows: ReadonlyArray<DailyRow>) =>
      rows.length === 0
        ? Effect.void
        : sql`
            INSERT INTO stats_daily ${sql.insert(rows as any)}
            ON CONFLICT (team_id, user_id, day, tool, model) DO UPDATE SET
              runs = stats_daily.runs + excluded.runs,
              duration_ms = stats_daily.duration_ms + excluded.duration_ms,
              tokens = stats_daily.tokens + excluded.tokens,
              input_tokens = stats_daily.input_tokens + excluded.input_tokens,
              output_tokens = stats_daily.output_tokens + excluded.output_tokens,
              cache_read_tokens = stats_daily.cache_read_tokens + excluded.cache_read_tokens,
              cache_write_tokens = stats_daily.cache_write_tokens + excluded.cache_write_tokens,
              cost_micros = stats_daily.cost_micros + excluded.cost_micros,
              computed_cost_micros = stats_daily.computed_cost_micros + excluded.computed_cost_micros,
              unpriced_tokens = stats_daily.unpriced_tokens + excluded.unpriced_tokens`.pipe(Effect.asVoid)

    const dailyWhere = (scope: StatsScope, from: string, to: string) => {
      const where = [sql`day >= ${from}`, sql`day <= ${to}`]
      if (scope.teamId !== undefined) where.push(sql`team_id = ${scope.teamId}`)
      if (scope.userId !== undefined) where.push(sql`user_id = ${scope.userId}`)
      return sql.and(where)
    }

    /** Rollup sums by day, tool and model over a range of days (both included). */
    const byDayToolModel = (scope: StatsScope, from: string, to: string) =>
      sql<{ day: string; tool: string; model: string } & ModelSums>`
        SELECT day, tool, model, ${sql.literal(MODEL_SUMS)} FROM stats_daily
        WHERE ${dailyWhere(scope, from, to)}
        GROUP BY day, tool, model`.pipe(Effect.map((rows) => rows.map(toModelSums)))

    /** Rollup sums of a team by user, with each user's name and e-mail. */
    const byUser = (teamId: string, from: string, to: string) =>
      sql<{ user_id: string; name: string; email: string } & Sums>`
        SELECT d.user_id, u.name, u.email, ${sql.literal(SUMS.replace(/sum\((\w+)\)/g, "sum(d.$1)"))}
        FROM stats_daily d JOIN users u ON u.id = d.user_id
        WHERE d.team_id = ${teamId} AND d.day >= ${from} AND d.day <= ${to}
        GROUP BY d.user_id, u.name, u.email`.pipe(Effect.map((rows) => rows.map(toSums)))

    /** Live patterns of a team created in `[fromTs, toTs)`, by author. */
    const authoredByUser = (teamId: string, fromTs: string, toTs: string) =>
      sql<{ user_id: string; n: number }>`
        SELECT author_id AS user_id, count(*) AS n FROM patterns
        WHERE team_id = ${teamId} AND deleted_at IS NULL AND author_id IS NOT NULL
          AND created_at >= ${fromTs} AND created_at < ${toTs}
        GROUP BY author_id`.pipe(Effect.map((rows) => rows.map((r) => ({ user_id: r.user_id, n: Number(r.n) }))))

    /**
     * One page of raw records in `[fromTs, toTs)` after the cursor, in `(created_at, id)`
     * order: keyset pagination, so each page is one index range scan however deep it is.
     */
    const exportPage = (
      scope: StatsScope,
      fromTs: string,
      toTs: string,
      after: { readonly created_at: string; readonly id: string } | null,
      limit: number
    ) => {
      const where = [sql`s.created_at >= ${fromTs}`, sql`s.created_at < ${toTs}`]
      if (scope.teamId !== undefined) where.push(sql`s.team_id = ${scope.teamId}`)
      if (scope.userId !== undefined) where.push(sql`s.user_id = ${scope.userId}`)
      if (after !== null) where.push(sql`(s.created_at, s.id) > (${after.created_at}, ${after.id})`)
      return sql<ExportRow>`
        SELECT s.id, s.team_id, s.user_id, u.email AS user_email, s.tool, s.action, s.model, s.duration_ms,
          s.tokens_used, s.input_tokens, s.output_tokens, s.cache_read_tokens, s.cache_write_tokens,
          s.cost_micros, s.cost_source, s.session_id, s.prompt_hash, s.pattern_id, s.metadata, s.created_at
        FROM stats s JOIN users u ON u.id = s.user_id
        WHERE ${sql.and(where)}
        ORDER BY s.created_at, s.id
        LIMIT ${limit}`
    }

    /**
     * Deletes the raw records made before `cutoff` of a plan's teams that keep the plan's
     * retention; rollups stay.
     */
    const purgePlan = (plan: Plan, cutoff: string) =>
      affected(
        sql`DELETE FROM stats WHERE team_id IN (SELECT id FROM teams WHERE plan = ${plan} AND retention_days IS NULL)
              AND created_at < ${cutoff}`
      )

    /** Teams with a retention of their own (days; -1 never purges). */
    const ownRetentions = sql<{ id: string; retention_days: number }>`
      SELECT id, retention_days FROM teams WHERE retention_days IS NOT NULL`

    /** Deletes one team's raw records made before `cutoff`. */
    const purgeTeam = (teamId: string, cutoff: string) =>
      affected(sql`DELETE FROM stats WHERE team_id = ${teamId} AND created_at < ${cutoff}`)

    /** Deletes raw records made outside any team before `cutoff`. */
    const purgeTeamless = (cutoff: string) =>
      affected(sql`DELETE FROM stats WHERE team_id IS NULL AND created_at < ${cutoff}`)

    return {
      insertNew,
      addDaily,
      byDayToolModel,
      byUser,
      authoredByUser,
      exportPage,
      purgePlan,
      ownRetentions,
      purgeTeam,
      purgeTeamless
    } as const
  })
}) {}
