/**
 * Fixed one-minute windows per key, in process memory. Each server process counts on its
 * own: with N processes behind a balancer a key gets at most N × the limit.
 */
export interface RateLimitDecision {
  readonly allowed: boolean
  /** Seconds until the window resets (for `Retry-After`). */
  readonly retryAfter: number
}

const WINDOW_MS = 60_000

export class RateLimiter {
  private windowStart = 0
  private counts = new Map<string, number>()

  constructor(private readonly now: () => number = Date.now) {}

  /** Counts one request for `key`; `limit` 0 (or less) means no limit. */
  hit(key: string, limit: number): RateLimitDecision {
    if (limit <= 0) return { allowed: true, retryAfter: 0 }
    const t = this.now()
    if (t - this.windowStart >= WINDOW_MS) {
      this.windowStart = t - (t % WINDOW_MS)
      this.counts = new Map()
    }
    const count = (this.counts.get(key) ?? 0) + 1
    this.counts.set(key, count)
    const retryAfter = Math.max(1, Math.ceil((this.windowStart + WINDOW_MS - t) / 1000))
    return { allowed: count <= limit, retryAfter }
  }
}
