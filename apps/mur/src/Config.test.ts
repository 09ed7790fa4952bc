import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { loadConfig, normalizeServerUrl, parseConfigKey, parseConfigValue } from "./Config.js"

describe("config.yaml", () => {
  it("keeps other keys and comments when saving", () => {
    const path = join(mkdtempSync(join(tmpdir(), "mur-config-")), "config.yaml")
    writeFileSync(path, "# mine\nllm:\n  provider: ollama # local\nserver:\n  mode: git\n")
    const config = loadConfig(path)
    expect(config.server).toEqual({ url: undefined, mode: "git", team: undefined })
    config.set(["server", "url"], "https://mur.example.com")
    config.save()
    const text = readFileSync(path, "utf8")
    expect(text).toContain("# mine")
    expect(text).toContain("provider: ollama # local")
    expect(loadConfig(path).server.url).toBe("https://mur.example.com")
    expect(() => config.set(["llm", "provider", "x"], 1)).toThrow(/not a section/)
  })

  it("checks the values of the keys it owns, and types the others as YAML scalars", () => {
    expect(normalizeServerUrl("http://localhost:8080/")).toBe("http://localhost:8080")
    expect(() => normalizeServerUrl("localhost")).toThrow()
    expect(parseConfigValue(["server", "mode"], "server")).toBe("server")
    expect(() => parseConfigValue(["server", "mode"], "cloud")).toThrow()
    expect(parseConfigValue(["server", "team"], "123")).toBe("123")
    expect(parseConfigValue(["learning", "auto"], "true")).toBe(true)
    expect(parseConfigValue(["learning", "max"], "40")).toBe(40)
    expect(parseConfigValue(["llm", "model"], "llama3: 8b")).toBe("llama3: 8b")
    expect(() => parseConfigKey("server..url")).toThrow()
  })
})
