// Summarises a V8 .cpuprofile (from `node --cpu-prof`): top functions by self time, and
// self time per package / area. Usage:
//
//   BENCH_ONLY=mur BENCH_STORES=sqlite node --cpu-prof --cpu-prof-dir=/tmp/murprof bench/run.mjs
//   node bench/profile-summary.mjs /tmp/murprof/*.cpuprofile [TOP]
//
// Inclusive ("total") times are also given for the functions named in INCLUSIVE below.
import { readFileSync } from "node:fs"

const [file, topArg = "40"] = process.argv.slice(2)
if (!file) {
  process.stderr.write("usage: node bench/profile-summary.mjs FILE.cpuprofile [TOP]\n")
  process.exit(2)
}
const top = Number(topArg)
const profile = JSON.parse(readFileSync(file, "utf8"))
const nodes = new Map(profile.nodes.map((n) => [n.id, n]))
const parent = new Map()
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)

// Self time per node id, in microseconds: each sample is charged the delta that follows it.
const self = new Map()
const { samples, timeDeltas } = profile
for (let i = 0; i < samples.length; i++) {
  const dt = timeDeltas[i + 1] ?? 0
  self.set(samples[i], (self.get(samples[i]) ?? 0) + dt)
}
const total = [...self.values()].reduce((a, b) => a + b, 0)
const idle = [...self]
  .filter(([id]) => nodes.get(id).callFrame.functionName === "(idle)")
  .reduce((a, [, t]) => a + t, 0)
const busy = total - idle

const area = (url) => {
  if (!url) return "(native/V8)"
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (m) return m[1]
  if (url.startsWith("node:")) return "node: core"
  if (/\/packages\/([^/]+)\//.test(url)) return `@mur/${/\/packages\/([^/]+)\//.exec(url)[1]}`
  if (url.includes("/bench/")) return "bench"
  return url
}
const label = (cf) => {
  const where = cf.url
    ? `${cf.url.replace(/^.*node_modules\//, "").replace(/^file:\/\/\/work\/main\//, "")}:${cf.lineNumber + 1}`
    : ""
  return `${cf.functionName || "(anonymous)"} ${where}`.trim()
}

const byFn = new Map()
const byArea = new Map()
for (const [id, t] of self) {
  const cf = nodes.get(id).callFrame
  if (cf.functionName === "(idle)") continue
  byFn.set(label(cf), (byFn.get(label(cf)) ?? 0) + t)
  byArea.set(area(cf.url), (byArea.get(area(cf.url)) ?? 0) + t)
}

const pct = (t) => `${((100 * t) / busy).toFixed(1).padStart(5)}%`
const ms = (t) => `${(t / 1000).toFixed(0).padStart(6)} ms`
process.stdout.write(
  `profile: ${(total / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s busy (percentages are of busy time)\n\n`
)
process.stdout.write(`self time by package/area:\n`)
for (const [k, t] of [...byArea].sort((a, b) => b[1] - a[1]).slice(0, 25))
  process.stdout.write(`${pct(t)} ${ms(t)}  ${k}\n`)
process.stdout.write(`\ntop ${top} functions by self time:\n`)
for (const [k, t] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top))
  process.stdout.write(`${pct(t)} ${ms(t)}  ${k}\n`)

// Inclusive time of a few functions of interest (counted once per sample even if recursive).
const INCLUSIVE = (process.env.INCLUSIVE ?? "").split(",").filter(Boolean)
if (INCLUSIVE.length > 0) {
  const incl = new Map(INCLUSIVE.map((n) => [n, 0]))
  for (const [id, t] of self) {
    if (nodes.get(id).callFrame.functionName === "(idle)") continue
    const seen = new Set()
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const cf = nodes.get(cur).callFrame
      for (const name of INCLUSIVE) {
        if (!seen.has(name) && label(cf).includes(name)) {
          seen.add(name)
          incl.set(name, incl.get(name) + t)
        }
      }
    }
  }
  process.stdout.write(`\ninclusive time:\n`)
  for (const [k, t] of incl) process.stdout.write(`${pct(t)} ${ms(t)}  ${k}\n`)
}
