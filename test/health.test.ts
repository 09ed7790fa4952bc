/** Health when the database goes away: 503 in the envelope, never a hang or a stack trace. */
import pg from "pg"
import { describe, expect, it } from "vitest"
import { request, uniqueEmail } from "./support/http.js"
import { startTestServer } from "./support/server.js"
import { PG_ADMIN_URL } from "./support/stores.js"

describe("database loss on postgres", () => {
  it("answers /healthz and API calls with 503 unavailable once the database is gone", async () => {
    const server = await startTestServer("postgres")
    try {
      const reg = await request(server.url, "POST", "/auth/register", {
        body: { email: uniqueEmail(), password: "long enough", name: "x" }
      })
      expect(reg.status).toBe(201)
      expect((await request(server.url, "GET", "/healthz")).status).toBe(200)

      const name = new URL(server.db.url).pathname.slice(1)
      const admin = new pg.Client({ connectionString: PG_ADMIN_URL })
      await admin.connect()
      await admin.query(`DROP DATABASE ${name} WITH (FORCE)`)
      await admin.end()

      const health = await request(server.url, "GET", "/healthz")
      expect(health.status).toBe(503)
      expect(health.json.error.code).toBe("unavailable")
      const me = await request(server.url, "GET", "/api/me", { token: reg.json.access_token })
      expect(me.status).toBe(503)
      expect(me.json.error).toMatchObject({ code: "unavailable", request_id: me.headers.get("x-request-id") })
    } finally {
      await server.stop()
    }
  })
})
