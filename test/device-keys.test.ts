/** Device login and API keys on the server, on both stores. */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { queryDb } from "./support/db.js"
import { request } from "./support/http.js"
import { startTestServer, type TestServer } from "./support/server.js"
import { STORES } from "./support/stores.js"
import { makeTeam, registerUser } from "./support/team.js"
import { connect } from "./support/ws.js"

const expectError = (r: { status: number; json: any }, status: number, code: string) => {
  expect(r.status, JSON.stringify(r.json)).toBe(status)
  expect(r.json.error.code).toBe(code)
}

/** Moves a device code's last poll back in time, so a test need not wait out the interval. */
const agePoll = async (server: TestServer) => {
  const past = new Date(Date.now() - 10_000).toISOString()
  if (server.db.url.startsWith("file:")) {
    const Database = (await import("better-sqlite3")).default
    const db = new Database(server.db.url.slice(5))
    db.prepare("UPDATE device_codes SET last_polled_at = ? WHERE last_polled_at IS NOT NULL").run(past)
    db.close()
  } else {
    await queryDb(server.db.url, "UPDATE device_codes SET last_polled_at = $1 WHERE last_polled_at IS NOT NULL", [past])
  }
}

describe.each(STORES)("device login on %s", (store) => {
  let server: TestServer
  beforeAll(async () => {
    server = await startTestServer(store)
  })
  afterAll(async () => {
    await server?.stop()
  })
  const post = (path: string, body: unknown, token?: string) => request(server.url, "POST", path, { body, token })

  it("issues codes in the RFC 8628 shape", async () => {
    const r = await post("/auth/device/code", { client_name: "mur cli" })
    expect(r.status).toBe(200)
    expect(r.json).toMatchObject({ expires_in: 900, interval: 5 })
    expect(r.json.user_code).toMatch(/^[A-HJKMNP-Z2-9]{4}-[A-HJKMNP-Z2-9]{4}$/)
    expect(r.json.verification_uri).toBe(`${server.url}/device`)
    expect(r.json.verification_uri_complete).toBe(`${server.url}/device?user_code=${r.json.user_code}`)
    const page = await request(server.url, "GET", `/device?user_code=${r.json.user_code}`)
    expect(page.status).toBe(200)
    expect(page.headers.get("content-type")).toMatch(/text\/html/)
    expect(page.text).toContain("/api/device/approve")
    const stored = JSON.stringify(await queryDb(server.db.url, "SELECT * FROM device_codes"))
    expect(stored).not.toContain(r.json.device_code)
    expect(stored).not.toContain(r.json.user_code)
  })

  it("answers pending, then slow_down when polled too fast, then tokens once after approval", async () => {
    const user = await registerUser(server.url)
    const code = (await post("/auth/device/code", {})).json
    expectError(await post("/auth/device/token", { device_code: code.device_code }), 400, "authorization_pending")
    expectError(await post("/auth/device/token", { device_code: code.device_code }), 400, "slow_down")
    // The code may be typed in lower case, without the dash.
    const typed = code.user_code.replace("-", "").toLowerCase()
    expect((await post("/api/device/approve", { user_code: typed, approve: true }, user.token)).json).toEqual({
      success: true
    })
    await agePoll(server)
    const ok = await post("/auth/device/token", { device_code: code.device_code })
    expect(ok.status).toBe(200)
    expect(ok.json.user.id).toBe(user.id)
    expect((await request(server.url, "GET", "/api/me", { token: ok.json.access_token })).status).toBe(200)
    await agePoll(server)
    expectError(await post("/auth/device/token", { device_code: code.device_code }), 400, "expired_token")
    // An approved code cannot be approved again.
    expectError(
      await post("/api/device/approve", { user_code: code.user_code, approve: true }, user.token),
      404,
      "not_found"
    )
    const audit = await queryDb<{ action: string }>(server.db.url, "SELECT action FROM audit_log WHERE actor_id = $1", [
      user.id
    ])
    expect(audit.map((a) => a.action)).toContain("device.approve")
  })

  it("answers access_denied when the person denies, and expired_token for unknown or expired codes", async () => {
    const user = await registerUser(server.url)
    const code = (await post("/auth/device/code", {})).json
    await post("/api/device/approve", { user_code: code.user_code, approve: false }, user.token)
    expectError(await post("/auth/device/token", { device_code: code.device_code }), 400, "access_denied")
    expectError(await post("/auth/device/token", { device_code: "nonsense" }), 400, "expired_token")
    const late = (await post("/auth/device/code", {})).json
    const past = new Date(Date.now() - 1000).toISOString()
    if (server.db.url.startsWith("file:")) {
      const Database = (await import("better-sqlite3")).default
      const db = new Database(server.db.url.slice(5))
      db.prepare("UPDATE device_codes SET expires_at = ? WHERE consumed_at IS NULL AND status = 'pending'").run(past)
      db.close()
    } else {
      await queryDb(
        server.db.url,
        "UPDATE device_codes SET expires_at = $1 WHERE consumed_at IS NULL AND status = 'pending'",
        [past]
      )
    }
    expectError(await post("/auth/device/token", { device_code: late.device_code }), 400, "expired_token")
    expectError(
      await post("/api/device/approve", { user_code: late.user_code, approve: true }, user.token),
      404,
      "not_found"
    )
    expectError(await post("/api/device/approve", { user_code: "AAAA-BBBB", approve: true }), 401, "unauthorized")
  })
})

