import { describe, expect, it } from "vitest"
import { deleteIn, getIn, parseJsonSettings, serializeJsonSettings, setIn } from "./JsonSettings.js"

describe("JSON settings files", () => {
  it("changes one key and keeps the others, their order, the indentation and the final newline", () => {
    const text = '{\n    "permissions": {\n        "allow": ["Bash(npm test)"]\n    },\n    "model": "opus"\n}\n'
    const doc = parseJsonSettings(text, "s.json")
    expect(doc.indent).toBe("    ")
    setIn(doc.value, ["env", "A"], "1", "s.json")
    setIn(doc.value, ["model"], "sonnet", "s.json")
    expect(serializeJsonSettings(doc)).toBe(
      '{\n    "permissions": {\n        "allow": [\n            "Bash(npm test)"\n        ]\n    },\n    "model": "sonnet",\n    "env": {\n        "A": "1"\n    }\n}\n'
    )
  })

  it("keeps CRLF line endings, tabs, and a missing final newline", () => {
    const doc = parseJsonSettings('{\r\n\t"a": 1\r\n}', "s.json")
    setIn(doc.value, ["b"], true, "s.json")
    expect(serializeJsonSettings(doc)).toBe('{\r\n\t"a": 1,\r\n\t"b": true\r\n}')
  })

  it("treats a missing or empty file as {} and writes two-space JSON with a newline", () => {
    for (const text of [undefined, "", "  \n"]) {
      const doc = parseJsonSettings(text, "s.json")
      setIn(doc.value, ["telemetry", "enabled"], true, "s.json")
      expect(serializeJsonSettings(doc)).toBe('{\n  "telemetry": {\n    "enabled": true\n  }\n}\n')
    }
  })

  it("refuses what it cannot edit without losing something", () => {
    expect(() => parseJsonSettings('{\n  // mine\n  "a": 1,\n}\n', "s.json")).toThrow(/comments or trailing commas/)
    expect(() => parseJsonSettings('{"a": ', "s.json")).toThrow(/not valid JSON/)
    expect(() => parseJsonSettings("[1]", "s.json")).toThrow(/must hold a JSON object/)
    const doc = parseJsonSettings('{"env": "x"}', "s.json")
    expect(() => setIn(doc.value, ["env", "A"], "1", "s.json")).toThrow(/"env" is not an object/)
  })

  it("deletes a key and the objects it leaves empty, and nothing else", () => {
    const doc = parseJsonSettings('{"env": {"A": "1", "B": "2"}, "x": {}}', "s.json")
    expect(deleteIn(doc.value, ["env", "A"])).toBe(true)
    expect(doc.value).toEqual({ env: { B: "2" }, x: {} })
    expect(deleteIn(doc.value, ["env", "B"])).toBe(true)
    expect(doc.value).toEqual({ x: {} })
    expect(deleteIn(doc.value, ["env", "B"])).toBe(false)
    expect(deleteIn(doc.value, ["x", "y", "z"])).toBe(false)
    expect(getIn({ a: { b: 1 } }, ["a", "b"])).toBe(1)
    expect(getIn({ a: 1 }, ["a", "b"])).toBeUndefined()
  })
})
