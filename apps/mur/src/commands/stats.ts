/**
 * `mur stats [--team] [--from] [--to]`, `mur stats --export csv [--output FILE]`,
 * `mur stats record …`, `mur stats flush` (and `mur team stats`).
 */
import { resolve } from "node:path"
import type { StatsSummary } from "@mur/domain"
import { Effect, Option } from "effect"
import { writeFileAtomic } from "../AtomicFile.js"
import { Cli } from "../Cli.js"
import { attempt, usageError } from "../errors.js"
import { openSession } from "../Session.js"
import { readQueue } from "../StatsQueue.js"
import { flushQueue, recordUsage } from "../UsageReporter.js"

export interface StatsArgs {
  readonly team: boolean
  readonly from: Option.Option<string>
  readonly to: Option.Option<string>
  readonly export: Option.Option<"csv">
  readonly output: Option.Option<string>
}

const DAY = /^\d{4}-\d{2}-\d{2}$/

const checkDay = (flag: string, value: Option.Option<string>) =>
  Option.match(value, {
    onNone: () => Effect.succeed(undefined),
    onSome: (day) =>
      DAY.test(day) &&
      !Number.isNaN(Date.parse(`${day}T00:00:00Z`)) &&
      new Date(`${day}T00:00:00Z`).toISOString().startsWith(day)
        ? Effect.succeed(day)
        : Effect.fail(usageError(`${flag} must be a date like 2026-11-22 (got "${day}")`))
  })

const number = (n: number) => n.toLocaleString("en-US")
const money = (n: number) => `$${n.toFixed(2)}`
const duration = (ms: number) => {
  const s = Math.round(ms / 1000)
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m ${s % 60}s`
  return `${Math.floor(m / 60)}h ${m % 60}m`
}

const summaryLines = (title: string, stats: StatsSummary) => {
  const lines = [
    title,
    `  runs ${number(stats.runs)} · time ${duration(stats.duration_ms)} · tokens ${number(stats.tokens)} · cost ${money(stats.cost_usd)}`
  ]
  if (stats.by_tool.length > 0) {
    const width = Math.max(...stats.by_tool.map((t) => t.tool.length))
    lines.push("  by tool:")
    for (const t of stats.by_tool) {
      lines.push(
        `    ${t.tool.padEnd(width)}  ${number(t.runs).padStart(6)} runs  ${number(t.tokens).padStart(10)} tokens  ${money(t.cost_usd).padStart(9)}`
      )
    }
  }
  return lines
}

const rangeText = (from: string | undefined, to: string | undefined) =>
  from || to ? `${from ?? "…"} to ${to ?? "today"}` : "the last 30 days"

export const stats = (args: StatsArgs) =>
  Effect.gen(function* () {
    const { out } = yield* Cli
    const from = yield* checkDay("--from", args.from)
    const to = yield* checkDay("--to", args.to)
    if (from && to && from > to) return yield* usageError("--from must not be after --to")
    const range = { ...(from ? { from } : {}), ...(to ? { to } : {}) }
    if (Option.isNone(args.export) && Option.isSome(args.output))
      return yield* usageError("--output goes with --export csv")
    const session = yield* openSession({ requireLogin: true })

    if (Option.isSome(args.export)) {
      const progress = out.progress("exporting usage records…")
      progress.update()
      const csv = yield* session.call((c) =>
        c.stats.export({ urlParams: { ...range, format: "csv", scope: args.team ? "team" : "me" } })
      )
      progress.done()
      const rows = Math.max(0, csv.split("\n").filter((l) => l !== "").length - 1)
      if (Option.isSome(args.output)) {
        const file = resolve(args.output.value)
        yield* attempt(() => writeFileAtomic(file, csv), `cannot write ${file}`)
        return out.result(`Wrote ${rows} record(s) to ${file}`, { output: file, rows, bytes: Buffer.byteLength(csv) })
      }
      if (out.json) return out.result(undefined, { rows, csv })
      return out.raw(csv)
    }

    if (args.team) {
      const answer = yield* session.call((c) => c.stats.team({ urlParams: range }))
      const lines = summaryLines(`Team usage, ${rangeText(from, to)}:`, answer.stats)
      if (answer.members.length > 0) {
        const width = Math.max(...answer.members.map((m) => m.email.length))
        lines.push("  by member:")
        for (const m of answer.members) {
          lines.push(
            `    ${m.email.padEnd(width)}  ${number(m.runs).padStart(6)} runs  ${number(m.tokens).padStart(10)} tokens  ${money(m.cost_usd).padStart(9)}`
          )
        }
      }
      return out.result(lines, answer)
    }
    const answer = yield* session.call((c) => c.stats.me({ urlParams: range }))
    out.result(summaryLines(`Your usage, ${rangeText(from, to)}:`, answer.stats), answer)
  })

export interface RecordArgs {
  readonly tool: string
  readonly action: string
  readonly durationMs: Option.Option<number>
  readonly tokens: Option.Option<number>
  readonly costUsd: Option.Option<number>
}

export const statsRecord = (args: RecordArgs) =>
  Effect.gen(function* () {
    const { out } = yield* Cli
    const result = yield* recordUsage({
      tool: args.tool,
      action: args.action,
      ...(Option.isSome(args.durationMs) ? { duration_ms: args.durationMs.value } : {}),
      ...(Option.isSome(args.tokens) ? { tokens_used: args.tokens.value } : {}),
      ...(Option.isSome(args.costUsd) ? { cost_usd: args.costUsd.value } : {})
    })
    const { home } = yield* Cli
    const pending = result.delivery?.pending ?? (yield* attempt(() => readQueue(home.statsQueue).length))
    if (result.undelivered)
      out.note(`Queued; not delivered yet (${result.undelivered.message}). \`mur stats flush\` delivers the queue.`)
    out.result(
      result.delivery ? `Recorded and delivered (${pending} pending).` : `Recorded (${pending} pending delivery).`,
      {
        id: result.record.id,
        queued: true,
        delivered: result.delivery !== undefined,
        pending
      }
    )
  })

export const statsFlush = Effect.gen(function* () {
  const { out } = yield* Cli
  const report = yield* flushQueue()
  out.result(
    report.delivered + report.duplicates === 0 && report.pending === 0
      ? "Nothing to deliver."
      : `Delivered ${report.delivered} record(s)${report.duplicates ? ` (${report.duplicates} already known)` : ""}; ${report.pending} pending.`,
    report
  )
})
