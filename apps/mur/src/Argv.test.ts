import { describe, expect, it } from "vitest"
import { hoistGlobalFlags } from "./Argv.js"

const hoist = (...args: Array<string>) => {
  const r = hoistGlobalFlags(["node", "mur", ...args])
  return { args: r.argv.slice(2), json: r.json, team: r.team }
}

describe("hoistGlobalFlags", () => {
  it("moves --json and --team SLUG from anywhere to the front", () => {
    expect(hoist("whoami", "--json")).toEqual({ args: ["--json", "whoami"], json: true, team: undefined })
    expect(hoist("sync", "--team", "acme", "--dry-run")).toEqual({
      args: ["--team", "acme", "sync", "--dry-run"],
      json: false,
      team: "acme"
    })
    expect(hoist("--team=acme", "team", "members", "--json").args).toEqual([
      "--json",
      "--team",
      "acme",
      "team",
      "members"
    ])
    expect(hoist("--team", "acme", "sync").args).toEqual(["--team", "acme", "sync"])
  })

  it("keeps stats' own --team flag, reading a following word as the slug", () => {
    expect(hoist("stats", "--team")).toEqual({ args: ["stats", "--team"], json: false, team: undefined })
    expect(hoist("stats", "--team", "--from", "2026-01-01").args).toEqual(["stats", "--team", "--from", "2026-01-01"])
    expect(hoist("stats", "--team", "acme")).toEqual({
      args: ["--team", "acme", "stats", "--team"],
      json: false,
      team: "acme"
    })
    expect(hoist("--team", "acme", "stats", "--team").args).toEqual(["--team", "acme", "stats", "--team"])
    expect(hoist("stats", "--team", "record", "--tool", "x").args).toEqual(["stats", "--team", "record", "--tool", "x"])
  })

  it("leaves a --team without a value, and everything after --, to the parser", () => {
    expect(hoist("sync", "--team").args).toEqual(["sync", "--team"])
    expect(hoist("config", "set", "--", "--json", "x").args).toEqual(["config", "set", "--", "--json", "x"])
    expect(hoist("--log-level", "debug", "whoami").args).toEqual(["--log-level", "debug", "whoami"])
  })
})
