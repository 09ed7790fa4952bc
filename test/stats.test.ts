/** The Stats section of the contract on both stores, through real HTTP. */
import { randomUUID } from "node:crypto"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { parseCsv } from "./support/csv.js"
import { queryDb } from "./support/db.js"
import { request } from "./support/http.js"
import { startTestServer, type TestServer } from "./support/server.js"
import { STORES } from "./support/stores.js"
import { makeTeam, registerUser } from "./support/team.js"

const DAY_MS = 86_400_000
/** The UTC day `offset` days from today. */
const day = (offset: number) => new Date(Date.now() + offset * DAY_MS).toISOString().slice(0, 10)
const at = (offset: number, time = "12:00:00.000") => `${day(offset)}T${time}Z`

const expectError = (r: { status: number; json: any; text: string }, status: number, code: string) => {
  expect(r.status, r.text).toBe(status)
  expect(r.json.error.code).toBe(code)
}

describe.each(STORES)("stats on %s", (store) => {
  let server: TestServer
  const api = (method: string, path: string, token: string, body?: unknown, headers?: Record<string, string>) =>
    request(server.url, method, path, { token, body, headers })
  const post = (token: string, stats: unknown[], headers?: Record<string, string>) =>
    api("POST", "/api/stats", token, { stats }, headers)

  beforeAll(async () => {
    server = await startTestServer(store, { jobs: { enabled: false } })
  })
  afterAll(async () => {
    await server?.stop()
  })

  it("ingests a batch (202) and counts a record sent again, in any batch, once", async () => {
    const t = await makeTeam(server.url, 0, "Ingest")
    const ids = [randomUUID(), randomUUID(), randomUUID()]
    const batch = ids.map((id, i) => ({
      id,
      tool: "claude",
      action: "run",
      duration_ms: 100,
      tokens_used: 10,
      cost_usd: 0.25,
      created_at: at(-1, `10:00:0${i}.000`)
    }))
    const first = await post(t.admin.token, batch)
    expect(first.status, first.text).toBe(202)
    expect(first.json).toEqual({ accepted: 3, duplicates: 0 })
    const again = await post(t.admin.token, batch)
    expect(again.status).toBe(202)
    expect(again.json).toEqual({ accepted: 0, duplicates: 3 })
    // A repeat within a batch, and the same UUID written in capitals, are duplicates too.
    const fresh = randomUUID()
    const mixed = await post(t.admin.token, [
      { ...batch[0], id: ids[0]!.toUpperCase() },
      { ...batch[0], id: fresh },
      { ...batch[0], id: fresh }
    ])
    expect(mixed.json).toEqual({ accepted: 1, duplicates: 2 })
    // Records without an id are never duplicates.
    const anonymous = await post(t.admin.token, [
      { tool: "claude", action: "run", created_at: at(-1) },
      { tool: "claude", action: "run", created_at: at(-1) }
    ])
    expect(anonymous.json).toEqual({ accepted: 2, duplicates: 0 })

    const me = await api("GET", `/api/stats/me?from=${day(-1)}&to=${day(-1)}`, t.admin.token)
    expect(me.status, me.text).toBe(200)
    expect(me.json.stats).toMatchObject({ runs: 6, duration_ms: 400, tokens: 40, cost_usd: 1 })
    const raw = await queryDb<{ n: number }>(server.db.url, "SELECT count(*) AS n FROM stats WHERE team_id = $1", [
      t.team.id
    ])
    expect(Number(raw[0]!.n)).toBe(6)
    const rollup = await queryDb<{ n: number }>(
      server.db.url,
      "SELECT sum(runs) AS n FROM stats_daily WHERE team_id = $1",
      [t.team.id]
    )
    expect(Number(rollup[0]!.n)).toBe(6)
  })

  it("sums exactly: runs, tokens, duration and cost (1000 × $0.10 is $100), by tool and by day", async () => {
    const t = await makeTeam(server.url, 0, "Exact")
    const tools = ["claude", "codex", "gemini"]
    const records = Array.from({ length: 1000 }, (_, i) => ({
      id: randomUUID(),
      tool: tools[i % 3],
      action: i % 2 === 0 ? "run" : "review",
      duration_ms: i,
      tokens_used: 10 * i,
      cost_usd: 0.1,
      created_at: at(-1 - (i % 4), "08:30:00.000")
    }))
    // A float sum would not be exact: the point of counting micro-dollars.
    expect(records.reduce((a, r) => a + r.cost_usd, 0)).not.toBe(100)
    for (let i = 0; i < records.length; i += 500) {
      const r = await post(t.admin.token, records.slice(i, i + 500))
      expect(r.json).toEqual({ accepted: 500, duplicates: 0 })
    }
    const sum = (rs: typeof records, f: (r: (typeof records)[number]) => number) => rs.reduce((a, r) => a + f(r), 0)
    const group = (rs: typeof records) => ({
      runs: rs.length,
      duration_ms: sum(rs, (r) => r.duration_ms),
      tokens: sum(rs, (r) => r.tokens_used),
      cost_usd: (rs.length * 100_000) / 1_000_000
    })
    const byTool = tools
      .map((tool) => ({ tool, ...group(records.filter((r) => r.tool === tool)) }))
      .sort((a, b) => b.runs - a.runs || a.tool.localeCompare(b.tool))
    const byDay = [-4, -3, -2, -1].map((o) => {
      const g = group(records.filter((r) => r.created_at.startsWith(day(o))))
      return { date: day(o), runs: g.runs, tokens: g.tokens, cost_usd: g.cost_usd }
    })
    const me = await api("GET", `/api/stats/me?from=${day(-4)}&to=${day(-1)}`, t.admin.token)
    expect(me.status, me.text).toBe(200)
    // No record names a model: one model row ("") holds everything, its cost as reported.
    const byModel = [
      {
        model: "",
        ...group(records),
        input_tokens: 0,
        output_tokens: 0,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
        cost_source: "reported",
        unpriced_tokens: 0
      }
    ]
    expect(me.json).toEqual({ stats: { ...group(records), by_tool: byTool, by_model: byModel, by_day: byDay } })
    expect(me.json.stats.cost_usd).toBe(100)
    expect(me.json.stats.by_tool[0]).toEqual({
      tool: "claude",
      runs: 334,
      duration_ms: sum(
        records.filter((r) => r.tool === "claude"),
        (r) => r.duration_ms
      ),
      tokens: sum(
        records.filter((r) => r.tool === "claude"),
        (r) => r.tokens_used
      ),
      cost_usd: 33.4
    })

    // One day only; the default range (the last 30 days) includes all four.
    const one = await api("GET", `/api/stats/me?from=${day(-2)}&to=${day(-2)}`, t.admin.token)
    expect(one.json.stats.runs).toBe(250)
    expect(one.json.stats.cost_usd).toBe(25)
    expect(one.json.stats.by_day).toEqual([byDay[2]])
    const recent = await api("GET", "/api/stats/me", t.admin.token)
    expect(recent.json.stats.runs).toBe(1000)
    // The team view of the same records agrees.
    const team = await api("GET", `/api/stats/team?from=${day(-4)}&to=${day(-1)}`, t.admin.token)
    expect(team.json.stats).toEqual(me.json.stats)
  })

  it("ranges: `to` is included, the default is the last 30 days, an empty range is all zeros", async () => {
    const u = await makeTeam(server.url, 0, "Ranges")
    await post(u.admin.token, [
      { tool: "a", action: "x", created_at: at(-40), cost_usd: 1 },
      { tool: "a", action: "x", created_at: at(-29, "00:00:00.000"), cost_usd: 2 },
      { tool: "a", action: "x", created_at: at(-10, "23:59:59.999"), cost_usd: 4 }
    ])
    const get = (q: string) => api("GET", `/api/stats/me${q}`, u.admin.token).then((r) => r.json.stats)
    expect((await get("")).cost_usd).toBe(6)
    expect((await get(`?from=${day(-40)}`)).cost_usd).toBe(7)
    expect((await get(`?to=${day(-10)}`)).cost_usd).toBe(4 + 2)
    expect((await get(`?from=${day(-10)}&to=${day(-10)}`)).cost_usd).toBe(4)
    expect(await get(`?from=${day(-9)}&to=${day(-9)}`)).toEqual({
      runs: 0,
      duration_ms: 0,
      tokens: 0,
      cost_usd: 0,
      by_tool: [],
      by_model: [],
      by_day: []
    })
  })

  it("team stats: totals and a row per member, for admins only (a member gets 403)", async () => {
    const t = await makeTeam(server.url, 2, "Team stats")
    const [m1, m2] = t.members as [(typeof t.members)[0], (typeof t.members)[0]]
    await post(t.admin.token, [
      { tool: "claude", action: "run", duration_ms: 5, tokens_used: 7, cost_usd: 0.1, created_at: at(-1) }
    ])
    await post(
      m1.token,
      Array.from({ length: 3 }, () => ({
        tool: "codex",
        action: "run",
        tokens_used: 100,
        cost_usd: 0.3,
        created_at: at(-2)
      }))
    )
    const range = `?from=${day(-3)}&to=${day(-1)}`
    const r = await api("GET", `/api/stats/team${range}`, t.admin.token)
    expect(r.status, r.text).toBe(200)
    expect(r.json.stats).toMatchObject({ runs: 4, duration_ms: 5, tokens: 307, cost_usd: 1 })
    expect(r.json.members).toEqual([
      { user_id: m1.id, name: m1.name, email: m1.email, runs: 3, duration_ms: 0, tokens: 300, cost_usd: 0.9 },
      { user_id: t.admin.id, name: "Admin", email: t.admin.email, runs: 1, duration_ms: 5, tokens: 7, cost_usd: 0.1 },
      { user_id: m2.id, name: m2.name, email: m2.email, runs: 0, duration_ms: 0, tokens: 0, cost_usd: 0 }
    ])
    expectError(await api("GET", `/api/stats/team${range}`, m1.token), 403, "forbidden")
    expectError(await api("GET", `/api/stats/export?scope=team`, m1.token), 403, "forbidden")
    // A member's own stats are theirs to see; one's team is not another's.
    const mine = await api("GET", `/api/stats/me${range}`, m1.token)
    expect(mine.json.stats).toMatchObject({ runs: 3, tokens: 300, cost_usd: 0.9 })
    const stranger = await registerUser(server.url, "Stranger")
    expectError(await api("GET", "/api/stats/team", stranger.token), 404, "not_in_team")
    expectError(await api("GET", "/api/stats/leaderboard", stranger.token), 404, "not_in_team")
  })

  it("leaderboard: current members by runs, tokens, cost or patterns authored; ties share a rank", async () => {
    const t = await makeTeam(server.url, 3, "Leaders")
    const [a, b, c] = t.members as [(typeof t.members)[0], (typeof t.members)[0], (typeof t.members)[0]]
    const send = (token: string, n: number, tokens: number, cost: number) =>
      post(
        token,
        Array.from({ length: n }, () => ({
          tool: "t",
          action: "x",
          tokens_used: tokens,
          cost_usd: cost,
          created_at: at(-1)
        }))
      )
    await send(a.token, 5, 1, 0.1) // runs 5, tokens 5, cost 0.5
    await send(b.token, 3, 10, 0.1) // runs 3, tokens 30, cost 0.3
    await send(c.token, 3, 2, 0.2) // runs 3, tokens 6, cost 0.6
    for (const [token, n] of [
      [b.token, 2],
      [c.token, 2],
      [t.admin.token, 1]
    ] as const) {
      for (let i = 0; i < n; i++) {
        const p = await api("POST", "/api/patterns", token, { name: `p-${randomUUID().slice(0, 8)}`, content: {} })
        expect(p.status, p.text).toBe(201)
      }
    }
    const board = async (metric?: string) => {
      const r = await api(
        "GET",
        `/api/stats/leaderboard?from=${day(-1)}&to=${day(0)}${metric ? `&metric=${metric}` : ""}`,
        a.token
      )
      expect(r.status, r.text).toBe(200)
      return r.json.leaderboard.map((e: any) => [e.rank, e.user_id, e.value])
    }
    // Ties are listed by name, then id; the member with nothing is last.
    const [bFirst, cFirst] = b.name < c.name ? [b, c] : [c, b]
    expect(await board()).toEqual([
      [1, a.id, 5],
      [2, bFirst.id, 3],
      [2, cFirst.id, 3],
      [4, t.admin.id, 0]
    ])
    expect(await board("runs")).toEqual(await board())
    expect(await board("tokens")).toEqual([
      [1, b.id, 30],
      [2, c.id, 6],
      [3, a.id, 5],
      [4, t.admin.id, 0]
    ])
    expect(await board("cost_usd")).toEqual([
      [1, c.id, 0.6],
      [2, a.id, 0.5],
      [3, b.id, 0.3],
      [4, t.admin.id, 0]
    ])
    expect(await board("patterns")).toEqual([
      [1, bFirst.id, 2],
      [1, cFirst.id, 2],
      [3, t.admin.id, 1],
      [4, a.id, 0]
    ])
    const one = await api("GET", "/api/stats/leaderboard", a.token)
    expect(one.json.leaderboard[0]).toEqual({ rank: 1, user_id: a.id, name: a.name, value: 5 })
  })

  it("validates every field of a record: 400 invalid_request naming the field", async () => {
    const t = await makeTeam(server.url, 0, "Validation")
    const good = { tool: "claude", action: "run" }
    const cases: Array<[string, Record<string, unknown>]> = [
      ["id", { id: "not-a-uuid" }],
      ["id", { id: 5 }],
      ["tool", { tool: undefined }],
      ["tool", { tool: "" }],
      ["tool", { tool: "x".repeat(101) }],
      ["tool", { tool: "nul\u0000" }],
      ["tool", { tool: 5 }],
      ["action", { action: undefined }],
      ["action", { action: "" }],
      ["action", { action: "y".repeat(101) }],
      ["duration_ms", { duration_ms: -1 }],
      ["duration_ms", { duration_ms: 1.5 }],
      ["duration_ms", { duration_ms: "5" }],
      ["duration_ms", { duration_ms: 2 ** 31 }],
      ["tokens_used", { tokens_used: -1 }],
      ["tokens_used", { tokens_used: 0.5 }],
      ["tokens_used", { tokens_used: null }],
      ["cost_usd", { cost_usd: -0.01 }],
      ["cost_usd", { cost_usd: "0.1" }],
      ["cost_usd", { cost_usd: 1e7 }],
      ["prompt_hash", { prompt_hash: "" }],
      ["prompt_hash", { prompt_hash: "h".repeat(257) }],
      ["prompt_hash", { prompt_hash: 7 }],
      ["pattern_id", { pattern_id: "p-1" }],
      ["metadata", { metadata: [1, 2] }],
      ["metadata", { metadata: "text" }],
      ["metadata", { metadata: { big: "m".repeat(17_000) } }],
      ["created_at", { created_at: "yesterday" }],
      ["created_at", { created_at: "2026-13-01T00:00:00Z" }],
      ["created_at", { created_at: "2026-01-01" }],
      ["created_at", { created_at: "1999-12-31T23:59:59Z" }],
      ["created_at", { created_at: new Date(Date.now() + 2 * DAY_MS).toISOString() }],
      ["created_at", { created_at: 1_700_000_000_000 }]
    ]
    for (const [field, patch] of cases) {
      const bad = { ...good, ...patch }
      const r = await post(t.admin.token, [good, bad])
      expect(r.status, `${field} ${JSON.stringify(patch).slice(0, 80)}: ${r.text}`).toBe(400)
      expect(r.json.error.code).toBe("invalid_request")
      expect(r.json.error.details[0].path, JSON.stringify(patch).slice(0, 80)).toBe(`stats.1.${field}`)
      expect(r.json.error.message).toContain(field)
    }
    for (const body of [{ stats: [] }, { stats: Array.from({ length: 1001 }, () => good) }, {}, { stats: "x" }]) {
      const r = await api("POST", "/api/stats", t.admin.token, body)
      expectError(r, 400, "invalid_request")
      expect(r.json.error.details[0].path).toBe("stats")
    }
    expectError(await api("POST", "/api/stats", t.admin.token, "{not json"), 400, "invalid_request")
    // Nothing of the refused batches was stored; nulls of optional fields are fine.
    const ok = await post(t.admin.token, [
      { ...good, prompt_hash: null, pattern_id: null, metadata: null, created_at: "2026-01-02T03:04:05.123456+02:00" }
    ])
    expect(ok.json).toEqual({ accepted: 1, duplicates: 0 })
    const raw = await queryDb<{ created_at: string }>(
      server.db.url,
      "SELECT created_at FROM stats WHERE team_id = $1",
      [t.team.id]
    )
    expect(raw.map((r) => new Date(r.created_at).toISOString())).toEqual(["2026-01-02T01:04:05.123Z"])
  })

  it("validates every query parameter: 400 invalid_request naming it", async () => {
    const t = await makeTeam(server.url, 0, "Params")
    const bad: Array<[string, string]> = [
      ["from", "from=2026-02-30"],
      ["from", "from=yesterday"],
      ["from", "from=1999-12-31"],
      ["to", "to=20260101"],
      ["to", "to=2026-1-1"],
      ["from", `from=${day(-1)}&to=${day(-2)}`],
      ["from", `from=${day(5)}`]
    ]
    for (const path of ["/api/stats/me", "/api/stats/team", "/api/stats/leaderboard", "/api/stats/export"]) {
      for (const [field, query] of bad) {
        const r = await api("GET", `${path}?${query}`, t.admin.token)
        expectError(r, 400, "invalid_request")
        expect(r.json.error.details[0].path, `${path}?${query}`).toBe(field)
      }
    }
    for (const [path, field, query] of [
      ["/api/stats/leaderboard", "metric", "metric=speed"],
      ["/api/stats/export", "scope", "scope=world"],
      ["/api/stats/export", "format", "format=xml"]
    ] as const) {
      const r = await api("GET", `${path}?${query}`, t.admin.token)
      expectError(r, 400, "invalid_request")
      expect(r.json.error.details[0].path).toBe(field)
    }
  })

  it("exports RFC 4180 CSV: a header row, then one row per raw record, quoting what needs it", async () => {
    const t = await makeTeam(server.url, 1, "Export")
    const member = t.members[0]!
    const patternId = randomUUID()
    const tricky = {
      id: randomUUID(),
      tool: "tool, with comma",
      action: 'say "hi"',
      duration_ms: 1200,
      tokens_used: 345,
      cost_usd: 0.1,
      prompt_hash: "abc123",
      pattern_id: patternId,
      metadata: { note: 'line one\nline two, "quoted"', crlf: "a\r\nb", n: 1 },
      created_at: at(-2, "09:00:00.000")
    }
    const plain = { id: randomUUID(), tool: "codex", action: "run", created_at: at(-1, "09:00:00.000") }
    await post(t.admin.token, [plain, tricky])
    await post(member.token, [
      { tool: "member-tool", action: "run", cost_usd: 1.000001, created_at: at(-1, "10:00:00.000") }
    ])

    const res = await fetch(`${server.url}/api/stats/export?format=csv&from=${day(-3)}&to=${day(-1)}`, {
      headers: { authorization: `Bearer ${t.admin.token}` }
    })
    expect(res.status).toBe(200)
    expect(res.headers.get("content-type")).toMatch(/^text\/csv/)
    // Streamed: sent in chunks as the pages are read, never measured up front.
    expect(res.headers.get("content-length")).toBeNull()
    expect(res.headers.get("transfer-encoding")).toBe("chunked")
    const text = await res.text()
    const rows = parseCsv(text)
    expect(rows[0]).toEqual([
      "created_at",
      "user_id",
      "user_email",
      "tool",
      "action",
      "duration_ms",
      "tokens_used",
      "cost_usd",
      "pattern_id",
      "prompt_hash",
      "metadata",
      "model",
      "input_tokens",
      "output_tokens",
      "cache_read_tokens",
      "cache_write_tokens",
      "cost_source",
      "session_id"
    ])
    expect(rows.slice(1)).toEqual([
      [
        tricky.created_at,
        t.admin.id,
        t.admin.email,
        "tool, with comma",
        'say "hi"',
        "1200",
        "345",
        "0.1",
        patternId,
        "abc123",
        JSON.stringify(tricky.metadata),
        "",
        "0",
        "0",
        "0",
        "0",
        "reported",
        ""
      ],
      [
        plain.created_at,
        t.admin.id,
        t.admin.email,
        "codex",
        "run",
        "0",
        "0",
        "0",
        "",
        "",
        "",
        "",
        "0",
        "0",
        "0",
        "0",
        "none",
        ""
      ]
    ])
    expect(text).toContain('"tool, with comma","say ""hi"""')
    expect(JSON.parse(rows[1]![10]!)).toEqual(tricky.metadata)

    // The team's export (admins) holds every member's records, oldest first.
    const team = await api("GET", `/api/stats/export?scope=team&from=${day(-3)}&to=${day(-1)}`, t.admin.token)
    expect(team.status).toBe(200)
    const teamRows = parseCsv(team.text).slice(1)
    expect(teamRows.map((r) => [r[2], r[3], r[7]])).toEqual([
      [t.admin.email, "tool, with comma", "0.1"],
      [t.admin.email, "codex", "0"],
      [member.email, "member-tool", "1.000001"]
    ])
    // A member exports their own records only.
    const mine = await api("GET", "/api/stats/export", member.token)
    expect(
      parseCsv(mine.text)
        .slice(1)
        .map((r) => r[3])
    ).toEqual(["member-tool"])
    // An empty range is the header alone.
    const empty = await api("GET", `/api/stats/export?from=${day(-9)}&to=${day(-9)}`, t.admin.token)
    expect(parseCsv(empty.text)).toHaveLength(1)
  })

  it("exports thousands of rows page by page: each exactly once, in (created_at, id) order", async () => {
    const t = await makeTeam(server.url, 0, "Big export")
    const ids: string[] = []
    for (let b = 0; b < 5; b++) {
      // Many records share one millisecond: the id breaks the tie between pages.
      const batch = Array.from({ length: 1000 }, (_, i) => {
        const id = randomUUID()
        ids.push(id)
        return { id, tool: "bulk", action: "run", created_at: at(-1, `12:00:0${b}.${String(i % 3).padStart(3, "0")}`) }
      })
      expect((await post(t.admin.token, batch)).json.accepted).toBe(1000)
    }
    const r = await api("GET", `/api/stats/export?from=${day(-1)}&to=${day(-1)}`, t.admin.token)
    const rows = parseCsv(r.text).slice(1)
    expect(rows).toHaveLength(5000)
    const stored = await queryDb<{ id: string; created_at: string }>(
      server.db.url,
      "SELECT id, created_at FROM stats WHERE team_id = $1",
      [t.team.id]
    )
    const expected = stored
      .map((s) => [new Date(s.created_at).toISOString(), String(s.id)] as const)
      .sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : x[1] < y[1] ? -1 : 1))
      .map((s) => s[0])
    expect(rows.map((row) => row[0])).toEqual(expected)
    expect(new Set(ids).size).toBe(5000)
  })

  it("a user in several teams names one with X-Team; `me` covers every team unless one is named", async () => {
    const a = await makeTeam(server.url, 0, "Multi A")
    const b = await makeTeam(server.url, 0, "Multi B")
    const inv = await api("POST", "/api/team/invite", b.admin.token, { email: a.admin.email })
    await api("POST", "/api/team/join", a.admin.token, { invite_code: inv.json.invite_code })
    const rec = { tool: "t", action: "x", created_at: at(-1) }
    expectError(await post(a.admin.token, [rec]), 400, "invalid_request")
    expect((await post(a.admin.token, [rec], { "X-Team": a.team.slug })).json.accepted).toBe(1)
    expect((await post(a.admin.token, [rec, rec], { "X-Team": b.team.id })).json.accepted).toBe(2)
    expect((await api("GET", "/api/stats/me", a.admin.token)).json.stats.runs).toBe(3)
    const inB = await api("GET", "/api/stats/me", a.admin.token, undefined, { "X-Team": b.team.slug })
    expect(inB.json.stats.runs).toBe(2)
    const bTeam = await api("GET", "/api/stats/team", b.admin.token)
    expect(bTeam.json.stats.runs).toBe(2)
    expectError(
      await api("GET", "/api/stats/me", a.admin.token, undefined, { "X-Team": "no-such-team" }),
      404,
      "not_in_team"
    )
  })

  it("a user in no team keeps personal stats", async () => {
    const solo = await registerUser(server.url, "Solo")
    const r = await post(solo.token, [{ tool: "claude", action: "run", tokens_used: 9, created_at: at(-1) }])
    expect(r.status, r.text).toBe(202)
    expect((await api("GET", "/api/stats/me", solo.token)).json.stats).toMatchObject({ runs: 1, tokens: 9 })
    expect(parseCsv((await api("GET", "/api/stats/export", solo.token)).text)).toHaveLength(2)
    expectError(await api("GET", "/api/stats/team", solo.token), 404, "not_in_team")
    expectError(await post(solo.token, [{ tool: "t", action: "x" }], { "X-Team": "somewhere" }), 404, "not_in_team")
  })

  it("needs a login, and counts ingested records in /metrics", async () => {
    const r = await request(server.url, "POST", "/api/stats", { body: { stats: [{ tool: "t", action: "x" }] } })
    expectError(r, 401, "unauthorized")
    const metrics = await fetch(`${server.url}/metrics`).then((m) => m.text())
    expect(metrics).toMatch(/mur_stats_ingested_total \d+/)
  })
})
