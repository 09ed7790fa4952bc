// The mur team dashboard: a page over the JSON API and /ws/sync, with no build step and
// no dependency. Everything the server sends is put in the page as text, never as HTML.
const $ = (id) => document.getElementById(id)

/** Builds an element: `h("td", { className: "num" }, "12")`; children are nodes or text. */
const h = (tag, props = {}, ...children) => {
  const node = document.createElement(tag)
  for (const [key, value] of Object.entries(props)) {
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value)
    else if (key === "dataset") Object.assign(node.dataset, value)
    else node[key] = value
  }
  for (const child of children.flat(Number.POSITIVE_INFINITY)) {
    if (child === null || child === undefined || child === false) continue
    node.append(child instanceof Node ? child : String(child))
  }
  return node
}

const state = {
  access: sessionStorage.getItem("mur.access"),
  refresh: sessionStorage.getItem("mur.refresh"),
  team: sessionStorage.getItem("mur.team"),
  me: null,
  role: null,
  /** Whether the signed-in user holds the server-admin role (probed: /api/me does not say). */
  serverAdmin: false,
  view: "overview",
  socket: null,
  socketTries: 0,
  patternPage: 1,
  auditPage: 1,
  adminTab: "users",
  adminUserPage: 1,
  adminTeamPage: 1,
  /** The id of the team open in the admin section's detail, if any. */
  adminTeam: null,
  /** Counts sign-outs: an answer to a request of an earlier login is dropped. */
  login: 0
}

const saveTokens = (access, refresh) => {
  state.access = access
  state.refresh = refresh
  sessionStorage.setItem("mur.access", access)
  sessionStorage.setItem("mur.refresh", refresh)
}

const forget = () => {
  state.login++
  state.access = state.refresh = state.me = state.role = null
  state.serverAdmin = false
  for (const key of ["mur.access", "mur.refresh"]) sessionStorage.removeItem(key)
  closeSocket()
  // What the admin section showed (accounts, a set-password link) goes with the login.
  state.adminTeam = null
  for (const id of ["admin-user-list", "admin-team-list", "admin-team-detail", "admin-link"]) $(id).replaceChildren()
  $("admin-team-detail").hidden = true
  $("admin-link").hidden = true
}

// ---------------------------------------------------------------------------------------
// The API

class ApiError extends Error {
  constructor(status, error) {
    super(error?.message ?? `HTTP ${status}`)
    this.status = status
    this.code = error?.code ?? "http_error"
  }
}

/** The answer came after a sign-out: nothing of it belongs on the page any more. */
class Stale extends Error {}

let refreshing = null

/** Swaps the refresh token for a new pair, once at a time; false when the login has ended. */
const refreshTokens = () => {
  refreshing ??= (async () => {
    try {
      if (!state.refresh) return false
      const r = await fetch("/auth/refresh", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ refresh_token: state.refresh })
      })
      if (!r.ok) return false
      const body = await r.json()
      saveTokens(body.access_token, body.refresh_token)
      return true
    } catch {
      return false
    } finally {
      setTimeout(() => {
        refreshing = null
      }, 0)
    }
  })()
  return refreshing
}

const request = async (method, path, body, retried = false) => {
  // /admin/* answers 404 (not 401) to an expired token, so refresh a token about to expire first.
  if (path.startsWith("/admin/") && state.access && tokenExpiresSoon()) await refreshTokens()
  const headers = {}
  if (body !== undefined) headers["content-type"] = "application/json"
  if (state.access) headers.authorization = `Bearer ${state.access}`
  if (state.team && path.startsWith("/api/")) headers["x-team"] = state.team
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  if (r.status === 401 && !retried && path.startsWith("/api/") && (await refreshTokens())) {
    return request(method, path, body, true)
  }
  return r
}

/** JSON in and out; a non-2xx answer throws an ApiError with the envelope's code and message. */
const api = async (method, path, body) => {
  const login = state.login
  const r = await request(method, path, body)
  if (login !== state.login) throw new Stale("signed out")
  const text = await r.text()
  let json = null
  try {
    json = text ? JSON.parse(text) : null
  } catch {
    // not JSON: reported below by status
  }
  if (!r.ok) {
    if (r.status === 401 && path.startsWith("/api/")) {
      forget()
      show("signin")
    }
    const error = new ApiError(r.status, json?.error)
    if (r.status === 429) error.message = `Too many requests; try again in ${r.headers.get("retry-after") ?? "a few"} s`
    throw error
  }
  return json
}

// ---------------------------------------------------------------------------------------
// Formatting

