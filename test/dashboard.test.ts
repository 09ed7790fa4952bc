/**
 * The web dashboard: the files it is served as, that every API call it makes is a route
 * of the contract, and a person's round through it in a real headless Chromium (sign in,
 * usage, live activity, patterns and restore, invite, API keys, audit, sign out), and a
 * server admin's round through the Admin section and the set-password page.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { CHROMIUM, launchBrowser } from "./support/browser.js"
import { execDb } from "./support/db.js"
import { request } from "./support/http.js"
import { ROOT, startTestServer, type TestServer } from "./support/server.js"
import { STORES } from "./support/stores.js"
import { makeTeam, registerUser } from "./support/team.js"

const SCRIPT = readFileSync(join(ROOT, "packages", "server", "assets", "dashboard.js"), "utf8")

/** `api("GET", `/api/patterns/${id}`)` → `GET /api/patterns/{}`: each call the script makes. */
const scriptCalls = (): Array<{ method: string; path: string }> =>
  [...SCRIPT.matchAll(/(?:api|request)\("(GET|POST|PUT|PATCH|DELETE)", [`"]([^`"]+)[`"]/g)].map((m) => ({
    method: m[1]!,
    path: m[2]!.split("?")[0]!.replace(/\$\{[^}]+\}/g, "{}")
  }))

/**
 * The page's errors, less the 404 its server-admin probe (`GET /admin/users?limit=1`) is
 * meant to get for anyone without the role: Chromium logs every 4xx fetch as an error.
 */
const unexpected = (errors: ReadonlyArray<string>) =>
  errors.filter((e) => !(e.includes("status of 404") && e.includes("/admin/users?limit=1")))

const signIn = (email: string, password = "test password") => `(() => {
  document.getElementById("signin-email").value = ${JSON.stringify(email)}
  document.getElementById("signin-password").value = ${JSON.stringify(password)}
  document.getElementById("signin-form").requestSubmit()
})()`

