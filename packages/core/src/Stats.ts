/**
 * Usage stats: ingestion (idempotent by the client's record id), totals served from the
 * daily rollups, the team leaderboard, the raw export, and the retention purge.
 *
 * Money is counted in whole micro-dollars (integers) from the moment a record arrives, so
 * a sum of any number of records is exact; it becomes dollars only in the answer.
 */
import type { SqlError } from "@effect/sql/SqlError"
import {
  type CostSource,
  type DayStats,
  type ExportScope,
  type Forbidden,
  InvalidRequest,
  type LeaderboardEntry,
  type LeaderboardMetric,
  type MemberStats,
  type ModelStats,
  PlanLimits,
  type RecordStatsResponse,
  type StatRecord,
  type StatsSummary,
  type TeamStatsResponse,
  type TodayStats,
  type ToolStats,
  type User,
  type UserId
} from "@mur/domain"
import { Chunk, Effect, Either, Option, Stream } from "effect"
import { ChangeFeed } from "./ChangeFeed.js"
import * as Policy from "./Policy.js"
import { costMicros, lookup, Prices } from "./Prices.js"
import { newId, now } from "./rows.js"
import {
  type DailyRow,
  type ExportRow,
  type ModelSums,
  NO_TEAM,
  type StatRow,
  StatsRepo,
  type StatsScope,
  type Sums
} from "./StatsRepo.js"
import { TeamRepo } from "./TeamRepo.js"
import type { ActiveTeam } from "./Teams.js"

/** A range of UTC days, both included. */
export interface StatsRange {
  readonly from: string
  readonly to: string
}

const DAY_MS = 86_400_000
/** Rows per page of the export: one index range scan each, a bounded amount of memory. */
export const EXPORT_PAGE_ROWS = 1000

const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10)
const addDays = (day: string, days: number) => dayOf(Date.parse(`${day}T00:00:00.000Z`) + days * DAY_MS)
const startOf = (day: string) => `${day}T00:00:00.000Z`

/** Micro-dollars to dollars: exact integers in, the nearest double (shortest decimal) out. */
export const dollars = (micros: number): number => micros / 1_000_000
/** Dollars to whole micro-dollars. */
export const micros = (usd: number): number => Math.round(usd * 1_000_000)

/**
 * The range a query covers: `to` defaults to today (UTC), `from` to 29 days before `to`,
 * so the default is the last 30 days.
 */
export const resolveRange = (
  params: { readonly from?: string | undefined; readonly to?: string | undefined },
  today: string = dayOf(Date.now())
): Effect.Effect<StatsRange, InvalidRequest> => {
  const to = params.to ?? today
  const from = params.from ?? addDays(to, -29)
  return from > to
    ? Effect.fail(
        InvalidRequest.invalid(`Invalid request: from (${from}) is after to (${to})`, [
          { path: "from", message: `must not be after to (${to})` }
        ])
      )
    : Effect.succeed({ from, to })
}

const zero: Sums = { runs: 0, duration_ms: 0, tokens: 0, cost_micros: 0 }
const add = (a: Sums, b: Sums): Sums => ({
  runs: a.runs + b.runs,
  duration_ms: a.duration_ms + b.duration_ms,
  tokens: a.tokens + b.tokens,
  cost_micros: a.cost_micros + b.cost_micros
})
const zeroModel: ModelSums = {
  ...zero,
  input_tokens: 0,
  output_tokens: 0,
  cache_read_tokens: 0,
  cache_write_tokens: 0,
  computed_cost_micros: 0,
  unpriced_tokens: 0
}
const addModel = (a: ModelSums, b: ModelSums): ModelSums => ({
  ...add(a, b),
  input_tokens: a.input_tokens + b.input_tokens,
  output_tokens: a.output_tokens + b.output_tokens,
  cache_read_tokens: a.cache_read_tokens + b.cache_read_tokens,
  cache_write_tokens: a.cache_write_tokens + b.cache_write_tokens,
  computed_cost_micros: a.computed_cost_micros + b.computed_cost_micros,
  unpriced_tokens: a.unpriced_tokens + b.unpriced_tokens
})
const wire = (s: Sums) => ({
  runs: s.runs,
  duration_ms: s.duration_ms,
  tokens: s.tokens,
  cost_usd: dollars(s.cost_micros)
})

