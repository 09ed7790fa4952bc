/**
 * `stats-queue.jsonl`: usage records not yet delivered, one JSON object a line, each with a
 * UUID `id` made when it was recorded (the server counts a record sent twice once). A
 * record leaves the queue only after the server accepted it. Writers (`mur stats record`,
 * the `recordUsage` library function, a flush) take a lock file for their short
 * read-modify-write, and every write replaces the file atomically.
 */
import { randomUUID } from "node:crypto"
import { closeSync, openSync, readFileSync, rmSync, statSync, writeSync } from "node:fs"
import { Effect } from "effect"
import { readTextIfExists, writeFileAtomic } from "./AtomicFile.js"
import { attempt, type CliError, usageError } from "./errors.js"

/** A usage record as queued and as sent to `POST /api/stats`. */
export interface UsageRecord {
  readonly id: string
  readonly tool: string
  readonly action: string
  readonly duration_ms?: number
  readonly tokens_used?: number
  readonly cost_usd?: number
  readonly prompt_hash?: string
  readonly pattern_id?: string
  readonly metadata?: Record<string, unknown>
  readonly created_at: string
}

/** What a caller gives: everything but the id and time, which are made here when absent. */
export interface UsageInput {
  readonly tool: string
  readonly action: string
  readonly duration_ms?: number
  readonly tokens_used?: number
  readonly cost_usd?: number
  readonly prompt_hash?: string
  readonly pattern_id?: string
  readonly metadata?: Record<string, unknown>
  readonly id?: string
  readonly created_at?: string
}

const MAX_INTEGER = 2_147_483_647
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Checks a record the way the server will, so a bad one is refused now rather than stuck in the queue. */
export const makeRecord = (input: UsageInput): UsageRecord => {
  const text = (field: string, v: unknown) => {
    if (typeof v !== "string" || v.trim() === "" || v.length > 100 || v.includes("\u0000"))
      throw usageError(`${field} must be 1 to 100 characters`)
    return v
  }
  const count = (field: string, v: unknown) => {
    if (v === undefined) return undefined
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > MAX_INTEGER)
      throw usageError(`${field} must be a whole number from 0 to ${MAX_INTEGER}`)
    return v
  }
  if (
    input.cost_usd !== undefined &&
    (typeof input.cost_usd !== "number" || !(input.cost_usd >= 0 && input.cost_usd <= 1_000_000))
  )
    throw usageError("cost_usd must be a number from 0 to 1000000")
  if (input.id !== undefined && !UUID.test(input.id)) throw usageError("id must be a UUID")
  if (input.pattern_id !== undefined && !UUID.test(input.pattern_id)) throw usageError("pattern_id must be a UUID")
  if (input.created_at !== undefined && Number.isNaN(Date.parse(input.created_at)))
    throw usageError("created_at must be an RFC 3339 time")
  const record: Record<string, unknown> = {
    id: input.id ?? randomUUID(),
    tool: text("tool", input.tool),
    action: text("action", input.action),
    duration_ms: count("duration_ms", input.duration_ms),
    tokens_used: count("tokens_used", input.tokens_used),
    cost_usd: input.cost_usd,
    prompt_hash: input.prompt_hash,
    pattern_id: input.pattern_id,
    metadata: input.metadata,
    created_at: input.created_at ?? new Date().toISOString()
  }
  for (const key of Object.keys(record)) if (record[key] === undefined) delete record[key]
  return record as unknown as UsageRecord
}

/** The queued records (lines that are not records are skipped). */
export const readQueue = (path: string): ReadonlyArray<UsageRecord> => {
  const text = readTextIfExists(path)
  if (!text) return []
  const records: Array<UsageRecord> = []
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue
    try {
      const r = JSON.parse(line)
      if (r && typeof r.id === "string" && typeof r.tool === "string" && typeof r.action === "string") records.push(r)
    } catch {
      // A damaged line cannot be delivered; it is dropped at the next rewrite.
    }
  }
  return records
}

const writeQueue = (path: string, records: ReadonlyArray<UsageRecord>) =>
  writeFileAtomic(path, records.map((r) => `${JSON.stringify(r)}\n`).join(""))

/** A lock older than this, or held by a process that is gone, is broken. */
const STALE_LOCK_MS = 30_000
const LOCK_WAIT_MS = 10_000

const lockIsStale = (lockPath: string): boolean => {
  try {
    const pid = Number(readFileSync(lockPath, "utf8").trim())
    if (Date.now() - statSync(lockPath).mtimeMs > STALE_LOCK_MS) return true
    if (Number.isInteger(pid) && pid > 0) {
      try {
        process.kill(pid, 0)
      } catch (e) {
        return (e as NodeJS.ErrnoException).code === "ESRCH"
      }
    }
    return false
  } catch {
    return false
  }
}

