import { describe, expect, it } from "vitest"
import { keyPath, linesUnder, scanToml, spliceLines } from "./TomlTables.js"

const CONFIG = `# top
model = "o3" # inline comment
otel.environment = "root-dotted"

[otel]
environment = "x"
# interior comment
exporter = { otlp-http = { endpoint = "https://a/v1/logs", protocol = "json" } }

# about mcp
[mcp_servers.docs]
args = [
  "[not.a.table]",
  """
[also not]
""",
]
note = '''
[otel]
'''

[ "otel" . "metrics_exporter" . 'otlp-http' ]
endpoint = "https://a/v1/metrics"

[profiles.fast]
model = "o4-mini"
`

describe("TOML line scanner", () => {
  it("classifies lines and knows the table of each, through multi-line values", () => {
    const lines = scanToml(CONFIG)
    const at = (text: string) => lines.find((l) => l.text === text)!
    expect(at("# top").kind).toBe("comment")
    expect(keyPath(at('model = "o3" # inline comment'))).toEqual(["model"])
    expect(keyPath(at('otel.environment = "root-dotted"'))).toEqual(["otel", "environment"])
    expect(at("[otel]")).toMatchObject({ kind: "header", table: ["otel"] })
    expect(at('  "[not.a.table]",').kind).toBe("continuation")
    expect(at("[also not]").kind).toBe("continuation")
    expect(lines.filter((l) => l.text === "[otel]").map((l) => l.kind)).toEqual(["header", "continuation"])
    expect(at('[ "otel" . "metrics_exporter" . \'otlp-http\' ]').table).toEqual([
      "otel",
      "metrics_exporter",
      "otlp-http"
    ])
    expect(at('model = "o4-mini"').table).toEqual(["profiles", "fast"])
  })

  it("picks the otel tables and root keys, but not the comments that introduce the next table", () => {
    const lines = scanToml(CONFIG)
    const picked = [...linesUnder(lines, ["otel"])].map((i) => lines[i]!.text)
    expect(picked).toEqual([
      'otel.environment = "root-dotted"',
      "[otel]",
      'environment = "x"',
      "# interior comment",
      'exporter = { otlp-http = { endpoint = "https://a/v1/logs", protocol = "json" } }',
      '[ "otel" . "metrics_exporter" . \'otlp-http\' ]',
      'endpoint = "https://a/v1/metrics"'
    ])
  })

  it("replaces the picked lines with a block where the first table was, leaving the rest byte for byte", () => {
    const lines = scanToml(CONFIG)
    const out = spliceLines(CONFIG, lines, linesUnder(lines, ["otel"]), "[otel]\nlog_user_prompt = false\n")
    expect(out).toBe(`# top
model = "o3" # inline comment

[otel]
log_user_prompt = false

# about mcp
[mcp_servers.docs]
args = [
  "[not.a.table]",
  """
[also not]
""",
]
note = '''
[otel]
'''

[profiles.fast]
model = "o4-mini"
`)
  })

  it("appends a block at the end when there was no table to replace, and keeps CRLF", () => {
    const text = 'model = "o3"\r\notel.environment = "x"\r\n'
    const lines = scanToml(text)
    expect(spliceLines(text, lines, linesUnder(lines, ["otel"]), "[otel]\na = 1\n")).toBe(
      'model = "o3"\r\n\r\n[otel]\r\na = 1\r\n'
    )
    expect(spliceLines("", [], new Set(), "[otel]\n")).toBe("[otel]\n")
  })

  it("removes a table without leaving a double blank line", () => {
    const text = 'a = 1\n\n[otel.exporter."otlp-http"]\nendpoint = "x"\n\n[b]\nc = 2\n\n[otel.x]\ny = 1\n'
    const lines = scanToml(text)
    expect(spliceLines(text, lines, linesUnder(lines, ["otel"]))).toBe("a = 1\n\n[b]\nc = 2\n")
  })
})