/** Which a cost figure is: reported, computed from prices, some of each, or none known. */
export const costSource = (s: Pick<ModelSums, "cost_micros" | "computed_cost_micros">): CostSource =>
  s.cost_micros === 0
    ? "none"
    : s.computed_cost_micros === 0
      ? "reported"
      : s.computed_cost_micros === s.cost_micros
        ? "computed"
        : "mixed"

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

/**
 * Totals, by tool (most runs first, then by name), by model (most tokens first, then by
 * name) and by day (oldest first) from rollup sums.
 */
const summarize = (
  rows: ReadonlyArray<{ readonly day: string; readonly tool: string; readonly model: string } & ModelSums>
) => {
  let total = zero
  const tools = new Map<string, Sums>()
  const models = new Map<string, ModelSums>()
  const days = new Map<string, Sums>()
  for (const r of rows) {
    total = add(total, r)
    tools.set(r.tool, add(tools.get(r.tool) ?? zero, r))
    models.set(r.model, addModel(models.get(r.model) ?? zeroModel, r))
    days.set(r.day, add(days.get(r.day) ?? zero, r))
  }
  const by_tool: Array<ToolStats> = [...tools]
    .sort(([ta, a], [tb, b]) => b.runs - a.runs || byName(ta, tb))
    .map(([tool, s]) => ({ tool, ...wire(s) }))
  const by_model: Array<ModelStats> = [...models]
    .sort(([ma, a], [mb, b]) => b.tokens - a.tokens || byName(ma, mb))
    .map(([model, s]) => ({
      model,
      ...wire(s),
      input_tokens: s.input_tokens,
      output_tokens: s.output_tokens,
      cache_read_tokens: s.cache_read_tokens,
      cache_write_tokens: s.cache_write_tokens,
      cost_source: costSource(s),
      unpriced_tokens: s.unpriced_tokens
    }))
  const by_day: Array<DayStats> = [...days]
    .sort(([a], [b]) => byName(a, b))
    .map(([date, s]) => ({ date, runs: s.runs, tokens: s.tokens, cost_usd: dollars(s.cost_micros) }))
  return { total, by_tool, by_model, by_day }
}

/**
 * One usage record on its way into the store, whichever entry point it came from (REST,
 * `/ws/sync`, OTLP): a run (`runs` 1) or, from a metric, usage with no run of its own (0).
 */
export interface Usage {
  /** Lower-case UUID: a record stored with this id already makes this one a duplicate. */
  readonly id: string
  readonly tool: string
  readonly action: string
  /** `""` when the source named none. */
  readonly model: string
  readonly runs: 0 | 1
  readonly duration_ms: number
  /** All tokens; at least the sum of the four kinds. */
  readonly tokens: number
  readonly input_tokens: number
  readonly output_tokens: number
  readonly cache_read_tokens: number
  readonly cache_write_tokens: number
  /** What the source says it cost, in micro-dollars; null when it says nothing. */
  readonly reported_cost_micros: number | null
  readonly session_id: string | null
  readonly prompt_hash: string | null
  readonly pattern_id: string | null
  readonly metadata: string | null
  /** RFC 3339 UTC, as stored. */
  readonly created_at: string
}

/** A record of the REST contract (or a socket `stat_recorded`) as Usage. */
export const usageOf = (s: StatRecord, at: string): Usage => {
  const input_tokens = s.input_tokens ?? 0
  const output_tokens = s.output_tokens ?? 0
  const cache_read_tokens = s.cache_read_tokens ?? 0
  const cache_write_tokens = s.cache_write_tokens ?? 0
  return {
    id: (s.id ?? newId()).toLowerCase(),
    tool: s.tool,
    action: s.action,
    model: s.model ?? "",
    runs: 1,
    duration_ms: s.duration_ms ?? 0,
    tokens: s.tokens_used ?? input_tokens + output_tokens + cache_read_tokens + cache_write_tokens,
    input_tokens,
    output_tokens,
    cache_read_tokens,
    cache_write_tokens,
    reported_cost_micros: s.cost_usd === undefined ? null : micros(s.cost_usd),
    session_id: s.session_id ?? null,
    prompt_hash: s.prompt_hash ?? null,
    pattern_id: s.pattern_id?.toLowerCase() ?? null,
    metadata: s.metadata == null ? null : JSON.stringify(s.metadata),
    created_at: s.created_at === undefined ? at : new Date(s.created_at).toISOString()
  }
}

