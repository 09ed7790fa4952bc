/** The Patterns section of the contract, on both stores, through real HTTP. */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { queryDb } from "./support/db.js"
import { request, uniqueEmail } from "./support/http.js"
import { startTestServer, type TestServer } from "./support/server.js"
import { STORES } from "./support/stores.js"

const expectError = (r: { status: number; json: any }, status: number, code: string) => {
  expect(r.status, JSON.stringify(r.json)).toBe(status)
  expect(r.json.error.code).toBe(code)
}

describe.each(STORES)("patterns on %s", (store) => {
  let server: TestServer
  let admin: { token: string; id: string }
  let member: { token: string; id: string }
  let outsider: { token: string; id: string }
  let teamId: string
  let counter = 0
  const api = (method: string, path: string, token?: string, body?: unknown) =>
    request(server.url, method, path, { token, body })
  const name = (prefix = "p") => `${prefix}-${++counter}`

  const user = async () => {
    const email = uniqueEmail()
    const r = await api("POST", "/auth/register", undefined, { email, password: "pattern password", name: "P" })
    return { email, token: r.json.access_token as string, id: r.json.user.id as string }
  }

  const create = async (body: Record<string, unknown>, token = member.token) => {
    const r = await api("POST", "/api/patterns", token, { content: { steps: ["a"] }, ...body })
    expect(r.status, JSON.stringify(r.json)).toBe(201)
    return r.json.pattern
  }

  beforeAll(async () => {
    server = await startTestServer(store)
    admin = await user()
    teamId = (await api("POST", "/api/team", admin.token, { name: "Patterns" })).json.team.id
    member = await user()
    const m = await api("POST", "/api/team/invite", admin.token, { email: (member as any).email })
    await api("POST", "/api/team/join", member.token, { invite_code: m.json.invite_code })
    outsider = await user()
    await api("POST", "/api/team", outsider.token, { name: "Outsiders" })
  })
  afterAll(async () => {
    await server?.stop()
  })

  it("creates a pattern with every field, version 1, and reads it back exactly", async () => {
    const content = { schema: 2, body: "Use `Effect.gen`", nested: { list: [1, "two", null, true] }, ünïcode: "✓" }
    const p = await create({
      name: "Full_pattern-1",
      description: "describes",
      content,
      category: "coding",
      tags: ["ts", "effect"],
      is_public: false
    })
    expect(p).toMatchObject({
      name: "Full_pattern-1",
      description: "describes",
      content,
      category: "coding",
      tags: ["ts", "effect"],
      is_public: false,
      usage_count: 0,
      version: 1,
      team_id: teamId,
      author_id: member.id
    })
    expect(p.created_at).toBe(p.updated_at)
    const got = await api("GET", `/api/patterns/${p.id}`, admin.token)
    expect(got.json.pattern).toEqual(p)
  })

  it("defaults description, category, tags and is_public", async () => {
    const p = await create({ name: name() })
    expect(p).toMatchObject({ description: "", category: null, tags: [], is_public: false })
  })

  it.each([
    ["name with a space", { name: "bad name" }, "name"],
    ["empty name", { name: "" }, "name"],
    ["name over 64 chars", { name: "a".repeat(65) }, "name"],
    ["missing content", { content: undefined }, "content"],
    ["content that is an array", { content: [1, 2] }, "content"],
    ["content that is a string", { content: "text" }, "content"],
    ["content over 256 KB", { content: { big: "x".repeat(256 * 1024) } }, "content"],
    ["33 tags", { tags: Array.from({ length: 33 }, (_, i) => `t${i}`) }, "tags"],
    ["an empty tag", { tags: [""] }, "tags.0"],
    ["a tag over 64 chars", { tags: ["t".repeat(65)] }, "tags.0"],
    ["a category over 100 chars", { category: "c".repeat(101) }, "category"],
    ["is_public not a boolean", { is_public: "yes" }, "is_public"],
    ["description not a string", { description: 5 }, "description"],
    ["a NUL character in the description", { description: "a\u0000b" }, "description"],
    ["a NUL character in the category", { category: "\u0000" }, "category"]
  ])("refuses %s with 400 invalid_request naming the field", async (_label, patch, field) => {
    const body: Record<string, unknown> = { name: name("valid"), content: { a: 1 }, ...patch }
    if ("content" in patch && patch.content === undefined) delete body.content
    const r = await api("POST", "/api/patterns", member.token, body)
    expectError(r, 400, "invalid_request")
    expect(r.json.error.details.map((d: any) => d.path)).toContain(field)
  })

  it("accepts the limits themselves: 64-char name, 32 tags", async () => {
    await create({ name: "n".repeat(64), tags: Array.from({ length: 32 }, (_, i) => `t${i}`) })
  })

  it("keeps names unique per team, case-insensitively, and frees a deleted pattern's name", async () => {
    const n = name("Unique")
    const p = await create({ name: n })
    expectError(
      await api("POST", "/api/patterns", member.token, { name: n.toUpperCase(), content: {} }),
      409,
      "name_taken"
    )
    // Another team may use the same name.
    expect((await api("POST", "/api/patterns", outsider.token, { name: n, content: {} })).status).toBe(201)
    // Renaming onto a taken name conflicts too.
    const q = await create({ name: name() })
    expectError(await api("PUT", `/api/patterns/${q.id}`, member.token, { name: n.toLowerCase() }), 409, "name_taken")
    expect((await api("DELETE", `/api/patterns/${p.id}`, admin.token)).json).toEqual({ success: true })
    expectError(await api("GET", `/api/patterns/${p.id}`, admin.token), 404, "not_found")
    expect((await api("POST", "/api/patterns", member.token, { name: n, content: {} })).status).toBe(201)
  })

  it("updates with optimistic concurrency: version +1, 409 version_conflict carrying current", async () => {
    const p = await create({ name: name(), description: "one" })
    const u1 = await api("PUT", `/api/patterns/${p.id}`, admin.token, { description: "two", base_version: 1 })
    expect(u1.status).toBe(200)
    expect(u1.json.pattern).toMatchObject({ description: "two", version: 2, author_id: admin.id, name: p.name })
    const stale = await api("PUT", `/api/patterns/${p.id}`, member.token, { description: "three", base_version: 1 })
    expectError(stale, 409, "version_conflict")
    expect(stale.json.error.current).toEqual(u1.json.pattern)
    expect(stale.json.error.request_id).toBe(stale.headers.get("x-request-id"))
    // Without base_version the write is last-writer-wins.
    const u3 = await api("PUT", `/api/patterns/${p.id}`, member.token, { tags: ["x"] })
    expect(u3.json.pattern).toMatchObject({ description: "two", tags: ["x"], version: 3 })
    expectError(await api("PUT", `/api/patterns/${p.id}`, member.token, { base_version: 0 }), 400, "invalid_request")
    expectError(await api("PUT", `/api/patterns/${p.id}`, member.token, { name: "no spaces!" }), 400, "invalid_request")
  })

  it("lists versions newest first and restores one as a new version", async () => {
    const p = await create({ name: name(), description: "v1", content: { v: 1 } })
    await api("PUT", `/api/patterns/${p.id}`, member.token, { description: "v2", content: { v: 2 } })
    await api("PUT", `/api/patterns/${p.id}`, member.token, { description: "v3", content: { v: 3 }, category: "c" })
    const versions = await api("GET", `/api/patterns/${p.id}/versions`, member.token)
    expect(versions.json.versions.map((v: any) => v.version)).toEqual([3, 2, 1])
    expect(versions.json.versions[2]).toMatchObject({ description: "v1", content: { v: 1 }, category: null })
    const restored = await api("POST", `/api/patterns/${p.id}/restore`, member.token, { version: 1 })
    expect(restored.status).toBe(200)
    expect(restored.json.pattern).toMatchObject({ version: 4, description: "v1", content: { v: 1 }, category: null })
    const after = await api("GET", `/api/patterns/${p.id}/versions`, member.token)
    expect(after.json.versions.map((v: any) => v.version)).toEqual([4, 3, 2, 1])
    expectError(await api("POST", `/api/patterns/${p.id}/restore`, member.token, { version: 99 }), 404, "not_found")
  })

  it("counts uses without changing the version", async () => {
    const p = await create({ name: name() })
    const results = await Promise.all(
      Array.from({ length: 5 }, () => api("POST", `/api/patterns/${p.id}/use`, member.token))
    )
    expect(results.map((r) => r.json.usage_count).sort()).toEqual([1, 2, 3, 4, 5])
    const got = await api("GET", `/api/patterns/${p.id}`, member.token)
    expect(got.json.pattern).toMatchObject({ usage_count: 5, version: 1 })
  })

  it("deletes (admin only)", async () => {
    const p = await create({ name: name() })
    expectError(await api("DELETE", `/api/patterns/${p.id}`, member.token), 403, "forbidden")
    expect((await api("DELETE", `/api/patterns/${p.id}`, admin.token)).status).toBe(200)
    expectError(await api("DELETE", `/api/patterns/${p.id}`, admin.token), 404, "not_found")
    expectError(await api("PUT", `/api/patterns/${p.id}`, admin.token, { description: "x" }), 404, "not_found")
  })

  it("shows public patterns to every team, private ones to none", async () => {
    const pub = await create({ name: name("public"), is_public: true, description: "shared with all" })
    const priv = await create({ name: name("private") })
    expect((await api("GET", `/api/patterns/${pub.id}`, outsider.token)).json.pattern.id).toBe(pub.id)
    expectError(await api("GET", `/api/patterns/${priv.id}`, outsider.token), 404, "not_found")
    const listed = await api("GET", "/api/patterns?scope=public&limit=100", outsider.token)
    const ids = listed.json.patterns.map((p: any) => p.id)
    expect(ids).toContain(pub.id)
    expect(ids).not.toContain(priv.id)
    expect(listed.json.patterns.every((p: any) => p.is_public)).toBe(true)
    // Outsiders may use a public pattern but not change it.
    expect((await api("POST", `/api/patterns/${pub.id}/use`, outsider.token)).status).toBe(200)
    expectError(await api("PUT", `/api/patterns/${pub.id}`, outsider.token, { description: "mine" }), 404, "not_found")
    expectError(await api("GET", `/api/patterns/${pub.id}/versions`, outsider.token), 404, "not_found")
    // Their own list never shows another team's patterns.
    const own = await api("GET", "/api/patterns?limit=100", outsider.token)
    expect(own.json.patterns.every((p: any) => p.team_id !== teamId)).toBe(true)
    // Anonymous callers see nothing.
    expectError(await api("GET", `/api/patterns/${pub.id}`), 401, "unauthorized")
  })

  it("answers 400 for a malformed id and bad list parameters", async () => {
    expectError(await api("GET", "/api/patterns/not-a-uuid", member.token), 400, "invalid_request")
    for (const q of ["page=0", "limit=0", "limit=101", "limit=abc", "sort=random", "scope=world"]) {
      expectError(await api("GET", `/api/patterns?${q}`, member.token), 400, "invalid_request")
    }
  })

  it("appends every change to the team's event log with the contract's event shape", async () => {
    const p = await create({ name: name("logged") })
    await api("PUT", `/api/patterns/${p.id}`, member.token, { description: "changed" })
    await api("POST", `/api/patterns/${p.id}/restore`, member.token, { version: 1 })
    await api("DELETE", `/api/patterns/${p.id}`, admin.token)
    const rows = await queryDb<any>(
      server.db.url,
      "SELECT seq, type, version, pattern, actor_id FROM sync_events WHERE team_id = $1 AND pattern_id = $2 ORDER BY seq",
      [teamId, p.id]
    )
    expect(rows.map((r) => [r.type, Number(r.version)])).toEqual([
      ["pattern_created", 1],
      ["pattern_updated", 2],
      ["pattern_updated", 3],
      ["pattern_deleted", 4]
    ])
    expect(JSON.parse(rows[1].pattern)).toMatchObject({ id: p.id, description: "changed", version: 2 })
    expect(rows[3].pattern).toBeNull()
    expect(rows[3].actor_id).toBe(admin.id)
    const all = await queryDb<any>(server.db.url, "SELECT seq FROM sync_events WHERE team_id = $1 ORDER BY seq", [
      teamId
    ])
    expect(all.map((r) => Number(r.seq))).toEqual(all.map((_, i) => i + 1))
    const audit = await api("GET", "/api/audit?limit=100", admin.token)
    const mine = audit.json.entries.filter((e: any) => e.target_id === p.id).map((e: any) => e.action)
    expect(mine.sort()).toEqual(["pattern.create", "pattern.delete", "pattern.restore", "pattern.update"])
  })

  it("refuses the 101st pattern of a free team with 403 plan_limit", async () => {
    const owner = await user()
    await api("POST", "/api/team", owner.token, { name: "Full" })
    for (let i = 0; i < 100; i += 10) {
      await Promise.all(
        Array.from({ length: 10 }, (_, j) =>
          api("POST", "/api/patterns", owner.token, { name: `full-${i + j}`, content: {} }).then((r) =>
            expect(r.status).toBe(201)
          )
        )
      )
    }
    expectError(
      await api("POST", "/api/patterns", owner.token, { name: "one-too-many", content: {} }),
      403,
      "plan_limit"
    )
  })
})
