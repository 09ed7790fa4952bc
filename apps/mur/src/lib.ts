/**
 * `mur` as a library: other tools record usage without spawning the `mur` binary. Records
 * go to the same offline queue (`$MUR_HOME/stats-queue.jsonl`) and are delivered with the
 * same credentials as `mur stats record` / `mur stats flush`.
 *
 * ```ts
 * import { recordUsage } from "mur"
 * await recordUsage({ tool: "my-agent", action: "run", duration_ms: 5200, tokens_used: 1800 })
 * ```
 */
import { Cause, Duration, Effect, Exit } from "effect"
import { Cli } from "./Cli.js"
import type { CliError } from "./errors.js"
import { murHome } from "./MurHome.js"
import { makeOutput } from "./Output.js"
import { type DeliveryReport, readQueue, type UsageInput } from "./StatsQueue.js"
import { flushQueue, recordUsage as record } from "./UsageReporter.js"

export { CliError } from "./errors.js"
export type { DeliveryReport, UsageInput, UsageRecord } from "./StatsQueue.js"

export interface UsageOptions {
  /** The mur home folder (default: `$MUR_HOME`, else `~/.mur`). */
  readonly home?: string
  /** Per-request time limit when delivering, in ms (default 5000). */
  readonly timeoutMs?: number
}

export interface RecordUsageOptions extends UsageOptions {
  /** Try to deliver the queue right away (default true). Never fails the call: records stay queued. */
  readonly deliver?: boolean
}

export interface RecordUsageResult {
  /** The record's id (a UUID): the server counts it once however often it is sent. */
  readonly id: string
  /** The queue was delivered to the server just now. */
  readonly delivered: boolean
  /** Records still waiting in the queue. */
  readonly pending: number
}

const silent = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream

/** Runs an effect; a failure rejects with the `CliError` itself. */
const run = async <A>(options: UsageOptions, effect: Effect.Effect<A, CliError, Cli>): Promise<A> => {
  const exit = await Effect.runPromiseExit(
    effect.pipe(
      Effect.provideService(Cli, {
        home: murHome(options.home),
        json: false,
        team: undefined,
        out: makeOutput({ json: false, stdout: silent, stderr: silent })
      })
    )
  )
  if (Exit.isSuccess(exit)) return exit.value
  throw Cause.squash(exit.cause)
}

/**
 * Queues a usage record, then tries to deliver the queue. Rejects only when the record
 * itself is invalid (a `CliError` with `exitCode` 2) or the queue cannot be written.
 */
export const recordUsage = (input: UsageInput, options: RecordUsageOptions = {}): Promise<RecordUsageResult> =>
  run(
    options,
    record(input, {
      ...(options.deliver === undefined ? {} : { deliver: options.deliver }),
      timeout: Duration.millis(options.timeoutMs ?? 5000)
    }).pipe(
      Effect.flatMap((result) =>
        Effect.gen(function* () {
          const { home } = yield* Cli
          return {
            id: result.record.id,
            delivered: result.delivery !== undefined,
            pending: result.delivery?.pending ?? readQueue(home.statsQueue).length
          }
        })
      )
    )
  )

/**
 * Delivers the queued records now. Rejects with a `CliError` whose `exitCode` says why:
 * 3 not logged in, 4 server unreachable, 1 anything else.
 */
export const flushUsage = (options: UsageOptions = {}): Promise<DeliveryReport> =>
  run(options, flushQueue({ timeout: Duration.millis(options.timeoutMs ?? 30_000) }))
