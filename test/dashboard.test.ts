/**
 * The web dashboard: the files it is served as, that every API call it makes is a route
 * of the contract, and a person's round through it in a real headless Chromium (sign in,
 * usage, live activity, patterns and restore, invite, API keys, audit, sign out).
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { CHROMIUM, launchBrowser } from "./support/browser.js"
import { request } from "./support/http.js"
import { ROOT, startTestServer, type TestServer } from "./support/server.js"
import { STORES } from "./support/stores.js"
import { makeTeam, registerUser } from "./support/team.js"

const SCRIPT = readFileSync(join(ROOT, "packages", "server", "assets", "dashboard.js"), "utf8")

/** `api("GET", `/api/patterns/${id}`)` → `GET /api/patterns/{}`: each call the script makes. */
const scriptCalls = (): Array<{ method: string; path: string }> =>
  [...SCRIPT.matchAll(/(?:api|request)\("(GET|POST|PUT|DELETE)", [`"]([^`"]+)[`"]/g)].map((m) => ({
    method: m[1]!,
    path: m[2]!.split("?")[0]!.replace(/\$\{[^}]+\}/g, "{}")
  }))

describe.each(STORES)("dashboard on %s", (store) => {
  let server: TestServer
  beforeAll(async () => {
    server = await startTestServer(store)
  })
  afterAll(async () => {
    await server?.stop()
  })

  it("is served at /dashboard (/ leads there) with a strict content security policy", async () => {
    const root = await fetch(`${server.url}/`, { redirect: "manual" })
    expect(root.status).toBe(302)
    expect(root.headers.get("location")).toBe("/dashboard")

    const page = await request(server.url, "GET", "/dashboard")
    expect(page.status).toBe(200)
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8")
    expect(page.headers.get("content-security-policy")).toContain("script-src 'self'")
    expect(page.headers.get("content-security-policy")).toContain("frame-ancestors 'none'")
    expect(page.headers.get("x-request-id")).toBeTruthy()
    expect(page.text).toContain('<script type="module" src="/dashboard.js"></script>')
    expect(page.text).not.toMatch(/<script>|\son\w+="/) // no inline script or handler for the CSP to refuse

    const script = await request(server.url, "GET", "/dashboard.js")
    expect(script.headers.get("content-type")).toBe("text/javascript; charset=utf-8")
    expect(script.text).toBe(SCRIPT)
    const css = await request(server.url, "GET", "/dashboard.css")
    expect(css.headers.get("content-type")).toBe("text/css; charset=utf-8")

    const missing = await request(server.url, "GET", "/dashboard.map")
    expect(missing.status).toBe(404)
    expect(missing.json.error.code).toBe("not_found")
  })

  it("calls only routes of the contract", async () => {
    const openapi = (await request(server.url, "GET", "/openapi.json")).json
    const routes = new Set(
      Object.entries(openapi.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) =>
        Object.keys(ops).map((method) => `${method.toUpperCase()} ${path.replace(/\{[^}]+\}/g, "{}")}`)
      )
    )
    const calls = scriptCalls().filter((c) => c.path.startsWith("/api/") || c.path.startsWith("/auth/"))
    expect(calls.length).toBeGreaterThan(20)
    for (const c of calls) expect(routes, `${c.method} ${c.path}`).toContain(`${c.method} ${c.path}`)
  })

  describe.skipIf(CHROMIUM === undefined)("in a real browser", () => {
    it("takes an admin through usage, live activity, patterns, the team, API keys, the audit log and sign-out", async () => {
      const t = await makeTeam(server.url, 1, "Dash Team")
      const member = t.members[0]!
      const auth = { token: t.admin.token }
      const created = await request(server.url, "POST", "/api/patterns", {
        ...auth,
        body: { name: "dash-pattern", description: "first", content: { step: 1 } }
      })
      await request(server.url, "PUT", `/api/patterns/${created.json.pattern.id}`, {
        ...auth,
        body: { content: { step: 2 }, base_version: 1 }
      })
      const stats = [100, 200, 300].map((tokens, i) => ({
        tool: "claude-code",
        action: "run",
        tokens_used: tokens,
        duration_ms: 60_000,
        cost_usd: 0.01 * (i + 1)
      }))
      expect((await request(server.url, "POST", "/api/stats", { ...auth, body: { stats } })).status).toBe(202)

      const browser = await launchBrowser()
      const { page } = browser
      try {
        await page.goto(`${server.url}/`)
        expect(await page.eval("location.pathname")).toBe("/dashboard")
        await page.waitFor(`!document.getElementById("view-signin").hidden`)
        await page.eval(`(() => {
          document.getElementById("signin-email").value = ${JSON.stringify(t.admin.email)}
          document.getElementById("signin-password").value = "test password"
          document.getElementById("signin-form").requestSubmit()
        })()`)

        // Overview: the admin's own usage and the team's, as the API computes them.
        const cards = await page.waitFor<string[]>(
          `(() => { const v = [...document.querySelectorAll("#my-totals .value")].map((n) => n.textContent); return v.length === 4 && v })()`
        )
        expect(cards).toEqual(["3", "600", "$0.06", "3 min"])
        const teamRows = await page.waitFor<string>(
          `document.querySelectorAll("#team-members-stats tbody tr").length === 2 && document.getElementById("team-members-stats").textContent`
        )
        expect(teamRows).toContain(member.name)
        expect(await page.eval(`document.querySelector("nav [data-view=audit]").hidden`)).toBe(false)

        // Live: a pattern the member creates shows up without a reload.
        await page.waitFor(`document.getElementById("live").className === "live on"`)
        await request(server.url, "POST", "/api/patterns", {
          token: member.token,
          body: { name: "live-pattern", content: { live: true } }
        })
        expect(
          await page.waitFor<string>(
            `document.getElementById("activity").textContent.includes("created live-pattern") && document.getElementById("activity").textContent`
          )
        ).toContain(member.name)

        // Patterns: list, search, detail, restore an older version.
        await page.eval(`document.querySelector("nav [data-view=patterns]").click()`)
        await page.waitFor(`document.querySelectorAll("#pattern-list tbody tr.clickable").length === 2`)
        await page.eval(`(() => {
          const box = document.getElementById("pattern-search")
          box.value = "dash"
          box.dispatchEvent(new Event("input"))
        })()`)
        await page.waitFor(
          `(() => { const rows = document.querySelectorAll("#pattern-list tbody tr.clickable"); return rows.length === 1 && rows[0].textContent.includes("dash-pattern") })()`
        )
        await page.eval(`document.querySelector("#pattern-list tbody tr.clickable").click()`)
        await page.waitFor(`document.getElementById("pattern-detail").textContent.includes("current")`)
        await page.eval(
          `[...document.querySelectorAll("#pattern-detail button")].find((b) => b.textContent === "Restore").click()`
        )
        await page.waitFor(`document.getElementById("flash").textContent.includes("restored to v1")`)
        const restored = await request(server.url, "GET", `/api/patterns/${created.json.pattern.id}`, auth)
        expect(restored.json.pattern).toMatchObject({ version: 3, content: { step: 1 } })

        // Team: an invite made in the page lets the invited person join.
        await page.eval(`document.querySelector("nav [data-view=team]").click()`)
        await page.waitFor(`document.querySelectorAll("#member-list tbody tr").length === 2`)
        const newcomer = await registerUser(server.url, "Newcomer")
        await page.eval(`(() => {
          document.getElementById("invite-email").value = ${JSON.stringify(newcomer.email)}
          document.getElementById("invite-form").requestSubmit()
        })()`)
        const invite = await page.waitFor<string>(
          `!document.getElementById("invite-result").hidden && document.getElementById("invite-result").textContent`
        )
        const code = invite.split(": ").pop()!
        const joined = await request(server.url, "POST", "/api/team/join", {
          token: newcomer.token,
          body: { invite_code: code }
        })
        expect(joined.status, joined.text).toBe(200)

        // Account: a key made in the page works until it is revoked there.
        await page.eval(`document.querySelector("nav [data-view=account]").click()`)
        await page.waitFor(`document.getElementById("key-list").textContent.includes("No API keys")`)
        await page.eval(`(() => {
          document.getElementById("key-name").value = "ci"
          document.getElementById("key-form").requestSubmit()
        })()`)
        const shown = await page.waitFor<string>(
          `!document.getElementById("key-result").hidden && document.getElementById("key-result").textContent`
        )
        const key = /mur_\S+/.exec(shown)![0]
        expect((await request(server.url, "GET", "/api/me", { token: key })).status).toBe(200)
        await page.waitFor(`document.querySelectorAll("#key-list button.danger").length === 1`)
        await page.eval(`document.querySelector("#key-list button.danger").click()`)
        await page.waitFor(`document.getElementById("key-list").textContent.includes("No API keys")`)
        expect((await request(server.url, "GET", "/api/me", { token: key })).status).toBe(401)

        // Audit: what was just done to the team is there (API keys are the user's, not the team's).
        await page.eval(`document.querySelector("nav [data-view=audit]").click()`)
        const audit = await page.waitFor<string>(
          `document.getElementById("audit-list").textContent.includes("team.invite") && document.getElementById("audit-list").textContent`
        )
        expect(audit).toContain("pattern.restore")
        expect(audit).toContain(t.admin.name) // actors by name, not only by id

        // Sign out ends the login on the server, not only in the page.
        const refresh = await page.eval<string>(`sessionStorage.getItem("mur.refresh")`)
        await page.eval(`document.getElementById("signout").click()`)
        await page.waitFor(`!document.getElementById("view-signin").hidden`)
        await page.waitFor(`document.getElementById("live").hidden`)
        const after = await request(server.url, "POST", "/auth/refresh", { body: { refresh_token: refresh } })
        expect(after.status).toBe(401)

        // A member sees no audit log and no team usage.
        await page.eval(`(() => {
          document.getElementById("signin-email").value = ${JSON.stringify(member.email)}
          document.getElementById("signin-password").value = "test password"
          document.getElementById("signin-form").requestSubmit()
        })()`)
        await page.waitFor(
          `document.querySelectorAll("#my-totals .value").length === 4 && !document.getElementById("nav").hidden`
        )
        expect(await page.eval(`document.querySelector("nav [data-view=audit]").hidden`)).toBe(true)
        expect(await page.eval(`document.querySelector("#view-overview [data-admin]").hidden`)).toBe(true)

        // A team busy recording usage (a stats_updated a second) reloads the overview once per
        // 15 s, not on every message: the page must not spend the user's rate limit.
        await page.waitFor(`document.getElementById("live").className === "live on"`)
        const loads = async () => {
          const text = (await request(server.url, "GET", "/metrics")).text
          const line = text
            .split("\n")
            .find((l) => l.startsWith('mur_http_requests_total{method="GET",route="/api/stats/me",status="200"}'))
          return Number(line?.split(" ").pop() ?? 0)
        }
        const before = await loads()
        for (let i = 0; i < 8; i++) {
          const one = { stats: [{ tool: "codex", action: "run", tokens_used: 1 }] }
          expect((await request(server.url, "POST", "/api/stats", { token: member.token, body: one })).status).toBe(202)
          await new Promise((r) => setTimeout(r, 400))
        }
        await page.waitFor(`document.querySelector("#my-totals .value").textContent !== "0"`)
        expect((await loads()) - before).toBe(1)

        expect(page.errors).toEqual([])
      } finally {
        await browser.close()
      }
    })
  })
})
