/**
 * Usage by model, and the price table, on both stores through real HTTP: a reported cost is
 * kept, a missing one is computed from the shipped prices (longest prefix of the model
 * name), a model without a price has no cost and says so, and an operator's price (set with
 * the real `mur-server admin prices` beside the running server) applies from then on.
 */

import { costMicros, DEFAULT_PRICES, lookup, normalizeModel } from "@mur/core"
import { afterAll, beforeAll, expect as check, describe, expect, it, describe as plain, it as unit } from "vitest"
import { parseCsv } from "./support/csv.js"
import { request } from "./support/http.js"
import { runServerCommand, startTestServer, type TestServer } from "./support/server.js"
import { STORES } from "./support/stores.js"
import { makeTeam } from "./support/team.js"

const at = (time: string) => `${new Date(Date.now() - 86_400_000).toISOString().slice(0, 10)}T${time}Z`

plain("the price table", () => {
  const table = new Map(Object.entries(DEFAULT_PRICES))
  unit("matches the longest priced prefix at a word boundary, without a provider prefix", () => {
    check(lookup(table, "claude-sonnet-4-5-20250929")?.key).toBe("claude-sonnet-4-5")
    check(lookup(table, "claude-sonnet-4-20250514")?.key).toBe("claude-sonnet-4")
    check(lookup(table, "models/gemini-2.5-flash-lite")?.key).toBe("gemini-2.5-flash-lite")
    check(lookup(table, "us.anthropic.claude-haiku-4-5-20251001-v1:0")?.key).toBe("claude-haiku-4-5")
    check(lookup(table, "GPT-5-Codex")?.key).toBe("gpt-5-codex")
    check(lookup(table, "gpt-5x")).toBeUndefined()
    check(lookup(table, "my-local-llm")).toBeUndefined()
    check(normalizeModel(" OpenAI/gpt-5 ")).toBe("gpt-5")
  })
  unit("costs in whole micro-dollars: dollars per million tokens × tokens", () => {
    const price = { input: 1.25, output: 10, cache_read: 0.125, cache_write: 0 }
    check(costMicros(price, { input: 2000, output: 300, cacheRead: 1000, cacheWrite: 0 })).toBe(2500 + 3000 + 125)
    check(
      costMicros(
        { input: 0.3, output: 0, cache_read: 0, cache_write: 0 },
        { input: 1, output: 0, cacheRead: 0, cacheWrite: 0 }
      )
    ).toBe(0)
  })
})

