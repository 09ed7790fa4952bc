/** The Conventions and Auth sections of the contract, on both stores, through real HTTP. */
import { createHmac } from "node:crypto"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { request, uniqueEmail } from "./support/http.js"
import { startTestServer, TEST_SECRET, type TestServer } from "./support/server.js"
import { STORES } from "./support/stores.js"

const b64url = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url")
const signHs256 = (header: object, payload: object, secret: string) => {
  const input = `${b64url(header)}.${b64url(payload)}`
  return `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`
}
const decodePayload = (jwt: string) => JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString())

const expectError = (reply: { status: number; json: any; headers: Headers }, status: number, code: string) => {
  expect(reply.status, JSON.stringify(reply.json)).toBe(status)
  expect(reply.json.error.code).toBe(code)
  expect(typeof reply.json.error.message).toBe("string")
  expect(reply.json.error.request_id).toBe(reply.headers.get("x-request-id"))
  expect(JSON.stringify(reply.json)).not.toMatch(/at .*\.(js|ts):\d+/)
}

describe.each(STORES)("auth on %s", (store) => {
  let server: TestServer
  let base: string
  const password = "correct horse battery"

  beforeAll(async () => {
    server = await startTestServer(store)
    base = server.url
  })
  afterAll(async () => {
    await server?.stop()
  })

  const register = (email = uniqueEmail(), name = "Ada") =>
    request(base, "POST", "/auth/register", { body: { email, password, name } })

  describe("register", () => {
    it("creates the user and returns tokens; email is trimmed and lower-cased", async () => {
      const email = uniqueEmail("Mixed")
      const r = await register(`  ${email.toUpperCase()}  `)
      expect(r.status).toBe(201)
      expect(r.json.user).toMatchObject({ email: email.toLowerCase(), name: "Ada" })
      expect(r.json.user.id).toMatch(/^[0-9a-f-]{36}$/)
      expect(new Date(r.json.user.created_at).toISOString()).toBe(r.json.user.created_at)
      expect(r.json.expires_in).toBe(900)
      expect(typeof r.json.access_token).toBe("string")
      expect(typeof r.json.refresh_token).toBe("string")
      expect(r.json.user.password_hash).toBeUndefined()
      const me = await request(base, "GET", "/api/me", { token: r.json.access_token })
      expect(me.status).toBe(200)
      expect(me.json).toEqual({ user: r.json.user, teams: [] })
    })

    it("refuses a duplicate email with 409 email_taken, whatever its case", async () => {
      const email = uniqueEmail()
      expect((await register(email)).status).toBe(201)
      expectError(await register(email.toUpperCase()), 409, "email_taken")
    })

    it.each([
      ["a bad email", { email: "not-an-email", password: "long enough", name: "x" }, "email"],
      ["a short password", { email: uniqueEmail(), password: "short", name: "x" }, "password"],
      ["a password over 72 bytes", { email: uniqueEmail(), password: "é".repeat(37), name: "x" }, "password"],
      ["a number for a string", { email: uniqueEmail(), password: 12345678, name: "x" }, "password"],
      ["a missing field", { email: uniqueEmail(), password: "long enough" }, "name"],
      ["an empty name", { email: uniqueEmail(), password: "long enough", name: "  " }, "name"]
    ])("answers %s with 400 invalid_request naming the field", async (_label, body, field) => {
      const r = await request(base, "POST", "/auth/register", { body })
      expectError(r, 400, "invalid_request")
      expect(r.json.error.details.map((d: any) => d.path)).toContain(field)
    })

    it("accepts a password of exactly 72 bytes", async () => {
      const r = await request(base, "POST", "/auth/register", {
        body: { email: uniqueEmail(), password: "a".repeat(72), name: "x" }
      })
      expect(r.status).toBe(201)
    })

    it("answers malformed JSON, a non-object body and an 11 MB body in the envelope", async () => {
      expectError(await request(base, "POST", "/auth/register", { body: "{nope" }), 400, "invalid_request")
      expectError(await request(base, "POST", "/auth/register", { body: "[1,2]" }), 400, "invalid_request")
      const big = JSON.stringify({ email: uniqueEmail(), password, name: "x".repeat(11 * 1024 * 1024) })
      expectError(await request(base, "POST", "/auth/register", { body: big }), 413, "payload_too_large")
    })
  })

  describe("login", () => {
    it("logs in with the right password", async () => {
      const email = uniqueEmail()
      const reg = await register(email)
      const r = await request(base, "POST", "/auth/login", { body: { email, password } })
      expect(r.status).toBe(200)
      expect(r.json.user).toEqual(reg.json.user)
      expect(r.json.refresh_token).not.toBe(reg.json.refresh_token)
    })

    it("answers a wrong password and an unknown email the same 401 invalid_credentials", async () => {
      const email = uniqueEmail()
      await register(email)
      const wrong = await request(base, "POST", "/auth/login", { body: { email, password: "wrong password" } })
      const unknown = await request(base, "POST", "/auth/login", { body: { email: uniqueEmail(), password } })
      expectError(wrong, 401, "invalid_credentials")
      expectError(unknown, 401, "invalid_credentials")
      expect(wrong.json.error.message).toBe(unknown.json.error.message)
    })
  })

  describe("refresh and logout", () => {
    it("rotates refresh tokens: the old one stops working", async () => {
      const reg = await register()
      const r1 = await request(base, "POST", "/auth/refresh", { body: { refresh_token: reg.json.refresh_token } })
      expect(r1.status).toBe(200)
      expect(Object.keys(r1.json).sort()).toEqual(["access_token", "expires_in", "refresh_token"])
      expect(r1.json.refresh_token).not.toBe(reg.json.refresh_token)
      const me = await request(base, "GET", "/api/me", { token: r1.json.access_token })
      expect(me.status).toBe(200)
      const r2 = await request(base, "POST", "/auth/refresh", { body: { refresh_token: r1.json.refresh_token } })
      expect(r2.status).toBe(200)
      // Every access token is its own, even when signed in the same second as the last.
      const access = [reg.json.access_token, r1.json.access_token, r2.json.access_token]
      expect(new Set(access).size).toBe(3)
      expect(new Set(access.map((t) => decodePayload(t).jti)).size).toBe(3)
    })

    it("treats a reused refresh token as theft: 401 token_reused and the whole login revoked", async () => {
      const reg = await register()
      const rotated = await request(base, "POST", "/auth/refresh", { body: { refresh_token: reg.json.refresh_token } })
      expect(rotated.status).toBe(200)
      const reuse = await request(base, "POST", "/auth/refresh", { body: { refresh_token: reg.json.refresh_token } })
      expectError(reuse, 401, "token_reused")
      // Every token of that login stops working: the newest refresh token and the access tokens.
      expectError(
        await request(base, "POST", "/auth/refresh", { body: { refresh_token: rotated.json.refresh_token } }),
        401,
        "unauthorized"
      )
      expectError(await request(base, "GET", "/api/me", { token: rotated.json.access_token }), 401, "unauthorized")
      expectError(await request(base, "GET", "/api/me", { token: reg.json.access_token }), 401, "unauthorized")
    })

    it("does not touch the other logins of the same user", async () => {
      const email = uniqueEmail()
      const reg = await register(email)
      const other = await request(base, "POST", "/auth/login", { body: { email, password } })
      await request(base, "POST", "/auth/refresh", { body: { refresh_token: reg.json.refresh_token } })
      await request(base, "POST", "/auth/refresh", { body: { refresh_token: reg.json.refresh_token } })
      expect((await request(base, "GET", "/api/me", { token: other.json.access_token })).status).toBe(200)
    })

    it("logout ends that login's tokens", async () => {
      const reg = await register()
      const out = await request(base, "POST", "/auth/logout", { body: { refresh_token: reg.json.refresh_token } })
      expect(out.status).toBe(200)
      expect(out.json).toEqual({ success: true })
      expectError(await request(base, "GET", "/api/me", { token: reg.json.access_token }), 401, "unauthorized")
      expectError(
        await request(base, "POST", "/auth/refresh", { body: { refresh_token: reg.json.refresh_token } }),
        401,
        "unauthorized"
      )
    })

    it("refuses an unknown refresh token", async () => {
      expectError(
        await request(base, "POST", "/auth/refresh", { body: { refresh_token: "nope" } }),
        401,
        "unauthorized"
      )
    })
  })

  describe("access tokens", () => {
    it("refuses a missing, malformed or unknown bearer", async () => {
      expectError(await request(base, "GET", "/api/me"), 401, "unauthorized")
      expectError(await request(base, "GET", "/api/me", { token: "garbage" }), 401, "unauthorized")
      expectError(
        await request(base, "GET", "/api/me", { headers: { authorization: "Basic Zm9vOmJhcg==" } }),
        401,
        "unauthorized"
      )
    })

    it("refuses forged, alg:none and edited tokens", async () => {
      const reg = await register()
      const token: string = reg.json.access_token
      const payload = decodePayload(token)
      const header = JSON.parse(Buffer.from(token.split(".")[0]!, "base64url").toString())
      expect(header.alg).toBe("HS256")

      const forged = signHs256(header, payload, "another-secret-another-secret-another-secret")
      const none = `${b64url({ alg: "none", typ: "JWT" })}.${b64url(payload)}.`
      const [h, , s] = token.split(".")
      const edited = `${h}.${b64url({ ...payload, sub: "00000000-0000-4000-8000-000000000000" })}.${s}`
      for (const bad of [forged, none, edited]) {
        expectError(await request(base, "GET", "/api/me", { token: bad }), 401, "unauthorized")
      }
      // The same claims signed with the server's own secret are accepted: the checks above
      // failed on the signature and algorithm, not on the claims.
      const resigned = signHs256(header, payload, TEST_SECRET)
      expect((await request(base, "GET", "/api/me", { token: resigned })).status).toBe(200)
    })

    it("answers an expired token with 401 token_expired", async () => {
      const reg = await register()
      const payload = decodePayload(reg.json.access_token)
      const expired = signHs256(
        { alg: "HS256", typ: "JWT" },
        { ...payload, iat: payload.iat - 3600, exp: Math.floor(Date.now() / 1000) - 60 },
        TEST_SECRET
      )
      expectError(await request(base, "GET", "/api/me", { token: expired }), 401, "token_expired")
    })
  })

  describe("conventions", () => {
    it("echoes a well-formed X-Request-Id and makes one otherwise", async () => {
      const echoed = await request(base, "GET", "/healthz", { headers: { "x-request-id": "abc-123" } })
      expect(echoed.headers.get("x-request-id")).toBe("abc-123")
      const replaced = await request(base, "GET", "/healthz", { headers: { "x-request-id": "bad id with spaces" } })
      expect(replaced.headers.get("x-request-id")).not.toBe("bad id with spaces")
      expect(replaced.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/)
    })

    it("answers unknown routes with a JSON 404", async () => {
      const r = await request(base, "GET", "/api/nope")
      expectError(r, 404, "not_found")
      expectError(await request(base, "DELETE", "/auth/login"), 404, "not_found")
    })

    it("serves the OpenAPI document generated from the contract", async () => {
      const r = await request(base, "GET", "/openapi.json")
      expect(r.status).toBe(200)
      expect(r.json.openapi).toMatch(/^3\./)
      expect(Object.keys(r.json.paths)).toEqual(expect.arrayContaining(["/auth/register", "/auth/login", "/api/me"]))
    })

    it("serves /healthz, /readyz and Prometheus /metrics", async () => {
      expect((await request(base, "GET", "/healthz")).json).toEqual({ status: "ok" })
      expect((await request(base, "GET", "/readyz")).status).toBe(200)
      const m = await request(base, "GET", "/metrics")
      expect(m.status).toBe(200)
      expect(m.headers.get("content-type")).toMatch(/^text\/plain/)
      expect(m.text).toMatch(/mur_http_requests_total\{method="GET",route="\/healthz",status="200"\} \d+/)
      expect(m.text).toMatch(
        /mur_http_request_duration_seconds_bucket\{method="GET",route="\/healthz",le="\+Inf"\} \d+/
      )
    })
  })
})