describe.each(STORES)("dashboard on %s", (store) => {
  let server: TestServer
  beforeAll(async () => {
    server = await startTestServer(store)
  })
  afterAll(async () => {
    await server?.stop()
  })

  it("is served at /dashboard (/ leads there) and /set-password with a strict content security policy", async () => {
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

    const setPassword = await request(server.url, "GET", "/set-password")
    expect(setPassword.status).toBe(200)
    expect(setPassword.headers.get("content-type")).toBe("text/html; charset=utf-8")
    expect(setPassword.headers.get("content-security-policy")).toBe(page.headers.get("content-security-policy"))
    expect(setPassword.headers.get("referrer-policy")).toBe("no-referrer") // the token is in the fragment anyway
    expect(setPassword.text).toContain('<script type="module" src="/set-password.js"></script>')
    expect(setPassword.text).toContain('<link rel="stylesheet" href="/dashboard.css">')
    expect(setPassword.text).not.toMatch(/<script>|\son\w+="|style="/)
    const setPasswordJs = await request(server.url, "GET", "/set-password.js")
    expect(setPasswordJs.headers.get("content-type")).toBe("text/javascript; charset=utf-8")
    expect(setPasswordJs.headers.get("content-security-policy")).toContain("script-src 'self'")
    for (const rule of ["main.narrow", "#message.ok", "#message.error"]) expect(css.text).toContain(rule)

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
    const calls = scriptCalls()
    expect(calls.length).toBeGreaterThan(20)
    for (const c of calls) expect(c.path, `${c.method} ${c.path}`).toMatch(/^\/(api|auth|admin)\//)
    for (const c of calls) expect(routes, `${c.method} ${c.path}`).toContain(`${c.method} ${c.path}`)
    // The Admin section's calls are all checked too.
    const admin = new Set(calls.filter((c) => c.path.startsWith("/admin/")).map((c) => `${c.method} ${c.path}`))
    expect([...admin].sort()).toEqual([
      "DELETE /admin/users/{}",
      "GET /admin/teams",
      "GET /admin/teams/{}",
      "GET /admin/users",
      "PATCH /admin/teams/{}",
      "PATCH /admin/users/{}",
      "POST /admin/users",
      "POST /admin/users/{}/reset-password"
    ])
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
        // The limits in force on the free plan, beside what the team holds.
        expect(await page.eval(`document.getElementById("team-limits").textContent`)).toBe(
          "members 2 / 5 · patterns 2 / 100 · usage stats kept 7 days"
        )
        expect(await page.eval(`document.querySelector("nav [data-view=admin]").hidden`)).toBe(true)
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

        expect(unexpected(page.errors)).toEqual([])
      } finally {
        await browser.close()
      }
    })

    it("takes a server admin through users, a set-password link and a team's plan and limits", async () => {
      const t = await makeTeam(server.url, 1, "Limits Team")
      const member = t.members[0]!
      const operator = await registerUser(server.url, "Operator")
      // The role as `mur-server admin users grant-admin` stores it (that command has its own
      // tests; starting the binary here would cost seconds per store).
      expect(
        await execDb(server.db.url, "UPDATE users SET server_admin = TRUE WHERE email = $1", [operator.email])
      ).toBe(1)
      const login = (email: string, password = "test password") =>
        request(server.url, "POST", "/auth/login", { body: { email, password } })
      const row = (email: string) =>
        `[...document.querySelectorAll("#admin-user-list tbody tr")].find((r) => r.textContent.includes(${JSON.stringify(email)}))`
      const click = (email: string, label: string) =>
        page.eval(
          `[...${row(email)}.querySelectorAll("button")].find((b) => b.textContent === ${JSON.stringify(label)}).click()`
        )
      const search = (id: string, text: string) =>
        page.eval(`(() => {
          const box = document.getElementById(${JSON.stringify(id)})
          box.value = ${JSON.stringify(text)}
          box.dispatchEvent(new Event("input"))
        })()`)

      const browser = await launchBrowser()
      const { page } = browser
      try {
        // The operator is in no team: the nav still offers the Admin section.
        await page.goto(`${server.url}/dashboard`)
        await page.waitFor(`!document.getElementById("view-signin").hidden`)
        await page.eval(signIn(operator.email))
        await page.waitFor(`!document.getElementById("view-noteam").hidden && !document.getElementById("nav").hidden`)
        expect(await page.eval(`document.querySelector("nav [data-view=admin]").hidden`)).toBe(false)
        await page.eval(`document.querySelector("nav [data-view=admin]").click()`)
        await page.waitFor(`${row(operator.email)}`)
        expect(await page.eval(`${row(operator.email)}.textContent`)).toContain("server admin")

        // Search, then disable: the member can no longer log in, and their token stops working.
        await search("admin-user-search", member.email)
        await page.waitFor(
          `document.querySelectorAll("#admin-user-list tbody tr").length === 1 && ${row(member.email)}`
        )
        expect(await page.eval(`${row(member.email)}.children[2].textContent`)).toBe("1") // in one team
        await click(member.email, "Disable")
        await page.waitFor(`${row(member.email)}.querySelector(".badge.danger")?.textContent === "disabled"`)
        expect((await login(member.email)).status).toBe(403)
        expect((await request(server.url, "GET", "/api/me", { token: member.token })).status).toBe(401)
        await click(member.email, "Enable")
        await page.waitFor(`!${row(member.email)}.querySelector(".badge.danger")`)
        expect((await login(member.email)).status).toBe(200)

        // The server-admin role, granted and taken back in the page.
        await click(member.email, "Make admin")
        await page.waitFor(`${row(member.email)}.textContent.includes("server admin")`)
        const memberToken = (await login(member.email)).json.access_token
        expect((await request(server.url, "GET", "/admin/users?limit=1", { token: memberToken })).status).toBe(200)
        await click(member.email, "Revoke admin")
        await page.waitFor(`!${row(member.email)}.textContent.includes("server admin")`)
        expect((await request(server.url, "GET", "/admin/users?limit=1", { token: memberToken })).status).toBe(404)

        // Reset: every login ends, and the page shows a one-time link.
        await click(member.email, "Reset password")
        const link = await page.waitFor<string>(
          `!document.getElementById("admin-link").hidden && document.querySelector("#admin-link code")?.textContent`
        )
        expect(link).toMatch(new RegExp(`^${server.url}/set-password#token=[\\w-]+$`))
        expect((await request(server.url, "GET", "/api/me", { token: memberToken })).status).toBe(401)
        expect((await login(member.email)).status).toBe(401)

        // A user made in the page without a password gets a link; deleting them asks first.
        const newEmail = `made-${Date.now().toString(36)}@example.test`
        await page.eval(`(() => {
          document.getElementById("admin-create-email").value = ${JSON.stringify(newEmail)}
          document.getElementById("admin-create-name").value = "Made Here"
          document.getElementById("admin-create-form").requestSubmit()
        })()`)
        await page.waitFor(`document.getElementById("admin-link").textContent.includes(${JSON.stringify(newEmail)})`)
        await search("admin-user-search", "made-")
        await page.waitFor(`${row(newEmail)}`)
        await click(newEmail, "Delete")
        await page.waitFor(`document.getElementById("admin-user-list").textContent.includes("No user matches")`)

        // The member follows the reset link and chooses a password; it logs in.
        await page.goto(link)
        await page.waitFor(`!document.getElementById("form").hidden`)
        await page.eval(`(() => {
          document.getElementById("password").value = "a brand new password"
          document.getElementById("confirm").value = "a brand new password"
          document.getElementById("form").requestSubmit()
        })()`)
        await page.waitFor(`document.getElementById("message").className === "ok"`)
        expect(await page.eval(`location.hash`)).toBe("") // the token leaves the address bar
        // Styled by the dashboard's sheet: one narrow column (22rem), the result in a green box.
        expect(
          await page.eval(
            `parseFloat(getComputedStyle(document.querySelector("main")).maxWidth) / parseFloat(getComputedStyle(document.documentElement).fontSize)`
          )
        ).toBe(22)
        expect(await page.eval(`getComputedStyle(document.getElementById("message")).borderTopStyle`)).toBe("solid")
        expect((await login(member.email, "a brand new password")).status).toBe(200)

        // Teams: the plan goes to "team" with max_members 2 of the team's own.
        await page.goto(`${server.url}/dashboard#admin`)
        await page.waitFor(`!document.getElementById("view-admin").hidden`)
        await page.eval(`document.querySelector("[data-admin-tab=teams]").click()`)
        await search("admin-team-search", t.team.slug)
        await page.waitFor(
          `(() => { const rows = document.querySelectorAll("#admin-team-list tbody tr.clickable"); return rows.length === 1 && rows[0].textContent.includes("free") })()`
        )
        expect(await page.eval(`document.querySelector("#admin-team-list tbody tr").textContent`)).toContain("2 / 5")
        await page.eval(`document.querySelector("#admin-team-list tbody tr.clickable").click()`)
        await page.waitFor(`document.getElementById("admin-team-form")`)
        await page.eval(`(() => {
          const set = (id, value) => {
            const node = document.getElementById(id)
            node.value = value
            node.dispatchEvent(new Event("change"))
          }
          set("admin-team-plan", "team")
          set("admin-max_members-mode", "number")
          document.getElementById("admin-max_members-value").value = "2"
          document.getElementById("admin-team-form").requestSubmit()
        })()`)
        await page.waitFor(`document.getElementById("flash").textContent.includes("team plan, members 2")`)
        const after = await request(server.url, "GET", "/api/team", { token: t.admin.token })
        expect(after.json.team).toMatchObject({ plan: "team", max_members: 2, max_patterns: 1000, retention_days: 90 })
        await page.waitFor(
          `document.querySelector("#admin-team-list tbody tr").textContent.includes("2 / 2") && document.querySelector("#admin-team-list .tag")?.textContent === "own"`
        )
        // The open team is read again: its own limit of 2 is in force.
        await page.waitFor(`document.getElementById("admin-team-detail").textContent.includes("in force: 2")`)
        expect(await page.eval(`document.getElementById("admin-max_members-value").value`)).toBe("2")

        // A user without the role (here a team admin) sees no Admin nav.
        await page.eval(`document.getElementById("signout").click()`)
        await page.waitFor(`!document.getElementById("view-signin").hidden`)
        expect(await page.eval(`document.getElementById("admin-user-list").textContent`)).toBe("")
        await page.eval(signIn(t.admin.email))
        await page.waitFor(`!document.getElementById("nav").hidden && !document.getElementById("view-overview").hidden`)
        expect(await page.eval(`document.querySelector("nav [data-view=admin]").hidden`)).toBe(true)
        expect(await page.eval(`document.querySelector("nav [data-view=audit]").hidden`)).toBe(false)

        expect(unexpected(page.errors)).toEqual([])
      } finally {
        await browser.close()
      }
    })
  })
})
