/**
 * Prometheus metrics in the text exposition format. Plain counters and a fixed-bucket
 * histogram: recording is a few map operations, cheap enough for every request.
 */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

interface Histogram {
  readonly counts: number[]
  sum: number
  count: number
}

const escapeLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")

export class Metrics {
  private readonly requests = new Map<string, number>()
  private readonly latency = new Map<string, Histogram>()
  private readonly counters = new Map<string, number>()
  private readonly gauges = new Map<string, () => number>()

  /** Records one HTTP request by method, route template and status. */
  observeRequest(method: string, route: string, status: number, seconds: number): void {
    const key = `${method}\u0000${route}\u0000${status}`
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1)
    const hkey = `${method}\u0000${route}`
    let h = this.latency.get(hkey)
    if (h === undefined) {
      h = { counts: BUCKETS.map(() => 0), sum: 0, count: 0 }
      this.latency.set(hkey, h)
    }
    for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]!) h.counts[i]!++
    h.sum += seconds
    h.count++
  }

  /** Adds to a named counter (e.g. `mur_sync_events_total`). */
  increment(name: string, by = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + by)
  }

  /** Registers a gauge read at scrape time (e.g. open WebSockets). */
  gauge(name: string, read: () => number): void {
    this.gauges.set(name, read)
  }

  render(): string {
    const out: string[] = []
    out.push("# HELP mur_http_requests_total HTTP requests by method, route and status.")
    out.push("# TYPE mur_http_requests_total counter")
    for (const [key, n] of this.requests) {
      const [method, route, status] = key.split("\u0000")
      out.push(`mur_http_requests_total{method="${method}",route="${escapeLabel(route!)}",status="${status}"} ${n}`)
    }
    out.push("# HELP mur_http_request_duration_seconds HTTP request latency.")
    out.push("# TYPE mur_http_request_duration_seconds histogram")
    for (const [key, h] of this.latency) {
      const [method, route] = key.split("\u0000")
      const labels = `method="${method}",route="${escapeLabel(route!)}"`
      for (let i = 0; i < BUCKETS.length; i++) {
        out.push(`mur_http_request_duration_seconds_bucket{${labels},le="${BUCKETS[i]}"} ${h.counts[i]}`)
      }
      out.push(`mur_http_request_duration_seconds_bucket{${labels},le="+Inf"} ${h.count}`)
      out.push(`mur_http_request_duration_seconds_sum{${labels}} ${h.sum}`)
      out.push(`mur_http_request_duration_seconds_count{${labels}} ${h.count}`)
    }
    for (const [name, n] of this.counters) {
      out.push(`# TYPE ${name} counter`)
      out.push(`${name} ${n}`)
    }
    for (const [name, read] of this.gauges) {
      out.push(`# TYPE ${name} gauge`)
      out.push(`${name} ${read()}`)
    }
    return `${out.join("\n")}\n`
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** A low-cardinality route label: ids become `:id`, unknown paths one label. */
export const routeLabel = (path: string, matched: boolean): string => {
  if (!matched) return "unmatched"
  const q = path.indexOf("?")
  const p = q === -1 ? path : path.slice(0, q)
  return p
    .split("/")
    .map((s) => (UUID.test(s) || /^\d+$/.test(s) ? ":id" : s))
    .join("/")
}
