/** Running `mur-server backup` / `restore` in tests, and checking what a restore gave. */
import { readFileSync, statSync, writeFileSync } from "node:fs"
import { gunzipSync, gzipSync } from "node:zlib"
import { expect } from "vitest"
import { queryDb } from "./db.js"
import { request } from "./http.js"
import { runServerCommand } from "./server.js"

export const lines = (text: string) => text.split("\n").filter((l) => l !== "")
export const mode = (path: string) => statSync(path).mode & 0o777

export const backupTo = async (url: string, file: string) => {
  const r = await runServerCommand(["backup", "--output", file, "--database-url", url, "--json"], {})
  expect(r.code, r.stderr).toBe(0)
  return JSON.parse(r.stdout)
}

export const restoreFrom = (file: string, url: string, ...flags: string[]) =>
  runServerCommand(["restore", file, "--database-url", url, "--json", ...flags], {})

export const restored = async (file: string, url: string, ...flags: string[]) => {
  const r = await restoreFrom(file, url, ...flags)
  expect(r.code, r.stderr).toBe(0)
  return JSON.parse(r.stdout)
}

/** A refused restore: exit 1 and one line on stderr matching `pattern`. */
export const refused = async (file: string, url: string, pattern: RegExp, ...flags: string[]) => {
  const r = await restoreFrom(file, url, ...flags)
  expect(r.code, r.stdout).toBe(1)
  expect(lines(r.stderr)).toHaveLength(1)
  expect(r.stderr).toMatch(/^mur-server: /)
  expect(r.stderr).toMatch(pattern)
}

/** Rewrites the first line (the header) of an archive. */
export const withHeader = (file: string, out: string, change: (h: any) => void) => {
  const text = gunzipSync(readFileSync(file)).toString("utf8")
  const cut = text.indexOf("\n")
  const header = JSON.parse(text.slice(0, cut))
  change(header)
  writeFileSync(out, gzipSync(JSON.stringify(header) + text.slice(cut)))
}

/** Every team's log is exactly 1..last_seq, and each pattern is at its newest event's version. */
export const expectConsistent = async (url: string) => {
  const teams = await queryDb<{ id: string; last_seq: number }>(url, "SELECT id, last_seq FROM teams")
  let events = 0
  for (const team of teams) {
    const log = await queryDb<{ seq: number; pattern_id: string; version: number; type: string }>(
      url,
      "SELECT seq, pattern_id, version, type FROM sync_events WHERE team_id = $1 ORDER BY seq",
      [team.id]
    )
    expect(log.map((e) => Number(e.seq))).toEqual(Array.from({ length: Number(team.last_seq) }, (_, i) => i + 1))
    events += log.length
    const newest = new Map(log.map((e) => [e.pattern_id, e]))
    const patterns = await queryDb<{ id: string; version: number; deleted_at: unknown }>(
      url,
      "SELECT id, version, deleted_at FROM patterns WHERE team_id = $1",
      [team.id]
    )
    expect(patterns.length).toBe(newest.size)
    for (const p of patterns) {
      const e = newest.get(p.id)!
      expect(Number(p.version)).toBe(Number(e.version))
      expect(p.deleted_at !== null).toBe(e.type === "pattern_deleted")
    }
  }
  return events
}

export const push = (base: string, token: string, device: string, events: unknown[]) =>
  request(base, "POST", "/api/sync/push", { token, body: { device_id: device, events } })