const integer = new Intl.NumberFormat("en-US")
const money = new Intl.NumberFormat("en-US", {
  style: "currency",
  currency: "USD",
  minimumFractionDigits: 2,
  maximumFractionDigits: 4
})
const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—")
const ago = (iso) => {
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000)
  if (s < 60) return "just now"
  if (s < 3600) return `${Math.floor(s / 60)} min ago`
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`
  return `${Math.floor(s / 86400)} d ago`
}
const day = (date) => date.toISOString().slice(0, 10)
const range = () => {
  const days = Number($("range").value)
  const to = new Date()
  const from = new Date(to.getTime() - (days - 1) * 86_400_000)
  return `from=${day(from)}&to=${day(to)}`
}

const flash = (text, kind = "error") => {
  const node = $("flash")
  node.textContent = text
  node.className = kind
  node.hidden = false
  clearTimeout(flash.timer)
  flash.timer = setTimeout(() => {
    node.hidden = true
  }, 6000)
}

/** Runs an action and shows its error instead of throwing it. */
const attempt = async (fn) => {
  try {
    return await fn()
  } catch (e) {
    if (!(e instanceof Stale)) flash(e.message)
    return undefined
  }
}

const table = (node, columns, rows, emptyText = "Nothing yet") => {
  node.replaceChildren(
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        columns.map((c) => h("th", { className: c.num ? "num" : "" }, c.label))
      )
    ),
    h(
      "tbody",
      {},
      rows.length === 0
        ? h("tr", {}, h("td", { colSpan: columns.length, className: "empty" }, emptyText))
        : rows.map((row) =>
            h(
              "tr",
              row.onclick ? { className: "clickable", onclick: row.onclick } : {},
              columns.map((c) => h("td", { className: c.num ? "num" : "" }, c.cell(row)))
            )
          )
    )
  )
}

/** "page 2 of 5 · 93 patterns", and Previous/Next enabled where there is a page to go to. */
const showPage = (prefix, list, noun) => {
  const pages = Math.max(1, Math.ceil(list.total / list.limit))
  $(`${prefix}-page`).textContent = `page ${list.page} of ${pages} · ${integer.format(list.total)} ${noun}`
  $(`${prefix}-prev`).disabled = list.page <= 1
  $(`${prefix}-next`).disabled = list.page >= pages
}

const totalsCards = (node, stats) => {
  const card = (label, value) =>
    h("div", { className: "card" }, h("div", { className: "value" }, value), h("div", { className: "label" }, label))
  node.replaceChildren(
    card("runs", integer.format(stats.runs)),
    card("tokens", integer.format(stats.tokens)),
    card("cost", money.format(stats.cost_usd)),
    card("time in tools", `${integer.format(Math.round(stats.duration_ms / 60000))} min`)
  )
}

// ---------------------------------------------------------------------------------------
// Views

const isAdmin = () => state.role === "admin"

/** The views that show the active team; without one only Account and Admin remain. */
const TEAM_VIEWS = new Set(["overview", "patterns", "team", "audit"])

const show = (view) => {
  for (const section of document.querySelectorAll("main > section")) section.hidden = section.id !== `view-${view}`
  const signedIn = view !== "signin"
  // A server admin in no team still reaches the admin section (and their API keys).
  $("nav").hidden = !signedIn || (view === "noteam" && !state.serverAdmin)
  $("signout").hidden = !signedIn
  for (const node of document.querySelectorAll("[data-admin]")) node.hidden = !isAdmin()
  for (const b of document.querySelectorAll("nav button")) {
    if (b.dataset.view === "admin") b.hidden = !state.serverAdmin
    else if (!("admin" in b.dataset)) b.hidden = TEAM_VIEWS.has(b.dataset.view) && !state.team
    if (b.dataset.view === view) b.setAttribute("aria-current", "page")
    else b.removeAttribute("aria-current")
  }
}

const open = (view) => {
  if (view === "audit" && !isAdmin()) view = "overview"
  if (view === "admin" && !state.serverAdmin) view = "overview"
  if (TEAM_VIEWS.has(view) && !state.team) return show("noteam")
  state.view = view
  location.hash = view
  show(view)
  void attempt(loaders[view])
}

const loadOverview = async () => {
  const q = range()
  const [mine, board] = await Promise.all([
    api("GET", `/api/stats/me?${q}`),
    api("GET", `/api/stats/leaderboard?${q}&metric=${$("metric").value}`)
  ])
  totalsCards($("my-totals"), mine.stats)
  const peak = Math.max(1, ...mine.stats.by_day.map((d) => d.runs))
  $("my-days").replaceChildren(
    ...mine.stats.by_day.map((d) => {
      const bar = h("div", { title: `${d.date}: ${d.runs} runs, ${integer.format(d.tokens)} tokens` })
      bar.style.height = `${(100 * d.runs) / peak}%`
      return bar
    })
  )
  table(
    $("my-tools"),
    [
      { label: "Tool", cell: (r) => r.tool },
      { label: "Runs", num: true, cell: (r) => integer.format(r.runs) },
      { label: "Tokens", num: true, cell: (r) => integer.format(r.tokens) },
      { label: "Cost", num: true, cell: (r) => money.format(r.cost_usd) }
    ],
    mine.stats.by_tool,
    "No usage recorded in this range"
  )
  const metric = $("metric").value
  table(
    $("leaderboard"),
    [
      { label: "#", num: true, cell: (r) => r.rank },
      { label: "Member", cell: (r) => r.name },
      {
        label: "Value",
        num: true,
        cell: (r) => (metric === "cost_usd" ? money.format(r.value) : integer.format(r.value))
      }
    ],
    board.leaderboard
  )
  if (isAdmin()) {
    const team = await api("GET", `/api/stats/team?${q}`)
    totalsCards($("team-totals"), team.stats)
    table(
      $("team-members-stats"),
      [
        { label: "Member", cell: (r) => r.name },
        { label: "E-mail", cell: (r) => r.email },
        { label: "Runs", num: true, cell: (r) => integer.format(r.runs) },
        { label: "Tokens", num: true, cell: (r) => integer.format(r.tokens) },
        { label: "Cost", num: true, cell: (r) => money.format(r.cost_usd) }
      ],
      team.members
    )
  }
}

const patternQuery = () => {
  const params = new URLSearchParams({ page: String(state.patternPage), limit: "20", sort: $("pattern-sort").value })
  const search = $("pattern-search").value.trim()
  if (search) params.set("search", search)
  return params.toString()
}

const loadPatterns = async () => {
  const list = await api("GET", `/api/patterns?${patternQuery()}`)
  showPage("pattern", list, "patterns")
  table(
    $("pattern-list"),
    [
      { label: "Name", cell: (p) => h("strong", {}, p.name) },
      { label: "Description", cell: (p) => p.description },
      {
        label: "Category",
        cell: (p) => p.category ?? ""
      },
      { label: "Tags", cell: (p) => p.tags.map((t) => h("span", { className: "tag" }, t)) },
      { label: "Version", num: true, cell: (p) => p.version },
      { label: "Uses", num: true, cell: (p) => integer.format(p.usage_count) },
      { label: "Updated", cell: (p) => ago(p.updated_at) }
    ],
    list.patterns.map((p) => ({ ...p, onclick: () => attempt(() => openPattern(p.id)) })),
    $("pattern-search").value ? "No pattern matches" : "No patterns yet: `mur sync` shares them"
  )
}

const openPattern = async (id) => {
  const [{ pattern }, { versions }] = await Promise.all([
    api("GET", `/api/patterns/${id}`),
    api("GET", `/api/patterns/${id}/versions`)
  ])
  const detail = $("pattern-detail")
  detail.hidden = false
  detail.replaceChildren(
    h(
      "div",
      { className: "toolbar" },
      h("h2", {}, pattern.name),
      h("span", { className: "badge" }, `v${pattern.version}`),
      pattern.is_public ? h("span", { className: "badge" }, "public") : null,
      isAdmin()
        ? h(
            "button",
            {
              type: "button",
              className: "danger",
              onclick: () =>
                confirm(`Delete ${pattern.name}?`) &&
                attempt(async () => {
                  await api("DELETE", `/api/patterns/${id}`)
                  detail.hidden = true
                  flash(`${pattern.name} deleted`, "ok")
                  await loadPatterns()
                })
            },
            "Delete"
          )
        : null,
      h(
        "button",
        {
          type: "button",
          onclick: () => {
            detail.hidden = true
          }
        },
        "Close"
      )
    ),
    h("p", {}, pattern.description || h("span", { className: "muted" }, "No description")),
    h("p", { className: "muted" }, `Updated ${when(pattern.updated_at)} · used ${pattern.usage_count} times`),
    h("pre", {}, JSON.stringify(pattern.content, null, 2)),
    h("h2", {}, "Versions"),
    h(
      "table",
      {},
      h(
        "tbody",
        {},
        versions.map((v) =>
          h(
            "tr",
            {},
            h("td", { className: "num" }, `v${v.version}`),
            h("td", {}, v.name),
            h("td", {}, when(v.created_at)),
            h(
              "td",
              {},
              v.version === pattern.version
                ? h("span", { className: "muted" }, "current")
                : h(
                    "button",
                    {
                      type: "button",
                      onclick: () =>
                        attempt(async () => {
                          await api("POST", `/api/patterns/${id}/restore`, { version: v.version })
                          flash(`${pattern.name} restored to v${v.version} as a new version`, "ok")
                          await Promise.all([openPattern(id), loadPatterns()])
                        })
                    },
                    "Restore"
                  )
            )
          )
        )
      )
    )
  )
}

/** A limit in force: a number, or null for none. */
const cap = (limit) => (limit === null ? "unlimited" : integer.format(limit))
/** How long raw usage records are kept (`retention_days`; null: never purged). */
const kept = (days) => (days === null ? "without limit" : `${integer.format(days)} ${days === 1 ? "day" : "days"}`)

const loadTeam = async () => {
  const [{ team, members }, status] = await Promise.all([api("GET", "/api/team"), api("GET", "/api/sync/status")])
  $("team-title").textContent = team.name
  $("team-plan").textContent = `${team.plan} plan`
  $("team-limits").textContent =
    `members ${integer.format(members.length)} / ${cap(team.max_members)} · ` +
    `patterns ${integer.format(status.pattern_count)} / ${cap(team.max_patterns)} · ` +
    `usage stats kept ${kept(team.retention_days)}`
  $("rename-name").value = team.name
  const roleCell = (m) =>
    isAdmin() && m.id !== state.me.id
      ? h(
          "select",
          {
            ariaLabel: `Role of ${m.name}`,
            onchange: (e) =>
              attempt(async () => {
                await api("PUT", `/api/team/members/${m.id}`, { role: e.target.value })
                flash(`${m.name} is now ${e.target.value}`, "ok")
              }).then(loadTeam)
          },
          ["member", "admin"].map((r) => h("option", { value: r, selected: r === m.role }, r))
        )
      : m.role
  table(
    $("member-list"),
    [
      {
        label: "Name",
        cell: (m) => (m.id === state.me.id ? [m.name, h("span", { className: "muted" }, " (you)")] : m.name)
      },
      { label: "E-mail", cell: (m) => m.email },
      { label: "Role", cell: roleCell },
      { label: "Joined", cell: (m) => when(m.joined_at) },
      {
        label: "",
        cell: (m) =>
          isAdmin() && m.id !== state.me.id
            ? h(
                "button",
                {
                  type: "button",
                  className: "danger",
                  onclick: () =>
                    confirm(`Remove ${m.name} from the team?`) &&
                    attempt(() => api("DELETE", `/api/team/members/${m.id}`)).then(loadTeam)
                },
                "Remove"
              )
            : ""
      }
    ],
    members
  )
  table(
    $("device-list"),
    [
      { label: "Device", cell: (d) => h("code", {}, d.device_id) },
      { label: "Last seen", cell: (d) => ago(d.last_seen_at) },
      { label: "Pulled up to", num: true, cell: (d) => `${d.last_pulled_seq} / ${status.last_seq}` }
    ],
    status.devices,
    "No device has synced yet"
  )
}

const loadAudit = async () => {
  const params = new URLSearchParams({ page: String(state.auditPage), limit: "50" })
  const action = $("audit-action").value.trim()
  if (action) params.set("action", action)
  const [list, { members }] = await Promise.all([api("GET", `/api/audit?${params}`), api("GET", "/api/team")])
  const names = new Map(members.map((m) => [m.id, m.name]))
  const short = (id) => h("span", { title: id }, names.get(id) ?? `${id.slice(0, 8)}…`)
  showPage("audit", list, "entries")
  table(
    $("audit-list"),
    [
      { label: "When", cell: (e) => when(e.created_at) },
      { label: "Action", cell: (e) => h("code", {}, e.action) },
      { label: "Actor", cell: (e) => (e.actor_id ? short(e.actor_id) : "—") },
      {
        label: "Target",
        cell: (e) => (e.target_type ? [`${e.target_type} `, e.target_id ? short(e.target_id) : ""] : "—")
      },
      { label: "IP", cell: (e) => e.ip ?? "—" },
      {
        label: "Details",
        cell: (e) => (e.metadata && Object.keys(e.metadata).length > 0 ? JSON.stringify(e.metadata) : "")
      }
    ],
    list.entries
  )
}

const loadAccount = async () => {
  const { keys } = await api("GET", "/api/keys")
  table(
    $("key-list"),
    [
      { label: "Name", cell: (k) => k.name },
      { label: "Key", cell: (k) => h("code", {}, `${k.prefix}…`) },
      { label: "Created", cell: (k) => when(k.created_at) },
      { label: "Expires", cell: (k) => (k.expires_at ? when(k.expires_at) : "never") },
      { label: "Last used", cell: (k) => (k.last_used_at ? ago(k.last_used_at) : "never") },
      {
        label: "",
        cell: (k) =>
          h(
            "button",
            {
              type: "button",
              className: "danger",
              onclick: () =>
                confirm(`Revoke ${k.name}? Anything using it stops working.`) &&
                attempt(() => api("DELETE", `/api/keys/${k.id}`)).then(loadAccount)
            },
            "Revoke"
          )
      }
    ],
    keys,
    "No API keys"
  )
}

// ---------------------------------------------------------------------------------------
// Server administration (/admin/*, server admins only)

const adminQuery = (pageKey, searchId) => {
  const params = new URLSearchParams({ page: String(state[pageKey]), limit: "20" })
  const search = $(searchId).value.trim()
  if (search) params.set("search", search)
  return params.toString()
}

/** Shows a one-time set-password link to hand over; it is never shown again. */
const showLink = (email, url, validity) => {
  const code = h("code", { className: "url" }, url)
  const copy = () => {
    const done = () => flash("Link copied", "ok")
    const select = () => {
      getSelection().selectAllChildren(code)
      flash("The link is selected: press Ctrl+C (⌘C) to copy it", "ok")
    }
    if (navigator.clipboard) navigator.clipboard.writeText(url).then(done, select)
    else select()
  }
  const box = $("admin-link")
  box.hidden = false
  box.replaceChildren(
    h(
      "p",
      {},
      `One-time set-password link for ${email}, valid once for ${validity}. Copy it now and hand it to them: it is not shown again.`
    ),
    code,
    " ",
    h("button", { type: "button", onclick: copy }, "Copy"),
    " ",
    h(
      "button",
      {
        type: "button",
        onclick: () => {
          box.hidden = true
          box.replaceChildren()
        }
      },
      "Done"
    )
  )
}

/** An admin act on a user: asks first when `question` is given, then reloads the list. */
const userAct = (question, act) => () => {
  if (question && !confirm(question)) return
  void attempt(async () => {
    await act()
    await loadAdminUsers()
  })
}

const userActions = (u) => {
  const self = u.id === state.me?.id
  const button = (label, onclick, className = "") => h("button", { type: "button", className, onclick }, label)
  return h(
    "span",
    { className: "actions" },
    // Nobody disables, un-admins or deletes themselves here (the server refuses those too).
    self
      ? null
      : u.disabled
        ? button(
            "Enable",
            userAct(null, async () => {
              await api("PATCH", `/admin/users/${u.id}`, { disabled: false })
              flash(`${u.email} can sign in again`, "ok")
            })
          )
        : button(
            "Disable",
            userAct(`Disable ${u.email}? Their logins, API keys and live connections stop at once.`, async () => {
              await api("PATCH", `/admin/users/${u.id}`, { disabled: true })
              flash(`${u.email} is disabled`, "ok")
            })
          ),
    // Resetting one's own password would end this very login.
    self
      ? null
      : button(
          "Reset password",
          userAct(
            `Reset the password of ${u.email}? Every login of theirs ends, and you get a one-time link for them.`,
            async () => {
              const reset = await api("POST", `/admin/users/${u.id}/reset-password`, {})
              if (reset.set_password_url) showLink(u.email, reset.set_password_url, "24 hours")
            }
          )
        ),
    u.server_admin
      ? self
        ? null
        : button(
            "Revoke admin",
            userAct(`Take the server-admin role from ${u.email}?`, async () => {
              await api("PATCH", `/admin/users/${u.id}`, { server_admin: false })
              flash(`${u.email} is no longer a server admin`, "ok")
            })
          )
      : button(
          "Make admin",
          userAct(`Make ${u.email} a server admin? They can then manage every user and team.`, async () => {
            await api("PATCH", `/admin/users/${u.id}`, { server_admin: true })
            flash(`${u.email} is now a server admin`, "ok")
          })
        ),
    self
      ? null
      : button(
          "Delete",
          userAct(
            `Delete ${u.email}? Their memberships, logins and API keys go; the patterns, usage and audit entries they left stay.`,
            async () => {
              await api("DELETE", `/admin/users/${u.id}`)
              flash(`${u.email} deleted`, "ok")
            }
          ),
          "danger"
        )
  )
}

const loadAdminUsers = async () => {
  const list = await api("GET", `/admin/users?${adminQuery("adminUserPage", "admin-user-search")}`)
  if (list.users.length === 0 && list.page > 1) {
    state.adminUserPage = 1
    return loadAdminUsers()
  }
  showPage("admin-user", list, "users")
  table(
    $("admin-user-list"),
    [
      {
        label: "Name",
        cell: (u) => [
          u.name,
          u.id === state.me?.id ? h("span", { className: "muted" }, " (you)") : null,
          " ",
          u.disabled ? h("span", { className: "badge danger" }, "disabled") : null,
          u.server_admin ? h("span", { className: "badge accent" }, "server admin") : null
        ]
      },
      { label: "E-mail", cell: (u) => u.email },
      { label: "Teams", num: true, cell: (u) => integer.format(u.teams) },
      { label: "Created", cell: (u) => when(u.created_at) },
      { label: "", cell: userActions }
    ],
    list.users,
    $("admin-user-search").value.trim() ? "No user matches" : "No users"
  )
}

/** The team's own limit over its plan's, marked as such. */
const ownTag = (override) =>
  override === null ? null : h("span", { className: "tag", title: "the team's own limit, not its plan's" }, "own")

const loadAdminTeams = async () => {
  const list = await api("GET", `/admin/teams?${adminQuery("adminTeamPage", "admin-team-search")}`)
  showPage("admin-team", list, "teams")
  table(
    $("admin-team-list"),
    [
      {
        label: "Team",
        cell: (t) => [h("strong", {}, t.team.name), " ", h("span", { className: "muted" }, t.team.slug)]
      },
      { label: "Plan", cell: (t) => h("span", { className: "badge" }, t.team.plan) },
      {
        label: "Members",
        num: true,
        cell: (t) => [`${integer.format(t.members)} / ${cap(t.team.max_members)} `, ownTag(t.overrides.max_members)]
      },
      {
        label: "Patterns",
        num: true,
        cell: (t) => [`${integer.format(t.patterns)} / ${cap(t.team.max_patterns)} `, ownTag(t.overrides.max_patterns)]
      },
      {
        label: "Usage kept",
        num: true,
        cell: (t) => [`${kept(t.team.retention_days)} `, ownTag(t.overrides.retention_days)]
      },
      { label: "Created", cell: (t) => when(t.team.created_at) }
    ],
    list.teams.map((t) => ({ ...t, onclick: () => attempt(() => openAdminTeam(t.team.id)) })),
    $("admin-team-search").value.trim() ? "No team matches" : "No teams yet"
  )
  if (state.adminTeam) await openAdminTeam(state.adminTeam)
}

const LIMITS = [
  { key: "max_members", label: "Members", min: 0, max: 1_000_000 },
  { key: "max_patterns", label: "Patterns", min: 0, max: 100_000_000 },
  { key: "retention_days", label: "Usage kept (days)", min: 1, max: 36_500 }
]

/** One limit's editor: the plan's, unlimited, or a number of the team's own. */
const limitField = (t, { key, label, min, max }) => {
  const own = t.overrides[key]
  const mode = h(
    "select",
    { id: `admin-${key}-mode`, ariaLabel: `${label}: which limit` },
    h("option", { value: "plan", selected: own === null }, "plan default"),
    h("option", { value: "unlimited", selected: own === "unlimited" }, "unlimited"),
    h("option", { value: "number", selected: typeof own === "number" }, "number")
  )
  const value = h("input", {
    id: `admin-${key}-value`,
    type: "number",
    min: String(min),
    max: String(max),
    step: "1",
    ariaLabel: `${label}: number`,
    value: typeof own === "number" ? String(own) : ""
  })
  const sync = () => {
    value.disabled = mode.value !== "number"
    value.required = !value.disabled
  }
  sync()
  mode.addEventListener("change", () => {
    sync()
    if (!value.disabled) value.focus()
  })
  const current = key === "retention_days" ? kept(t.team[key]) : cap(t.team[key])
  return {
    key,
    read: () => (mode.value === "plan" ? null : mode.value === "unlimited" ? "unlimited" : Number(value.value)),
    node: h(
      "div",
      { className: "inline limit" },
      h("label", { htmlFor: mode.id }, label),
      mode,
      value,
      h("span", { className: "muted" }, `in force: ${current}`)
    )
  }
}

const openAdminTeam = async (id) => {
  const { team: t, members } = await api("GET", `/admin/teams/${id}`)
  state.adminTeam = t.team.id
  const detail = $("admin-team-detail")
  const plan = h(
    "select",
    { id: "admin-team-plan" },
    ["free", "team", "enterprise"].map((p) => h("option", { value: p, selected: p === t.team.plan }, p))
  )
  const fields = LIMITS.map((l) => limitField(t, l))
  const save = (e) => {
    e.preventDefault()
    void attempt(async () => {
      const body = { plan: plan.value }
      for (const f of fields) body[f.key] = f.read()
      const { team: saved } = await api("PATCH", `/admin/teams/${t.team.id}`, body)
      flash(
        `${saved.team.name} saved: ${saved.team.plan} plan, members ${cap(saved.team.max_members)}, ` +
          `patterns ${cap(saved.team.max_patterns)}, usage kept ${kept(saved.team.retention_days)}`,
        "ok"
      )
      await loadAdminTeams()
    })
  }
  detail.hidden = false
  detail.replaceChildren(
    h(
      "div",
      { className: "toolbar" },
      h("h2", {}, t.team.name),
      h("span", { className: "badge" }, t.team.slug),
      h(
        "button",
        {
          type: "button",
          onclick: () => {
            state.adminTeam = null
            detail.hidden = true
          }
        },
        "Close"
      )
    ),
    h(
      "p",
      { className: "muted" },
      `Created ${when(t.team.created_at)} · ${integer.format(t.members)} members · ${integer.format(t.patterns)} patterns`
    ),
    h(
      "form",
      { id: "admin-team-form", onsubmit: save },
      h("div", { className: "inline" }, h("label", { htmlFor: "admin-team-plan" }, "Plan"), plan),
      fields.map((f) => f.node),
      h(
        "p",
        { className: "muted" },
        "A limit below what the team holds removes nothing: it only stops new members or patterns."
      ),
      h("button", { type: "submit" }, "Save plan and limits")
    ),
    h("h3", {}, "Members"),
    h(
      "table",
      {},
      h(
        "tbody",
        {},
        members.length === 0
          ? h("tr", {}, h("td", { className: "empty" }, "No members"))
          : members.map((m) => h("tr", {}, h("td", {}, m.name), h("td", {}, m.email), h("td", {}, m.role)))
      )
    )
  )
}

const showAdminTab = (tab) => {
  state.adminTab = tab
  $("admin-users").hidden = tab !== "users"
  $("admin-teams").hidden = tab !== "teams"
  for (const b of document.querySelectorAll("[data-admin-tab]"))
    b.setAttribute("aria-selected", String(b.dataset.adminTab === tab))
}

const loadAdmin = () => {
  showAdminTab(state.adminTab)
  return state.adminTab === "teams" ? loadAdminTeams() : loadAdminUsers()
}

/** Whether this user may use /admin/*: 200 for a server admin, 404 for anyone else. */
const probeServerAdmin = async () => {
  try {
    return (await request("GET", "/admin/users?limit=1")).ok
  } catch {
    return false
  }
}

const loaders = {
  overview: loadOverview,
  patterns: loadPatterns,
  team: loadTeam,
  audit: loadAudit,
  account: loadAccount,
  admin: loadAdmin
}

/**
 * How often live messages may reload a view. A busy team sends `stats_updated` every second
 * and pattern events in bursts; reloading on each would spend the per-user rate limit
 * (RATE_LIMIT_USER, 100 a minute) in no time.
 */
const RELOAD_EVERY_MS = { overview: 15_000, patterns: 3_000, team: 3_000 }
const reloads = new Map()

/** Reloads the open view once for a burst of live messages, at most once per its interval. */
const reloadSoon = (view) => {
  if (state.view !== view || reloads.get(view)?.timer) return
  const last = reloads.get(view)?.at ?? 0
  const wait = Math.max(500, last + RELOAD_EVERY_MS[view] - Date.now())
  const timer = setTimeout(() => {
    reloads.set(view, { at: Date.now(), timer: null })
    if (state.view === view) void attempt(loaders[view])
  }, wait)
  reloads.set(view, { at: last, timer })
}

// ---------------------------------------------------------------------------------------
// Live: /ws/sync

const activity = (text) => {
  const list = $("activity")
  list.prepend(h("li", {}, h("span", { className: "muted" }, `${new Date().toLocaleTimeString()} `), text))
  while (list.children.length > 50) list.lastElementChild.remove()
}

const closeSocket = () => {
  const socket = state.socket
  state.socket = null
  if (socket) socket.close(1000)
  $("live").hidden = true
}

const tokenExpiresSoon = () => {
  try {
    const payload = JSON.parse(atob(state.access.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")))
    return payload.exp * 1000 - Date.now() < 30_000
  } catch {
    return true
  }
}

const connectSocket = async () => {
  closeSocket()
  if (!state.access || !state.team) return
  if (tokenExpiresSoon() && !(await refreshTokens())) return
  const url = new URL("/ws/sync", location.href)
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:"
  url.searchParams.set("token", state.access)
  url.searchParams.set("team", state.team)
  url.searchParams.set("device_id", "dashboard")
  const socket = new WebSocket(url)
  state.socket = socket
  socket.onopen = () => socket.send(JSON.stringify({ type: "subscribe", channels: ["patterns", "presence", "stats"] }))
  socket.onmessage = (e) => {
    let m
    try {
      m = JSON.parse(e.data)
    } catch {
      return
    }
    switch (m.type) {
      case "subscribed":
        state.socketTries = 0
        $("live").hidden = false
        $("live").className = "live on"
        return
      case "pattern_created":
      case "pattern_updated":
        activity(
          `${m.user?.name ?? "someone"} ${m.type === "pattern_created" ? "created" : "updated"} ${m.pattern.name} (v${m.pattern.version})`
        )
        reloadSoon("patterns")
        return
      case "pattern_deleted":
        activity(`${m.user?.name ?? "someone"} deleted a pattern`)
        reloadSoon("patterns")
        return
      case "member_joined":
        activity(`${m.user.name} joined the team`)
        reloadSoon("team")
        return
      case "member_left":
        activity("A member left the team")
        reloadSoon("team")
        return
      case "stats_updated":
        reloadSoon("overview")
        return
      case "presence":
        $("presence").replaceChildren(
          ...(m.online.length === 0
            ? [h("li", { className: "empty" }, "Nobody")]
            : m.online.map((o) =>
                h(
                  "li",
                  {},
                  h("strong", {}, o.name),
                  " ",
                  h("span", { className: "muted" }, `${o.device_id ?? ""} · since ${ago(o.since)}`)
                )
              ))
        )
        return
      default:
        return
    }
  }
  socket.onclose = (e) => {
    if (state.socket !== socket) return
    state.socket = null
    $("live").className = "live"
    if (e.code === 4403) {
      flash("You are no longer a member of this team")
      state.team = null
      void start()
      return
    }
    if (e.code === 4401) {
      // The login or key was revoked: sign in again.
      forget()
      show("signin")
      return
    }
    // Anything else (server restart, idle, network): reconnect with backoff.
    const wait = Math.min(30_000, 1000 * 2 ** state.socketTries++) * (0.5 + Math.random() / 2)
    setTimeout(() => {
      if (state.socket === null && state.access) void connectSocket()
    }, wait)
  }
}

// ---------------------------------------------------------------------------------------
// Start, sign-in, team choice

const start = async () => {
  if (!state.access) return show("signin")
  const me = await attempt(() => api("GET", "/api/me"))
  if (!me) return
  state.me = me.user
  state.serverAdmin = await probeServerAdmin()
  $("whoami").textContent = me.user.name
  const select = $("team-select")
  select.replaceChildren(...me.teams.map(({ team }) => h("option", { value: team.id }, team.name)))
  select.hidden = me.teams.length < 2
  const fromHash = location.hash.slice(1)
  if (me.teams.length === 0) {
    state.team = null
    state.role = null
    closeSocket()
    if (state.serverAdmin && (fromHash === "admin" || state.view === "admin")) return open("admin")
    return show("noteam")
  }
  const current = me.teams.find(({ team }) => team.id === state.team) ?? me.teams[0]
  state.team = current.team.id
  state.role = current.role
  select.value = state.team
  sessionStorage.setItem("mur.team", state.team)
  void connectSocket()
  open(loaders[fromHash] ? fromHash : state.view)
}

let registering = false
$("signin-toggle").addEventListener("click", () => {
  registering = !registering
  for (const node of document.querySelectorAll("[data-register]")) node.hidden = !registering
  $("signin-name").required = registering
  $("signin-submit").textContent = registering ? "Create account" : "Sign in"
  $("signin-toggle").textContent = registering ? "I have an account" : "Create an account instead"
  $("signin-password").autocomplete = registering ? "new-password" : "current-password"
})

$("signin-form").addEventListener("submit", (e) => {
  e.preventDefault()
  void attempt(async () => {
    const body = { email: $("signin-email").value, password: $("signin-password").value }
    const login = registering
      ? await api("POST", "/auth/register", { ...body, name: $("signin-name").value })
      : await api("POST", "/auth/login", body)
    saveTokens(login.access_token, login.refresh_token)
    $("signin-password").value = ""
    await start()
  })
})

$("signout").addEventListener("click", async () => {
  // End the login on the server first; the page signs out even if that fails.
  $("signout").disabled = true
  if (state.refresh) await attempt(() => api("POST", "/auth/logout", { refresh_token: state.refresh }))
  $("signout").disabled = false
  forget()
  show("signin")
})

$("team-select").addEventListener("change", (e) => {
  state.team = e.target.value
  sessionStorage.setItem("mur.team", state.team)
  void start()
})

$("create-team-form").addEventListener("submit", (e) => {
  e.preventDefault()
  void attempt(async () => {
    const { team } = await api("POST", "/api/team", { name: $("create-team-name").value })
    state.team = team.id
    await start()
  })
})

$("join-team-form").addEventListener("submit", (e) => {
  e.preventDefault()
  void attempt(async () => {
    const { team } = await api("POST", "/api/team/join", { invite_code: $("join-code").value.trim() })
    state.team = team.id
    await start()
  })
})

for (const button of document.querySelectorAll("nav button"))
  button.addEventListener("click", () => open(button.dataset.view))
$("range").addEventListener("change", () => void attempt(loadOverview))
$("metric").addEventListener("change", () => void attempt(loadOverview))

$("export-link").addEventListener("click", () => {
  void attempt(async () => {
    const r = await request("GET", `/api/stats/export?format=csv&scope=team&${range()}`)
    if (!r.ok) throw new ApiError(r.status, (await r.json().catch(() => null))?.error)
    const link = h("a", { href: URL.createObjectURL(await r.blob()), download: `mur-stats-${day(new Date())}.csv` })
    link.click()
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000)
  })
})

/**
 * Wires a paged list: `${prefix}-prev` / `${prefix}-next` move `state[key]`, and typing in
 * the `filter` box (after a pause) or changing one of `selects` goes back to page 1.
 */
const wireList = (prefix, key, load, filter, selects = []) => {
  const go = (page) => {
    state[key] = page
    void attempt(load)
  }
  let timer
  $(filter).addEventListener("input", () => {
    clearTimeout(timer)
    timer = setTimeout(() => go(1), 250)
  })
  for (const id of selects) $(id).addEventListener("change", () => go(1))
  $(`${prefix}-prev`).addEventListener("click", () => go(state[key] - 1))
  $(`${prefix}-next`).addEventListener("click", () => go(state[key] + 1))
}
wireList("pattern", "patternPage", loadPatterns, "pattern-search", ["pattern-sort"])
wireList("audit", "auditPage", loadAudit, "audit-action")
wireList("admin-user", "adminUserPage", loadAdminUsers, "admin-user-search")
wireList("admin-team", "adminTeamPage", loadAdminTeams, "admin-team-search")

for (const b of document.querySelectorAll("[data-admin-tab]"))
  b.addEventListener("click", () => {
    showAdminTab(b.dataset.adminTab)
    void attempt(loaders.admin)
  })

$("admin-create-form").addEventListener("submit", (e) => {
  e.preventDefault()
  void attempt(async () => {
    const password = $("admin-create-password").value
    const created = await api("POST", "/admin/users", {
      email: $("admin-create-email").value.trim(),
      name: $("admin-create-name").value.trim(),
      ...(password ? { password } : {})
    })
    if (created.set_password_url) showLink(created.user.email, created.set_password_url, "7 days")
    else {
      $("admin-link").hidden = true
      flash(`${created.user.email} created: they sign in with the password you chose`, "ok")
    }
    for (const id of ["admin-create-email", "admin-create-name", "admin-create-password"]) $(id).value = ""
    await loadAdminUsers()
  })
})

$("rename-form").addEventListener("submit", (e) => {
  e.preventDefault()
  void attempt(async () => {
    await api("PUT", "/api/team", { name: $("rename-name").value })
    flash("Team renamed", "ok")
    await start()
  })
})

$("invite-form").addEventListener("submit", (e) => {
  e.preventDefault()
  void attempt(async () => {
    const email = $("invite-email").value
    const invite = await api("POST", "/api/team/invite", { email, role: $("invite-role").value })
    const result = $("invite-result")
    result.hidden = false
    result.textContent = `Invite code for ${email} (single use, until ${when(invite.expires_at)}): ${invite.invite_code}`
    $("invite-email").value = ""
  })
})

$("leave-team").addEventListener("click", () => {
  if (!confirm("Leave this team? You will need a new invite to come back.")) return
  void attempt(async () => {
    await api("POST", "/api/team/leave")
    state.team = null
    await start()
  })
})

$("key-form").addEventListener("submit", (e) => {
  e.preventDefault()
  void attempt(async () => {
    const days = $("key-days").value
    const created = await api("POST", "/api/keys", {
      name: $("key-name").value,
      ...(days ? { expires_in_days: Number(days) } : {})
    })
    const result = $("key-result")
    result.hidden = false
    result.textContent = `${created.key.name}: ${created.token} (shown once: copy it now)`
    $("key-name").value = ""
    $("key-days").value = ""
    await loadAccount()
  })
})

void start()