describe.each(STORES)("API keys on %s", (store) => {
  let server: TestServer
  beforeAll(async () => {
    server = await startTestServer(store)
  })
  afterAll(async () => {
    await server?.stop()
  })

  it("shows a key once, stores only its hash, and accepts it as a Bearer token on /api/* and /ws/sync", async () => {
    const t = await makeTeam(server.url, 0, "Keys")
    const created = await request(server.url, "POST", "/api/keys", { token: t.admin.token, body: { name: "ci" } })
    expect(created.status).toBe(201)
    const { key, token } = created.json
    expect(token).toMatch(/^mur_[A-Za-z0-9]{40}$/)
    expect(key).toMatchObject({ name: "ci", prefix: token.slice(0, 12), expires_at: null, last_used_at: null })
    const listed = await request(server.url, "GET", "/api/keys", { token: t.admin.token })
    expect(listed.json.keys).toEqual([key])
    expect(JSON.stringify(listed.json)).not.toContain(token)
    expect(JSON.stringify(await queryDb(server.db.url, "SELECT * FROM api_keys"))).not.toContain(token)
    expect(JSON.stringify(await queryDb(server.db.url, "SELECT * FROM audit_log"))).not.toContain(token)

    const me = await request(server.url, "GET", "/api/me", { token })
    expect(me.json.user.id).toBe(t.admin.id)
    const team = await request(server.url, "GET", "/api/team", { token })
    expect(team.json.team.id).toBe(t.team.id)
    const used = await request(server.url, "GET", "/api/keys", { token: t.admin.token })
    expect(used.json.keys[0].last_used_at).not.toBeNull()
    const socket = await connect(server.url, { token })
    socket.send({ type: "ping" })
    await socket.waitFor((m) => m.type === "pong")
    socket.close()
  })

  it("refuses revoked and expired keys with 401, and another user's key cannot be revoked", async () => {
    const owner = await registerUser(server.url)
    const other = await registerUser(server.url)
    const { key, token } = (
      await request(server.url, "POST", "/api/keys", {
        token: owner.token,
        body: { name: "temp", expires_in_days: 30 }
      })
    ).json
    expect(Date.parse(key.expires_at) - Date.now()).toBeGreaterThan(29 * 86_400_000)
    expectError(await request(server.url, "DELETE", `/api/keys/${key.id}`, { token: other.token }), 404, "not_found")
    expect((await request(server.url, "GET", "/api/me", { token })).status).toBe(200)
    expect((await request(server.url, "DELETE", `/api/keys/${key.id}`, { token: owner.token })).json).toEqual({
      success: true
    })
    expectError(await request(server.url, "GET", "/api/me", { token }), 401, "unauthorized")
    await expect(connect(server.url, { token })).rejects.toMatchObject({ status: 401 })
    expectError(await request(server.url, "DELETE", `/api/keys/${key.id}`, { token: owner.token }), 404, "not_found")

    const expiring = (
      await request(server.url, "POST", "/api/keys", { token: owner.token, body: { name: "old", expires_in_days: 1 } })
    ).json
    const past = new Date(Date.now() - 1000).toISOString()
    if (server.db.url.startsWith("file:")) {
      const Database = (await import("better-sqlite3")).default
      const db = new Database(server.db.url.slice(5))
      db.prepare("UPDATE api_keys SET expires_at = ? WHERE id = ?").run(past, expiring.key.id)
      db.close()
    } else {
      await queryDb(server.db.url, "UPDATE api_keys SET expires_at = $1 WHERE id = $2", [past, expiring.key.id])
    }
    expectError(await request(server.url, "GET", "/api/me", { token: expiring.token }), 401, "token_expired")
    expectError(await request(server.url, "GET", "/api/me", { token: "mur_notarealkey" }), 401, "unauthorized")
    for (const bad of [{}, { name: "" }, { name: "x", expires_in_days: 0 }, { name: "x", expires_in_days: "7" }]) {
      expectError(
        await request(server.url, "POST", "/api/keys", { token: owner.token, body: bad }),
        400,
        "invalid_request"
      )
    }
    const actions = (
      await queryDb<{ action: string }>(server.db.url, "SELECT action FROM audit_log WHERE actor_id = $1", [owner.id])
    ).map((a) => a.action)
    expect(actions).toEqual(expect.arrayContaining(["apikey.create", "apikey.revoke"]))
  })
})
