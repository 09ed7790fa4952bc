/**
 * Listing and searching patterns, on both stores, through real HTTP: full-text search over
 * name, description and content, relevance ranking, hostile search strings, the category
 * and tag filters, the sort orders and pagination.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Reply, request, uniqueEmail } from "./support/http.js"
import { startTestServer, type TestServer } from "./support/server.js"
import { STORES } from "./support/stores.js"

/** Search strings full of SQL, FTS5 and tsquery syntax. */
const HOSTILE: ReadonlyArray<string> = [
  "'",
  '"',
  "*",
  "NEAR",
  "NEAR(kraken deploy)",
  "kraken NEAR deploy",
  "NEAR/2",
  "--",
  "kraken --",
  "-- comment",
  "-kraken",
  ")",
  "(",
  "()",
  "((kraken)",
  "OR",
  "kraken OR",
  "OR kraken",
  "kraken OR deploy",
  "AND",
  "NOT",
  "AND NOT",
  "kraken AND NOT deploy",
  "%",
  "_",
  "%_%",
  "kra%",
  "\\",
  "\\\\",
  "kraken\\",
  "'; DROP TABLE patterns; --",
  "1' OR '1'='1",
  '" OR ""="',
  '"unterminated',
  "kraken*",
  "*kraken",
  "^kraken",
  "name:kraken",
  "{name description}: kraken",
  "kraken + deploy",
  "kraken:*",
  "kraken:A",
  "a & b | !c",
  "<->",
  "kraken <-> deploy",
  "kraken <2> deploy",
  "!!",
  "&&",
  "||",
  "$1",
  "?",
  ":",
  "@@",
  ";",
  "`",
  "/* */",
  "\t\n",
  "日本語",
  "héllo wörld",
  "🚀 rocket",
  "Ünïcödé ß",
  "\u200b",
  "x".repeat(500),
  `'"*NEAR--)(OR AND NOT%_\\ü`.repeat(50).slice(0, 500)
]

type Query = Record<string, string | number | undefined>

interface Session {
  readonly id: string
  readonly token: string
}

