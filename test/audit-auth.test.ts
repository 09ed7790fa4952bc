/** Every auth act writes its audit entry, and no entry ever holds a secret. */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { queryDb } from "./support/db.js"
import { request, uniqueEmail } from "./support/http.js"
import { startTestServer, type TestServer } from "./support/server.js"
import { STORES } from "./support/stores.js"

describe.each(STORES)("auth audit entries on %s", (store) => {
  let server: TestServer
  beforeAll(async () => {
    server = await startTestServer(store)
  })
  afterAll(async () => {
    await server?.stop()
  })

  it("records register, login, login_failed, token_reused and logout with request metadata", async () => {
    const email = uniqueEmail()
    const password = "audit password 1"
    const reg = await request(server.url, "POST", "/auth/register", {
      body: { email, password, name: "Audit" },
      headers: { "x-request-id": "req-register-1", "user-agent": "audit-test/1.0" }
    })
    expect(reg.status).toBe(201)
    const userId = reg.json.user.id
    const login = await request(server.url, "POST", "/auth/login", { body: { email, password } })
    await request(server.url, "POST", "/auth/login", { body: { email, password: "wrong password!" } })
    await request(server.url, "POST", "/auth/refresh", { body: { refresh_token: login.json.refresh_token } })
    await request(server.url, "POST", "/auth/refresh", { body: { refresh_token: login.json.refresh_token } })
    await request(server.url, "POST", "/auth/logout", { body: { refresh_token: reg.json.refresh_token } })

    const rows = await queryDb<{
      action: string
      actor_id: string
      request_id: string
      user_agent: string
      ip: string
    }>(
      server.db.url,
      "SELECT action, actor_id, request_id, user_agent, ip, metadata FROM audit_log WHERE actor_id = $1 ORDER BY created_at",
      [userId]
    )
    expect(rows.map((r) => r.action).sort()).toEqual(
      ["auth.register", "auth.login", "auth.login_failed", "auth.token_reused", "auth.logout"].sort()
    )
    const first = rows.find((r) => r.action === "auth.register")!
    expect(first.request_id).toBe("req-register-1")
    expect(first.user_agent).toBe("audit-test/1.0")
    expect(first.ip).toMatch(/127\.0\.0\.1/)

    const everything = JSON.stringify(await queryDb(server.db.url, "SELECT * FROM audit_log"))
    for (const secret of [password, reg.json.access_token, reg.json.refresh_token, login.json.refresh_token]) {
      expect(everything).not.toContain(secret)
    }
  })

  it("keeps the log append-only at the database level", async () => {
    await request(server.url, "POST", "/auth/register", {
      body: { email: uniqueEmail(), password: "long enough", name: "x" }
    })
    const url = server.db.url
    if (url.startsWith("file:")) {
      const Database = (await import("better-sqlite3")).default
      const db = new Database(url.slice(5))
      try {
        expect(() => db.prepare("DELETE FROM audit_log").run()).toThrow(/append-only/)
        expect(() => db.prepare("UPDATE audit_log SET action = 'x'").run()).toThrow(/append-only/)
      } finally {
        db.close()
      }
    } else {
      await expect(queryDb(url, "DELETE FROM audit_log")).rejects.toThrow(/append-only/)
      await expect(queryDb(url, "UPDATE audit_log SET action = 'x'")).rejects.toThrow(/append-only/)
    }
  })
})
