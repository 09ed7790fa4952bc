/**
 * A one-minute window per key, opened by the key's first request, in process memory. (A
 * window shared by all keys and aligned to the clock's minutes let a client send twice the
 * limit across a minute boundary, and reset a burst half-way through.) This is the counter
 * of a SQLite deployment (one process); PostgreSQL counts the same windows in its
 * `rate_limits` table so that every process of a deployment shares them (RateLimitRepo).
 */
export interface RateLimitDecision {
  readonly allowed: boolean
  /** Seconds until the key's window ends (for `Retry-After`). */
  readonly retryAfter: number
}

/** The length of a window. */
export const WINDOW_MS = 60_000

interface Window {
  readonly start: number
  count: number
}

export class RateWindows {
  private windows = new Map<string, Window>()
  private sweptAt = 0

  constructor(private readonly now: () => number = Date.now) {}

  /** Counts one request for `key`; `limit` 0 (or less) means no limit. */
  hit(key: string, limit: number): RateLimitDecision {
    if (limit <= 0) return { allowed: true, retryAfter: 0 }
    const t = this.now()
    if (t - this.sweptAt >= WINDOW_MS) this.sweep(t)
    let window = this.windows.get(key)
    if (window === undefined || t - window.start >= WINDOW_MS) {
      window = { start: t, count: 0 }
      this.windows.set(key, window)
    }
    window.count += 1
    const retryAfter = Math.max(1, Math.ceil((window.start + WINDOW_MS - t) / 1000))
    return { allowed: window.count <= limit, retryAfter }
  }

  /** Forgets ended windows, once a minute, so memory follows the keys of the last minute. */
  private sweep(t: number) {
    this.sweptAt = t
    for (const [key, window] of this.windows) if (t - window.start >= WINDOW_MS) this.windows.delete(key)
  }

  /** Keys with a window open (for tests and metrics). */
  get size(): number {
    return this.windows.size
  }
}