describe.each(STORES)("pattern search and listing on %s", (store) => {
  let server: TestServer
  let base: string
  /** Team S: the search corpus. */
  let s: Session
  /** Team P: exactly 12 patterns, for pagination and sort orders. */
  let p: Session
  /** Team X: another team with a private pattern full of the searched words. */
  let x: Session
  const ids: Record<string, string> = {}

  const register = async (name: string): Promise<Session> => {
    const r = await request(base, "POST", "/auth/register", {
      body: { email: uniqueEmail(name), password: "search password 1", name }
    })
    expect(r.status, r.text).toBe(201)
    const t = await request(base, "POST", "/api/team", { token: r.json.access_token, body: { name } })
    expect(t.status, t.text).toBe(201)
    return { id: r.json.user.id, token: r.json.access_token }
  }

  const create = async (who: Session, body: Record<string, unknown>) => {
    const r = await request(base, "POST", "/api/patterns", { token: who.token, body: { content: {}, ...body } })
    expect(r.status, r.text).toBe(201)
    ids[body.name as string] = r.json.pattern.id
    return r.json.pattern
  }

  const list = (who: Session, query: Query): Promise<Reply> => {
    const entries = Object.entries(query).filter((e): e is [string, string | number] => e[1] !== undefined)
    const qs = new URLSearchParams(entries.map(([k, v]): [string, string] => [k, String(v)])).toString()
    return request(base, "GET", `/api/patterns${qs === "" ? "" : `?${qs}`}`, { token: who.token })
  }

  const names = (r: Reply): string[] => {
    expect(r.status, r.text).toBe(200)
    return r.json.patterns.map((q: any) => q.name)
  }

  beforeAll(async () => {
    server = await startTestServer(store)
    base = server.url
    ;[s, p, x] = await Promise.all([register("search"), register("pages"), register("outsider")])

    await create(s, {
      name: "kraken-deploy",
      description: "Ships the service to production",
      content: { steps: ["build", "ship"] },
      category: "ops",
      tags: ["deploy", "prod"]
    })
    await create(s, {
      name: "release-notes",
      description: "Writes the changelog",
      content: { prompt: "summarise the merged work; mention the kraken when relevant" },
      category: "docs",
      tags: ["prod"]
    })
    await create(s, {
      name: "aquarium",
      description: "Feeds the zebrafish every morning",
      content: { prompt: "check the water" },
      category: "ops",
      tags: ["pets", "it's", "c++"]
    })
    await create(s, {
      name: "time-machine",
      description: "Goes back to 1955",
      content: { steps: [{ run: "calibrate the flux capacitor" }, { run: "reach 88 mph" }] },
      category: null,
      tags: []
    })
    await create(s, {
      name: "Lookup_Table",
      description: "A table of values",
      content: { note: "plain" },
      category: "docs",
      tags: ["deploy"]
    })
    // Another team's private pattern with every searched word, and a public one
    await create(x, {
      name: "kraken-secret",
      description: "zebrafish kraken",
      content: { text: "capacitor kraken zebrafish" }
    })
    await create(x, {
      name: "kraken-shared",
      description: "the zebrafish handbook",
      content: { text: "capacitor" },
      is_public: true
    })

    // Team P: 12 patterns created in parallel, so several share an updated_at
    const fruit = [
      "apple",
      "Banana",
      "cherry",
      "Date",
      "elder",
      "fig",
      "Grape",
      "honeydew",
      "ivy",
      "Jujube",
      "kiwi",
      "lemon"
    ]
    await Promise.all(
      fruit.map((name, i) =>
        create(p, {
          name,
          description: `fruit number ${i}`,
          content: { i },
          category: i % 3 === 0 ? "tree" : "bush",
          tags: i % 2 === 0 ? ["even"] : ["odd"]
        })
      )
    )
  })
  afterAll(async () => {
    await server?.stop()
  })

  describe("search", () => {
    it("finds a word that appears only in the description", async () => {
      expect(names(await list(s, { search: "zebrafish" }))).toEqual(["aquarium"])
    })

    it("finds a word that appears only in the content, also deep inside it", async () => {
      expect(names(await list(s, { search: "capacitor" }))).toEqual(["time-machine"])
      expect(names(await list(s, { search: "summarise" }))).toEqual(["release-notes"])
    })

    it("finds a word of a name made of several words, and several words at once", async () => {
      expect(names(await list(s, { search: "lookup" }))).toEqual(["Lookup_Table"])
      expect(names(await list(s, { search: "table" }))).toEqual(["Lookup_Table"])
      expect(names(await list(s, { search: "flux capacitor" }))).toEqual(["time-machine"])
      expect(names(await list(s, { search: "FLUX Capacitor" }))).toEqual(["time-machine"])
    })

    it("ranks a name match above a content-only match", async () => {
      const r = await list(s, { search: "kraken" })
      expect(names(r)).toEqual(["kraken-deploy", "release-notes"])
      expect(r.json.total).toBe(2)
    })

    it("never shows another team's private pattern", async () => {
      for (const word of ["kraken", "zebrafish", "capacitor", "secret"]) {
        const r = await list(s, { search: word })
        expect(names(r)).not.toContain("kraken-secret")
      }
      const mine = await list(s, {})
      const teamId = mine.json.patterns[0].team_id
      for (const word of ["kraken", "zebrafish", "capacitor"]) {
        for (const q of (await list(s, { search: word })).json.patterns) expect(q.team_id).toBe(teamId)
      }
    })

    it("searches every team's public patterns with scope=public", async () => {
      const r = await list(s, { scope: "public", search: "zebrafish" })
      expect(names(r)).toEqual(["kraken-shared"])
      expect(r.json.patterns[0].is_public).toBe(true)
    })

    it("answers an empty list for a word nobody used", async () => {
      const r = await list(s, { search: "xylophone" })
      expect(r.status).toBe(200)
      expect(r.json).toMatchObject({ patterns: [], total: 0, page: 1, limit: 20 })
    })

    it.each(HOSTILE.map((q) => [JSON.stringify(q).slice(0, 60), q]))(
      "answers %s with 200 and a list, never a 500",
      async (_label, search) => {
        for (const who of [s, x]) {
          const r = await list(who, { search })
          expect(r.status, r.text).toBe(200)
          expect(Array.isArray(r.json.patterns)).toBe(true)
          expect(r.json.total).toBeGreaterThanOrEqual(r.json.patterns.length)
          expect(r.json.patterns.every((q: any) => typeof q.id === "string")).toBe(true)
        }
        const pub = await list(s, { scope: "public", search })
        expect(pub.status, pub.text).toBe(200)
        expect(pub.json.patterns.every((q: any) => q.is_public === true)).toBe(true)
      }
    )

    it("refuses a search over 500 characters with 400 invalid_request", async () => {
      const r = await list(s, { search: "x".repeat(501) })
      expect(r.status, r.text).toBe(400)
      expect(r.json.error.code).toBe("invalid_request")
    })

    it("lists everything for a blank search", async () => {
      const r = await list(s, { search: "   " })
      expect(r.status).toBe(200)
      expect(r.json.total).toBe(5)
    })
  })

  describe("filters", () => {
    it("filters by category", async () => {
      expect(names(await list(s, { category: "ops", sort: "name" }))).toEqual(["aquarium", "kraken-deploy"])
      expect(names(await list(s, { category: "docs", sort: "name" }))).toEqual(["Lookup_Table", "release-notes"])
      expect(names(await list(s, { category: "nothing" }))).toEqual([])
      expect((await list(p, { category: "tree" })).json.total).toBe(4)
    })

    it("filters by tag, exactly", async () => {
      expect(names(await list(s, { tag: "prod", sort: "name" }))).toEqual(["kraken-deploy", "release-notes"])
      expect(names(await list(s, { tag: "deploy", sort: "name" }))).toEqual(["kraken-deploy", "Lookup_Table"])
      expect(names(await list(s, { tag: "it's" }))).toEqual(["aquarium"])
      expect(names(await list(s, { tag: "c++" }))).toEqual(["aquarium"])
      expect(names(await list(s, { tag: "pro" }))).toEqual([])
      expect(names(await list(s, { tag: "%" }))).toEqual([])
      expect((await list(p, { tag: "even" })).json.total).toBe(6)
    })

    it("refuses the NUL character (PostgreSQL cannot store it) with 400 naming the parameter, on both stores", async () => {
      for (const [key, value] of [
        ["search", "\u0000"],
        ["search", "kraken\u0000deploy"],
        ["category", "\u0000"],
        ["tag", "a\u0000b"]
      ] as const) {
        const r = await list(s, { [key]: value })
        expect(r.status, `${key}=${JSON.stringify(value)}: ${r.text}`).toBe(400)
        expect(r.json.error.code).toBe("invalid_request")
        expect(r.json.error.details.map((d: any) => d.path)).toContain(key)
      }
    })

    it("answers filter values full of syntax with 200 and a list", async () => {
      for (const value of ["'", '"', "%", "_", "\\", "'; DROP TABLE patterns; --", "$.tags"]) {
        for (const key of ["category", "tag"]) {
          const r = await list(s, { [key]: value })
          expect(r.status, `${key}=${JSON.stringify(value)}: ${r.text}`).toBe(200)
          expect(r.json.patterns).toEqual([])
        }
      }
    })

    it("keeps the tag filter working in a team where a pattern's tag holds a NUL character", async () => {
      const t = await register("nul-tags")
      await create(t, { name: "plain-tags", tags: ["x"] })
      const odd = await request(base, "POST", "/api/patterns", {
        token: t.token,
        body: { name: "nul-tag", tags: ["a\u0000b"], content: {} }
      })
      expect(odd.status).toBe(400)
      expect(odd.json.error.details.map((d: any) => d.path)).toContain("tags.0")
      const r = await list(t, { tag: "x" })
      expect(r.status, r.text).toBe(200)
      expect(names(r)).toEqual(["plain-tags"])
    })

    it("combines filters with each other and with search", async () => {
      expect(names(await list(s, { category: "ops", tag: "prod" }))).toEqual(["kraken-deploy"])
      expect(names(await list(s, { category: "docs", search: "kraken" }))).toEqual(["release-notes"])
      expect(names(await list(s, { tag: "pets", search: "kraken" }))).toEqual([])
      const r = await list(p, { category: "tree", tag: "even" })
      expect(r.json.total).toBe(2) // i = 0 and 6
    })
  })

  describe("sort and pagination", () => {
    const pages = async (query: Query) => {
      const got: Reply[] = []
      for (const page of [1, 2, 3, 4]) got.push(await list(p, { ...query, limit: 5, page }))
      for (const r of got) {
        expect(r.status, r.text).toBe(200)
        expect(r.json.total).toBe(12)
        expect(r.json.limit).toBe(5)
      }
      expect(got.map((r) => r.json.page)).toEqual([1, 2, 3, 4])
      expect(got.map((r) => r.json.patterns.length)).toEqual([5, 5, 2, 0])
      return got.map((r): string[] => r.json.patterns.map((q: any) => q.id))
    }

    it.each<Query>([{}, { sort: "updated" }, { sort: "name" }, { sort: "usage" }])(
      "pages through 12 patterns 5 at a time without overlap (%o)",
      async (query) => {
        const [one, two, three] = await pages(query)
        const all = [...one!, ...two!, ...three!]
        expect(new Set(one).size).toBe(5)
        expect(one!.filter((id) => two!.includes(id) || three!.includes(id))).toEqual([])
        expect(two!.filter((id) => three!.includes(id))).toEqual([])
        expect(new Set(all).size).toBe(12)
        const everything = await list(p, { ...query, limit: 100 })
        expect(everything.json.patterns.map((q: any) => q.id)).toEqual(all)
      }
    )

    it("refuses bad page, limit and sort values with 400 invalid_request", async () => {
      const bad: Query[] = [{ page: 0 }, { limit: 0 }, { limit: 101 }, { page: "x" }, { sort: "random" }]
      for (const query of bad) {
        const r = await list(p, query)
        expect(r.status, `${JSON.stringify(query)}: ${r.text}`).toBe(400)
        expect(r.json.error.code).toBe("invalid_request")
      }
    })

    it("sorts by name, case-insensitively", async () => {
      const got = names(await list(p, { sort: "name" }))
      expect(got).toEqual([...got].sort((a, b) => (a.toLowerCase() < b.toLowerCase() ? -1 : 1)))
      expect(got.slice(0, 3)).toEqual(["apple", "Banana", "cherry"])
    })

    it("sorts by usage, most used first", async () => {
      const use = (name: string, times: number) =>
        Promise.all(
          Array.from({ length: times }, () =>
            request(base, "POST", `/api/patterns/${ids[name]}/use`, { token: p.token })
          )
        )
      await use("kiwi", 3)
      await use("fig", 2)
      await use("apple", 1)
      const r = await list(p, { sort: "usage" })
      expect(names(r).slice(0, 3)).toEqual(["kiwi", "fig", "apple"])
      expect(r.json.patterns.slice(0, 3).map((q: any) => q.usage_count)).toEqual([3, 2, 1])
      const counts = r.json.patterns.map((q: any) => q.usage_count)
      expect(counts).toEqual([...counts].sort((a: number, b: number) => b - a))
    })

    it("sorts by last update, newest first (the default)", async () => {
      await new Promise((r) => setTimeout(r, 5))
      const u = await request(base, "PUT", `/api/patterns/${ids.cherry}`, {
        token: p.token,
        body: { description: "fruit updated last" }
      })
      expect(u.status).toBe(200)
      for (const query of [{}, { sort: "updated" }] as Query[]) {
        const r = await list(p, query)
        expect(names(r)[0]).toBe("cherry")
        const times = r.json.patterns.map((q: any) => Date.parse(q.updated_at))
        expect(times).toEqual([...times].sort((a: number, b: number) => b - a))
      }
    })

    it("pages search results without overlap too", async () => {
      const all = names(await list(p, { search: "fruit", limit: 100 }))
      expect(all).toHaveLength(12)
      const one = await list(p, { search: "fruit", limit: 5, page: 1 })
      const two = await list(p, { search: "fruit", limit: 5, page: 2 })
      const three = await list(p, { search: "fruit", limit: 5, page: 3 })
      expect([...names(one), ...names(two), ...names(three)]).toEqual(all)
      expect(one.json.total).toBe(12)
    })
  })
})
