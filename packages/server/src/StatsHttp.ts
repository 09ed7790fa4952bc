/** Handlers of the stats routes: resolve the team and the range, call one `Stats` function. */
import { HttpApiBuilder, type HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { type ExportRow, resolveRange, Stats } from "@mur/core"
import { CurrentUser, EXPORT_COLUMNS, MurApi } from "@mur/domain"
import { Chunk, Effect, Stream } from "effect"
import { csvRow, formatMicros } from "./Csv.js"
import { Edge } from "./Edge.js"
import { dieOnSql, makeActiveTeam } from "./HandlerSupport.js"

const encoder = new TextEncoder()

const exportRow = (r: ExportRow) =>
  csvRow([
    r.created_at,
    r.user_id,
    r.user_email,
    r.tool,
    r.action,
    Number(r.duration_ms),
    Number(r.tokens_used),
    formatMicros(Number(r.cost_micros)),
    r.pattern_id,
    r.prompt_hash,
    r.metadata,
    r.model,
    Number(r.input_tokens),
    Number(r.output_tokens),
    Number(r.cache_read_tokens),
    Number(r.cache_write_tokens),
    r.cost_source,
    r.session_id
  ])

/** The header row, then one encoded chunk per page of rows: never more than a page in memory. */
const csvBody = <E>(rows: Stream.Stream<ExportRow, E>) =>
  Stream.concat(
    Stream.succeed(encoder.encode(csvRow(EXPORT_COLUMNS))),
    Stream.mapChunks(rows, (chunk) => Chunk.of(encoder.encode(Chunk.join(Chunk.map(chunk, exportRow), ""))))
  )

export const StatsLive = HttpApiBuilder.group(MurApi, "stats", (handlers) =>
  Effect.gen(function* () {
    const stats = yield* Stats
    const edge = yield* Edge
    const activeTeam = yield* makeActiveTeam
    const names = (request: HttpServerRequest.HttpServerRequest) => (request.headers["x-team"] ?? "").trim() !== ""
    /** The active team; null when the caller is in no team and names none (personal records). */
    const teamOrNone = (request: HttpServerRequest.HttpServerRequest) =>
      activeTeam(request).pipe(
        Effect.catchIf(
          (e) => e._tag === "NotFound" && !names(request),
          () => Effect.succeed(null)
        )
      )
    /** The team `X-Team` names, or null: the caller's own records in every team. */
    const namedTeam = (request: HttpServerRequest.HttpServerRequest) =>
      names(request) ? activeTeam(request) : Effect.succeed(null)

    return handlers
      .handle("record", ({ request, payload }) =>
        Effect.gen(function* () {
          const { user } = yield* CurrentUser
          const active = yield* teamOrNone(request)
          const result = yield* dieOnSql(stats.record(user, active?.team.id ?? null, payload.stats))
          edge.metrics.increment("mur_stats_ingested_total", result.accepted)
          return result
        })
      )
      .handle("me", ({ request, urlParams }) =>
        Effect.gen(function* () {
          const range = yield* resolveRange(urlParams)
          const { user } = yield* CurrentUser
          const active = yield* namedTeam(request)
          return { stats: yield* dieOnSql(stats.mine(user, active?.team.id ?? null, range)) }
        })
      )
      .handle("team", ({ request, urlParams }) =>
        Effect.gen(function* () {
          const range = yield* resolveRange(urlParams)
          const active = yield* activeTeam(request)
          return yield* dieOnSql(stats.team(active, range))
        })
      )
      .handle("leaderboard", ({ request, urlParams }) =>
        Effect.gen(function* () {
          const range = yield* resolveRange(urlParams)
          const active = yield* activeTeam(request)
          return { leaderboard: yield* dieOnSql(stats.leaderboard(active, range, urlParams.metric ?? "runs")) }
        })
      )
      .handle("export", ({ request, urlParams }) =>
        Effect.gen(function* () {
          const range = yield* resolveRange(urlParams)
          const scope = urlParams.scope ?? "me"
          const { user } = yield* CurrentUser
          const active = scope === "team" ? yield* activeTeam(request) : yield* namedTeam(request)
          const rows = yield* stats.exportRows(user, scope, active, range)
          return HttpServerResponse.stream(csvBody(rows), {
            contentType: "text/csv; charset=utf-8",
            headers: {
              "content-disposition": `attachment; filename="mur-stats-${scope}-${range.from}-${range.to}.csv"`,
              "cache-control": "no-store"
            }
          })
        })
      )
  })
)
