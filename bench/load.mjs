// Load generator: C keep-alive connections each issuing GET <url> back to back.
//
//   node bench/load.mjs URL TOKEN SECONDS CONCURRENCY [WARMUP_SECONDS] [raw]
//
// Runs in its own process so that the servers under test keep the main event loop of
// the benchmark process to themselves. Prints one JSON object on stdout:
//   { ok, requests, seconds, rps, p50_ms, p90_ms, p99_ms, max_ms, all_requests, non200, errors, sample }
// `all_requests` also counts the warm-up; with a 6th argument `raw`, `latencies_us` lists
// every measured latency (µs) so that a caller can merge several runs.
// Only 200 responses count; anything else is counted in `non200` (with one sample) and
// stops the run early, since the numbers would no longer measure the happy path.
import http from "node:http"

const [url, token, secondsArg = "5", concurrencyArg = "32", warmupArg = "1", rawArg = ""] = process.argv.slice(2)
if (!url || !token) {
  process.stderr.write("usage: node bench/load.mjs URL TOKEN [SECONDS] [CONCURRENCY] [WARMUP_SECONDS]\n")
  process.exit(2)
}
const seconds = Number(secondsArg)
const concurrency = Number(concurrencyArg)
const warmup = Number(warmupArg)

const target = new URL(url)
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency })
const requestOptions = {
  agent,
  host: target.hostname,
  port: target.port,
  path: target.pathname + target.search,
  method: "GET",
  headers: { authorization: `Bearer ${token}`, accept: "application/json" }
}

let phase = "warmup" // warmup -> measure -> done
let measureStart = 0
let measureEnd = 0
let latencies = new Float64Array(1 << 16)
let count = 0
let allRequests = 0
let non200 = 0
let errors = 0
let sample = null
let stop = false

const record = (ms) => {
  if (count === latencies.length) {
    const next = new Float64Array(latencies.length * 2)
    next.set(latencies)
    latencies = next
  }
  latencies[count++] = ms
}

const once = () =>
  new Promise((resolve) => {
    const started = performance.now()
    const req = http.request(requestOptions, (res) => {
      const chunks = []
      res.on("data", (c) => chunks.push(c))
      res.on("end", () => {
        const ended = performance.now()
        if (res.statusCode === 200) {
          allRequests++
          // A request counts in the window it finished in.
          if (phase === "measure") record(ended - started)
        } else {
          non200++
          if (sample === null)
            sample = { status: res.statusCode, body: Buffer.concat(chunks).toString("utf8").slice(0, 500) }
          stop = true
        }
        resolve()
      })
      res.on("error", () => {
        errors++
        resolve()
      })
    })
    req.on("error", (e) => {
      errors++
      if (sample === null) sample = { error: String(e?.message) }
      if (errors > 100) stop = true
      resolve()
    })
    req.end()
  })

const worker = async () => {
  while (!stop && phase !== "done") await once()
}

const percentile = (sorted, p) => {
  if (sorted.length === 0) return null
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return Math.round(sorted[i] * 1000) / 1000
}

let measureTimer
const warmupTimer = setTimeout(() => {
  phase = "measure"
  measureStart = performance.now()
  measureTimer = setTimeout(() => {
    phase = "done"
    measureEnd = performance.now()
  }, seconds * 1000)
}, warmup * 1000)

await Promise.all(Array.from({ length: concurrency }, worker))
if (measureEnd === 0) measureEnd = performance.now()
clearTimeout(warmupTimer)
clearTimeout(measureTimer)
agent.destroy()

const elapsed = measureStart === 0 ? 0 : (measureEnd - measureStart) / 1000
const sorted = latencies.subarray(0, count).sort()
const result = {
  ok: non200 === 0 && errors === 0 && count > 0,
  requests: count,
  seconds: Math.round(elapsed * 1000) / 1000,
  rps: elapsed > 0 ? Math.round(count / elapsed) : 0,
  p50_ms: percentile(sorted, 50),
  p90_ms: percentile(sorted, 90),
  p99_ms: percentile(sorted, 99),
  max_ms: percentile(sorted, 100),
  all_requests: allRequests,
  non200,
  errors,
  sample
}
if (rawArg === "raw") result.latencies_us = Array.from(sorted, (ms) => Math.round(ms * 1000))
process.stdout.write(`${JSON.stringify(result)}\n`)