const byNameThenId = (a: { name: string; id: string }, b: { name: string; id: string }) =>
  a.name < b.name ? -1 : a.name > b.name ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0

/** Standard competition ranking over values sorted high to low: ties share a rank (1, 2, 2, 4). */
export const rank = <A extends { readonly value: number }>(sorted: ReadonlyArray<A>): Array<A & { rank: number }> => {
  const out: Array<A & { rank: number }> = []
  sorted.forEach((item, i) => {
    const prev = out[i - 1]
    out.push({ ...item, rank: prev !== undefined && prev.value === item.value ? prev.rank : i + 1 })
  })
  return out
}

export class Stats extends Effect.Service<Stats>()("@mur/core/Stats", {
  effect: Effect.gen(function* () {
    const repo = yield* StatsRepo
    const teams = yield* TeamRepo
    const feed = yield* ChangeFeed
    const prices = yield* Prices

    /**
     * Stores usage for a user (in a team, or in none) and adds it to the rollups, in one
     * transaction. Where no cost is reported it is computed from the price table (when the
     * model has a price and the token kinds are known). A record whose id is already stored
     * (earlier, in this batch, or by a concurrent request on any process) is a duplicate and
     * changes nothing. `inTransaction` runs inside the same transaction, after the insert,
     * with the ids that were new (the OTLP receiver keeps its series state there).
     */
    const ingest = <E = never, R = never>(
      user: User,
      teamId: string | null,
      usage: ReadonlyArray<Usage>,
      inTransaction?: (inserted: ReadonlySet<string>) => Effect.Effect<void, E, R>
    ): Effect.Effect<RecordStatsResponse, SqlError | E, R> =>
      Effect.gen(function* () {
        const priceTable = usage.some((u) => u.reported_cost_micros === null && u.model !== "")
          ? yield* prices.table
          : undefined
        const byId = new Map<string, { row: StatRow; runs: number }>()
        for (const u of usage) {
          if (byId.has(u.id)) continue
          let cost = u.reported_cost_micros
          let source: StatRow["cost_source"] = cost === null ? "none" : "reported"
          if (cost === null && priceTable !== undefined && u.model !== "") {
            const price = lookup(priceTable, u.model)
            const counts = {
              input: u.input_tokens,
              output: u.output_tokens,
              cacheRead: u.cache_read_tokens,
              cacheWrite: u.cache_write_tokens
            }
            if (price !== undefined && counts.input + counts.output + counts.cacheRead + counts.cacheWrite > 0) {
              cost = costMicros(price.value, counts)
              source = "computed"
            }
          }
          byId.set(u.id, {
            runs: u.runs,
            row: {
              id: u.id,
              team_id: teamId,
              user_id: user.id,
              tool: u.tool,
              action: u.action,
              model: u.model,
              duration_ms: u.duration_ms,
              tokens_used: u.tokens,
              input_tokens: u.input_tokens,
              output_tokens: u.output_tokens,
              cache_read_tokens: u.cache_read_tokens,
              cache_write_tokens: u.cache_write_tokens,
              cost_micros: cost ?? 0,
              cost_source: source,
              session_id: u.session_id,
              prompt_hash: u.prompt_hash,
              pattern_id: u.pattern_id,
              metadata: u.metadata,
              created_at: u.created_at
            }
          })
        }
        // Sorted keys: concurrent batches sharing records or rollup rows lock them in one order.
        const rows = [...byId.values()].sort((a, b) => (a.row.id < b.row.id ? -1 : 1))
        const accepted = yield* feed.transaction(
          Effect.gen(function* () {
            const inserted = yield* repo.insertNew(rows.map((r) => r.row))
            const daily = new Map<string, DailyRow>()
            for (const { row: r, runs } of rows) {
              if (!inserted.has(r.id)) continue
              const day = r.created_at.slice(0, 10)
              const key = `${day}\u0000${r.tool}\u0000${r.model}`
              const prev = daily.get(key) ?? {
                ...zeroModel,
                team_id: teamId ?? NO_TEAM,
                user_id: user.id,
                day,
                tool: r.tool,
                model: r.model
              }
              daily.set(key, {
                ...prev,
                runs: prev.runs + runs,
                duration_ms: prev.duration_ms + r.duration_ms,
                tokens: prev.tokens + r.tokens_used,
                input_tokens: prev.input_tokens + r.input_tokens,
                output_tokens: prev.output_tokens + r.output_tokens,
                cache_read_tokens: prev.cache_read_tokens + r.cache_read_tokens,
                cache_write_tokens: prev.cache_write_tokens + r.cache_write_tokens,
                cost_micros: prev.cost_micros + r.cost_micros,
                computed_cost_micros: prev.computed_cost_micros + (r.cost_source === "computed" ? r.cost_micros : 0),
                unpriced_tokens: prev.unpriced_tokens + (r.cost_source === "none" ? r.tokens_used : 0)
              })
            }
            const keys = [...daily.keys()].sort()
            yield* repo.addDaily(keys.map((k) => daily.get(k)!))
            if (inTransaction !== undefined) yield* inTransaction(inserted)
            if (inserted.size > 0 && teamId !== null) yield* feed.publish({ kind: "stats", teamId })
            return inserted.size
          })
        )
        return { accepted, duplicates: usage.length - accepted }
      })

    /** Stores a batch of the REST contract's records (see `ingest`). */
    const record = (
      user: User,
      teamId: string | null,
      inputs: ReadonlyArray<StatRecord>
    ): Effect.Effect<RecordStatsResponse, SqlError> => {
      const at = now()
      return ingest(
        user,
        teamId,
        inputs.map((s) => usageOf(s, at))
      )
    }

    const summary = (scope: StatsScope, range: StatsRange): Effect.Effect<StatsSummary, SqlError> =>
      Effect.map(repo.byDayToolModel(scope, range.from, range.to), (rows) => {
        const { total, by_tool, by_model, by_day } = summarize(rows)
        return { ...wire(total), by_tool, by_model, by_day }
      })

    /** The caller's own stats: in one team, or (teamId null) everywhere. */
    const mine = (user: User, teamId: string | null, range: StatsRange) =>
      summary(teamId === null ? { userId: user.id } : { userId: user.id, teamId }, range)

    /**
     * A team's stats (admins only): totals, and one row per current member (zeros included)
     * and per former member with stats in the range, so the rows add up to the totals.
     */
    const team = (active: ActiveTeam, range: StatsRange): Effect.Effect<TeamStatsResponse, Forbidden | SqlError> =>
      Effect.gen(function* () {
        yield* Policy.require(active, "stats.team_read")
        const teamId = active.team.id
        // Three independent reads: on PostgreSQL they go out at once, on separate connections.
        const [stats, sums, current] = yield* Effect.all(
          [summary({ teamId }, range), repo.byUser(teamId, range.from, range.to), teams.members(teamId)],
          { concurrency: "unbounded" }
        )
        const rows = new Map<string, { id: string; name: string; email: string; sums: Sums }>()
        for (const m of current) rows.set(m.id, { id: m.id, name: m.name, email: m.email, sums: zero })
        for (const s of sums) rows.set(s.user_id, { id: s.user_id, name: s.name, email: s.email, sums: s })
        const members: Array<MemberStats> = [...rows.values()]
          .sort((a, b) => b.sums.runs - a.sums.runs || byNameThenId(a, b))
          .map((r) => ({ user_id: r.id as UserId, name: r.name, email: r.email, ...wire(r.sums) }))
        return { stats, members }
      })

    /** The team's current members ranked by a metric over the range; ties share a rank. */
    const leaderboard = (
      active: ActiveTeam,
      range: StatsRange,
      metric: LeaderboardMetric
    ): Effect.Effect<ReadonlyArray<LeaderboardEntry>, SqlError> =>
      Effect.gen(function* () {
        const teamId = active.team.id
        // Integers throughout (micro-dollars for cost), so ties are exact.
        const pick = (s: Sums) => (metric === "runs" ? s.runs : metric === "tokens" ? s.tokens : s.cost_micros)
        const [current, rows] = yield* Effect.all(
          [
            teams.members(teamId),
            metric === "patterns"
              ? repo.authoredByUser(teamId, startOf(range.from), startOf(addDays(range.to, 1)))
              : Effect.map(repo.byUser(teamId, range.from, range.to), (sums) =>
                  sums.map((s) => ({ user_id: s.user_id, n: pick(s) }))
                )
          ],
          { concurrency: "unbounded" }
        )
        const values = new Map(rows.map((r) => [r.user_id, r.n]))
        const sorted = current
          .map((m) => ({ id: m.id, name: m.name, value: values.get(m.id) ?? 0 }))
          .sort((a, b) => b.value - a.value || byNameThenId(a, b))
        return rank(sorted).map((r) => ({
          rank: r.rank,
          user_id: r.id,
          name: r.name,
          value: metric === "cost_usd" ? dollars(r.value) : r.value
        }))
      })

    /** A team's totals for today (UTC): the body of `stats_updated`. */
    const today = (teamId: string): Effect.Effect<TodayStats, SqlError> => {
      const date = dayOf(Date.now())
      return Effect.map(summary({ teamId }, { from: date, to: date }), (s) => ({
        date,
        runs: s.runs,
        duration_ms: s.duration_ms,
        tokens: s.tokens,
        cost_usd: s.cost_usd,
        by_tool: s.by_tool
      }))
    }

    /**
     * The raw records of a range, streamed page by page (keyset pagination): memory stays
     * bounded by one page however many rows there are. `team` scope is for admins.
     */
    const exportRows = (
      user: User,
      scope: ExportScope,
      active: ActiveTeam | null,
      range: StatsRange
    ): Effect.Effect<Stream.Stream<ExportRow, SqlError>, Forbidden> => {
      if (scope === "team") {
        const allowed = Policy.check(active, "stats.team_export")
        if (Either.isLeft(allowed)) return Effect.fail(allowed.left)
      }
      const where: StatsScope =
        scope === "team"
          ? { teamId: active!.team.id }
          : active === null
            ? { userId: user.id }
            : { userId: user.id, teamId: active.team.id }
      const fromTs = startOf(range.from)
      const toTs = startOf(addDays(range.to, 1))
      return Effect.succeed(
        Stream.paginateChunkEffect(null as { readonly created_at: string; readonly id: string } | null, (after) =>
          Effect.map(repo.exportPage(where, fromTs, toTs, after, EXPORT_PAGE_ROWS), (rows) => {
            const last = rows[rows.length - 1]
            return [
              Chunk.unsafeFromArray(rows as Array<ExportRow>),
              last === undefined || rows.length < EXPORT_PAGE_ROWS
                ? Option.none()
                : Option.some({ created_at: last.created_at, id: last.id })
            ] as const
          })
        )
      )
    }

    /**
     * Deletes raw records older than their team's retention: its own where an operator set
     * one (`teams.retention_days`, -1 never), else its plan's; records made outside any team
     * keep the free plan's. The rollups are not touched, so totals stay whole.
     */
    const purgeRaw = (at: number = Date.now()) =>
      Effect.gen(function* () {
        const cutoff = (days: number) => new Date(at - days * DAY_MS).toISOString()
        const deleted: Record<string, number> = {}
        for (const plan of ["free", "team", "enterprise"] as const) {
          const days = PlanLimits[plan].retentionDays
          deleted[plan] = days === null ? 0 : yield* repo.purgePlan(plan, cutoff(days))
        }
        deleted.own_limit = 0
        for (const team of yield* repo.ownRetentions) {
          const days = Number(team.retention_days)
          if (days >= 0) deleted.own_limit += yield* repo.purgeTeam(team.id, cutoff(days))
        }
        deleted.no_team = yield* repo.purgeTeamless(cutoff(PlanLimits.free.retentionDays ?? 7))
        return { deleted: Object.values(deleted).reduce((a, b) => a + b, 0), by_plan: deleted }
      })

    return { ingest, record, mine, team, leaderboard, today, exportRows, purgeRaw } as const
  }),
  dependencies: [StatsRepo.Default, TeamRepo.Default, Prices.Default]
}) {}
