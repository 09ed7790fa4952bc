/**
 * Usage reporting: queue a record, then deliver the queue when the server answers. Shared
 * by `mur stats record|flush` and the `recordUsage` library function.
 */
import { Duration, Effect } from "effect"
import { Cli } from "./Cli.js"
import { attempt, type CliError } from "./errors.js"
import { openSession, type SessionOptions, toCliError } from "./Session.js"
import {
  type DeliveryReport,
  deliverQueue,
  enqueue,
  makeRecord,
  readQueue,
  type UsageInput,
  type UsageRecord
} from "./StatsQueue.js"

const isInvalid = (e: unknown) =>
  typeof e === "object" && e !== null && (e as { _tag?: string })._tag === "InvalidRequest"

/** Delivers the whole queue now; fails like any server call (3 not logged in, 4 unreachable…). */
export const flushQueue = (
  options: Pick<SessionOptions, "timeout"> = {}
): Effect.Effect<DeliveryReport, CliError, Cli> =>
  Effect.gen(function* () {
    const { home, out } = yield* Cli
    const queued = yield* attempt(() => readQueue(home.statsQueue), "cannot read the stats queue")
    if (queued.length === 0) return { delivered: 0, duplicates: 0, pending: 0, rejected: 0 }
    const session = yield* openSession({ requireLogin: true, ...options })
    const progress = out.progress("delivering usage records")
    const total = queued.length
    const report = yield* deliverQueue(
      home,
      (records: ReadonlyArray<UsageRecord>) => session.raw((c) => c.stats.record({ payload: { stats: records } })),
      {
        isRejection: isInvalid,
        onProgress: (r) => progress.update(r.delivered + r.duplicates + r.rejected, total)
      }
    ).pipe(Effect.mapError(toCliError(session.baseUrl)))
    progress.done()
    if (report.rejected > 0) {
      out.warn(`the server refused ${report.rejected} record(s) as invalid; they were moved to ${home.statsRejected}`)
    }
    return report
  })

export interface RecordResult {
  readonly record: UsageRecord
  /** Delivered to the server now (with the rest of the queue), or left queued. */
  readonly delivery: DeliveryReport | undefined
  /** Why the queue stayed, when it did. */
  readonly undelivered: CliError | undefined
}

/** Queues a record, then tries to deliver the queue (a failure leaves it queued: never lost). */
export const recordUsage = (
  input: UsageInput,
  options: { readonly deliver?: boolean; readonly timeout?: Duration.DurationInput } = {}
): Effect.Effect<RecordResult, CliError, Cli> =>
  Effect.gen(function* () {
    const { home } = yield* Cli
    const record = yield* attempt(() => makeRecord(input))
    yield* enqueue(home, record)
    if (options.deliver === false) return { record, delivery: undefined, undelivered: undefined }
    const attemptDelivery = yield* Effect.either(flushQueue({ timeout: options.timeout ?? Duration.seconds(5) }))
    return attemptDelivery._tag === "Right"
      ? { record, delivery: attemptDelivery.right, undelivered: undefined }
      : { record, delivery: undefined, undelivered: attemptDelivery.left }
  })