describe.each(STORES)("server settings on %s", (store) => {
  it("refuses registration with 403 signup_disabled when sign-up is off, but still logs in", async () => {
    const server = await startTestServer(store, { engine: { allowSignup: false } })
    try {
      const r = await request(server.url, "POST", "/auth/register", {
        body: { email: uniqueEmail(), password: "long enough", name: "x" }
      })
      expectError(r, 403, "signup_disabled")
    } finally {
      await server.stop()
    }
  })

  it("rate-limits /auth/* per IP with 429 and Retry-After", async () => {
    const server = await startTestServer(store, { rateLimits: { auth: 3, user: 0, team: 0 } })
    try {
      const body = { email: uniqueEmail(), password: "wrong password" }
      const statuses: number[] = []
      let last: any
      for (let i = 0; i < 5; i++) {
        last = await request(server.url, "POST", "/auth/login", { body })
        statuses.push(last.status)
      }
      expect(statuses).toEqual([401, 401, 401, 429, 429])
      expectError(last, 429, "rate_limited")
      expect(Number(last.headers.get("retry-after"))).toBeGreaterThan(0)
    } finally {
      await server.stop()
    }
  })

  it("rate-limits /api/* per user", async () => {
    const server = await startTestServer(store, { rateLimits: { auth: 0, user: 2, team: 0 } })
    try {
      const reg = await request(server.url, "POST", "/auth/register", {
        body: { email: uniqueEmail(), password: "long enough", name: "x" }
      })
      const statuses: number[] = []
      for (let i = 0; i < 3; i++)
        statuses.push((await request(server.url, "GET", "/api/me", { token: reg.json.access_token })).status)
      expect(statuses).toEqual([200, 200, 429])
    } finally {
      await server.stop()
    }
  })
})