describe.each(STORES)("usage by model on %s", (store) => {
  let server: TestServer
  beforeAll(async () => {
    server = await startTestServer(store, { jobs: { enabled: false } })
  })
  afterAll(async () => {
    await server?.stop()
  })

  it("keeps reported costs, computes missing ones from prices, and says which is which", async () => {
    const t = await makeTeam(server.url, 0, "Models")
    const post = (stats: unknown[]) =>
      request(server.url, "POST", "/api/stats", { token: t.admin.token, body: { stats } })
    const first = await post([
      {
        tool: "claude-code",
        action: "api_request",
        model: "claude-sonnet-4-5-20250929",
        input_tokens: 1000,
        output_tokens: 500,
        cost_usd: 0.02,
        session_id: "s-1",
        created_at: at("10:00:00.000")
      },
      {
        tool: "gemini-cli",
        action: "api_response",
        model: "gemini-2.5-pro",
        input_tokens: 1_000_000,
        output_tokens: 100_000,
        cache_read_tokens: 200_000,
        created_at: at("10:00:01.000")
      },
      {
        tool: "codex",
        action: "response.completed",
        model: "gpt-5-codex",
        input_tokens: 2000,
        output_tokens: 300,
        cache_read_tokens: 1000,
        created_at: at("10:00:02.000")
      },
      { tool: "my-agent", action: "run", model: "my-local-llm", tokens_used: 42, created_at: at("10:00:03.000") }
    ])
    expect(first.status, first.text).toBe(202)

    const me = await request(server.url, "GET", "/api/stats/me", { token: t.admin.token })
    expect(me.status, me.text).toBe(200)
    const s = me.json.stats
    // 0.02 reported + 2.275 (1.25 + 1.00 + 0.025) + 0.005625 (0.0025 + 0.003 + 0.000125) computed.
    expect(s.cost_usd).toBe(2.300625)
    expect(s.tokens).toBe(1500 + 1_300_000 + 3300 + 42)
    expect(s.by_model).toEqual([
      {
        model: "gemini-2.5-pro",
        runs: 1,
        duration_ms: 0,
        tokens: 1_300_000,
        cost_usd: 2.275,
        input_tokens: 1_000_000,
        output_tokens: 100_000,
        cache_read_tokens: 200_000,
        cache_write_tokens: 0,
        cost_source: "computed",
        unpriced_tokens: 0
      },
      {
        model: "gpt-5-codex",
        runs: 1,
        duration_ms: 0,
        tokens: 3300,
        cost_usd: 0.005625,
        input_tokens: 2000,
        output_tokens: 300,
        cache_read_tokens: 1000,
        cache_write_tokens: 0,
        cost_source: "computed",
        unpriced_tokens: 0
      },
      {
        model: "claude-sonnet-4-5-20250929",
        runs: 1,
        duration_ms: 0,
        tokens: 1500,
        cost_usd: 0.02,
        input_tokens: 1000,
        output_tokens: 500,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
        cost_source: "reported",
        unpriced_tokens: 0
      },
      {
        model: "my-local-llm",
        runs: 1,
        duration_ms: 0,
        tokens: 42,
        cost_usd: 0,
        input_tokens: 0,
        output_tokens: 0,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
        cost_source: "none",
        unpriced_tokens: 42
      }
    ])
    expect(s.by_tool.map((x: any) => [x.tool, x.cost_usd])).toEqual([
      ["claude-code", 0.02],
      ["codex", 0.005625],
      ["gemini-cli", 2.275],
      ["my-agent", 0]
    ])
    const team = await request(server.url, "GET", "/api/stats/team", { token: t.admin.token })
    expect(team.json.stats.by_model).toEqual(s.by_model)
    expect(team.json.members.map((m: any) => [m.user_id, m.tokens, m.cost_usd])).toEqual([
      [t.admin.id, s.tokens, 2.300625]
    ])

    // The export names the model, the kinds of tokens and where each cost came from.
    const csv = parseCsv((await request(server.url, "GET", "/api/stats/export", { token: t.admin.token })).text)
    const col = (name: string) => csv[0]!.indexOf(name)
    expect(
      csv.slice(1).map((r) => [r[col("model")], r[col("cost_usd")], r[col("cost_source")], r[col("session_id")]])
    ).toEqual([
      ["claude-sonnet-4-5-20250929", "0.02", "reported", "s-1"],
      ["gemini-2.5-pro", "2.275", "computed", ""],
      ["gpt-5-codex", "0.005625", "computed", ""],
      ["my-local-llm", "0", "none", ""]
    ])

    // The operator prices the local model (from the shell, beside the running server) and
    // raises Gemini's: usage recorded from then on is costed so; recorded costs stay.
    const env = { DATABASE_URL: server.db.url }
    const set = await runServerCommand(
      ["admin", "prices", "set", "my-local-llm", "--input", "2", "--output", "4", "--json"],
      env
    )
    expect(set.code, set.stderr).toBe(0)
    expect(JSON.parse(set.stdout).price).toMatchObject({
      model: "my-local-llm",
      input: 2,
      output: 4,
      source: "operator"
    })
    const raise = await runServerCommand(
      ["admin", "prices", "set", "gemini-2.5-pro", "--input", "2.5", "--output", "20"],
      env
    )
    expect(raise.code, raise.stderr).toBe(0)
    const bad = await runServerCommand(["admin", "prices", "set", "x", "--input", "cheap", "--output", "1"], env)
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain("invalid --input")
    await post([
      {
        tool: "my-agent",
        action: "run",
        model: "my-local-llm",
        input_tokens: 1000,
        output_tokens: 500,
        created_at: at("11:00:00.000")
      },
      {
        tool: "gemini-cli",
        action: "api_response",
        model: "gemini-2.5-pro",
        input_tokens: 1000,
        created_at: at("11:00:01.000")
      },
      // A reported cost wins over the table, whatever the model's price.
      {
        tool: "gemini-cli",
        action: "api_response",
        model: "gemini-2.5-pro",
        input_tokens: 1000,
        cost_usd: 1,
        created_at: at("11:00:02.000")
      }
    ])
    const after = (await request(server.url, "GET", "/api/stats/me", { token: t.admin.token })).json.stats
    const byModel = (m: string) => after.by_model.find((x: any) => x.model === m)
    expect(byModel("my-local-llm")).toMatchObject({ cost_usd: 0.004, cost_source: "computed", unpriced_tokens: 42 })
    expect(byModel("gemini-2.5-pro")).toMatchObject({ cost_usd: 2.275 + 0.0025 + 1, cost_source: "mixed" })

    const list = await runServerCommand(["admin", "prices", "list", "--json"], env)
    const prices = JSON.parse(list.stdout)
    expect(prices.defaults_as_of).toMatch(/^\d{4}-\d{2}-\d{2}$/)
    expect(prices.prices.find((p: any) => p.model === "gemini-2.5-pro")).toMatchObject({
      input: 2.5,
      source: "operator"
    })
    expect(prices.prices.find((p: any) => p.model === "gpt-5")).toMatchObject({ input: 1.25, source: "default" })
    const unset = await runServerCommand(["admin", "prices", "unset", "gemini-2.5-pro"], env)
    expect(unset.code, unset.stderr).toBe(0)
    const again = JSON.parse((await runServerCommand(["admin", "prices", "list", "--json"], env)).stdout)
    expect(again.prices.find((p: any) => p.model === "gemini-2.5-pro")).toMatchObject({
      input: 1.25,
      source: "default"
    })
  })
})