/** Runs `f` holding the queue's lock file. */
export const withQueueLock = <A>(lockPath: string, f: () => A): Effect.Effect<A, CliError> =>
  Effect.gen(function* () {
    const started = Date.now()
    let fd: number | undefined
    while (fd === undefined) {
      fd = yield* attempt(() => {
        try {
          const opened = openSync(lockPath, "wx")
          writeSync(opened, `${process.pid}\n`)
          return opened
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e
          if (lockIsStale(lockPath)) rmSync(lockPath, { force: true })
          return undefined
        }
      }, "cannot lock the stats queue")
      if (fd === undefined) {
        if (Date.now() - started > LOCK_WAIT_MS) {
          return yield* attempt(() => {
            throw new Error(`${lockPath} is held by another process`)
          }, "cannot lock the stats queue")
        }
        yield* Effect.sleep(15)
      }
    }
    const held = fd
    return yield* attempt(f, "cannot update the stats queue").pipe(
      Effect.ensuring(
        Effect.sync(() => {
          closeSync(held)
          rmSync(lockPath, { force: true })
        })
      )
    )
  })

/** Appends a record to the queue. */
export const enqueue = (paths: { statsQueue: string; statsLock: string }, record: UsageRecord) =>
  withQueueLock(paths.statsLock, () => writeQueue(paths.statsQueue, [...readQueue(paths.statsQueue), record]))

/** Removes delivered records (by id) from the queue. */
export const dequeue = (paths: { statsQueue: string; statsLock: string }, ids: ReadonlySet<string>) =>
  withQueueLock(paths.statsLock, () => {
    const records = readQueue(paths.statsQueue)
    const left = records.filter((r) => !ids.has(r.id))
    if (left.length !== records.length) writeQueue(paths.statsQueue, left)
    return left.length
  })

export interface DeliveryReport {
  /** Records the server counted now. */
  delivered: number
  /** Records the server already had (sent before, e.g. by an interrupted flush). */
  duplicates: number
  /** Records still queued. */
  pending: number
  /** Records the server refused as invalid, moved out of the queue. */
  rejected: number
}

/** The largest batch `POST /api/stats` takes. */
export const MAX_BATCH = 1000

/**
 * Sends the queue in batches through `send`; each batch leaves the queue once the server
 * accepted it. A batch the server refuses as invalid (`isRejection`) is sent again one
 * record at a time, and a record refused on its own is moved to `rejectedPath` (kept, not
 * lost, and no longer blocking the queue). Any other error stops the delivery; what was
 * accepted so far stays delivered.
 */
export const deliverQueue = <E>(
  paths: { statsQueue: string; statsLock: string; statsRejected: string },
  send: (records: ReadonlyArray<UsageRecord>) => Effect.Effect<{ accepted: number; duplicates: number }, E>,
  options: {
    readonly batchSize?: number
    readonly isRejection?: (e: E) => boolean
    readonly onProgress?: (report: DeliveryReport) => void
  } = {}
): Effect.Effect<DeliveryReport, E | CliError> =>
  Effect.gen(function* () {
    const batchSize = Math.min(options.batchSize ?? 500, MAX_BATCH)
    const report: DeliveryReport = { delivered: 0, duplicates: 0, pending: 0, rejected: 0 }
    const sent = new Set<string>()
    const isRejection = options.isRejection ?? (() => false)
    const accept = (batch: ReadonlyArray<UsageRecord>, answer: { accepted: number; duplicates: number }) =>
      Effect.gen(function* () {
        for (const r of batch) sent.add(r.id)
        report.delivered += answer.accepted
        report.duplicates += answer.duplicates
        report.pending = yield* dequeue(paths, new Set(batch.map((r) => r.id)))
      })
    while (true) {
      const queued = yield* attempt(() => readQueue(paths.statsQueue), "cannot read the stats queue")
      // Records sent in this run are not sent again (a concurrent writer may rewrite the file meanwhile).
      const batch = queued.filter((r) => !sent.has(r.id)).slice(0, batchSize)
      report.pending = queued.length
      if (batch.length === 0) break
      const answer = yield* Effect.either(send(batch))
      if (answer._tag === "Right") {
        yield* accept(batch, answer.right)
      } else if (isRejection(answer.left)) {
        for (const record of batch) {
          const single = yield* Effect.either(send([record]))
          if (single._tag === "Right") yield* accept([record], single.right)
          else if (isRejection(single.left)) {
            sent.add(record.id)
            report.rejected++
            yield* withQueueLock(paths.statsLock, () => {
              const kept = readTextIfExists(paths.statsRejected) ?? ""
              writeFileAtomic(paths.statsRejected, `${kept}${JSON.stringify(record)}\n`)
            })
            report.pending = yield* dequeue(paths, new Set([record.id]))
          } else return yield* Effect.fail(single.left)
        }
      } else return yield* Effect.fail(answer.left)
      options.onProgress?.(report)
    }
    return report
  })
