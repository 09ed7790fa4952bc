import { describe, expect, it } from "vitest"
import {
  documentFromServer,
  fieldsOf,
  hashDocument,
  parseDocument,
  stringifyDocument,
  toServerPattern
} from "./PatternFile.js"

const v2 = parseDocument(`schema_version: 2
name: go-errors
description: Wrap errors
content: |
  multi
  line
tags:
  inferred: [{ tag: go, confidence: 0.9 }]
  confirmed: [go, errors]
lifecycle:
  created: 2026-01-02T03:04:05Z
team_shared: true
`)
const v1 = parseDocument("name: t\ndescription: Old\ncategory: testing\ntags: [a, b]\nteam_shared: true\n")

describe("pattern files", () => {
  it("maps v2 tags.confirmed and v1 tags/category to the server fields", () => {
    expect(fieldsOf(v2)).toEqual({ description: "Wrap errors", category: null, tags: ["go", "errors"] })
    expect(fieldsOf(v1)).toEqual({ description: "Old", category: "testing", tags: ["a", "b"] })
    expect(fieldsOf({})).toEqual({ description: "", category: null, tags: [] })
    expect(toServerPattern("go-errors", v2)).toMatchObject({ name: "go-errors", content: v2, tags: ["go", "errors"] })
  })

  it("keeps YAML timestamps as the strings they were written as", () => {
    expect((v2.lifecycle as any).created).toBe("2026-01-02T03:04:05Z")
  })

  it("writes back exactly the pushed document, and the server's fields when they were edited there", () => {
    const pushed = toServerPattern("go-errors", v2)
    const same = documentFromServer({ ...pushed, content: pushed.content })
    expect(same).toEqual(v2)
    expect(parseDocument(stringifyDocument(same))).toEqual(v2)
    expect(hashDocument(parseDocument(stringifyDocument(same)))).toBe(hashDocument(v2))

    const edited = documentFromServer({ ...pushed, description: "New", tags: ["go"], category: "errors" })
    expect(edited).toMatchObject({
      description: "New",
      category: "errors",
      tags: { inferred: expect.any(Array), confirmed: ["go"] }
    })
    const v1Edited = documentFromServer({ ...toServerPattern("t", v1), tags: ["c"], category: null })
    expect(v1Edited.tags).toEqual(["c"])
    expect("category" in v1Edited).toBe(false)
    expect(documentFromServer({ content: { a: 1 }, description: "", category: null, tags: [] })).toEqual({
      a: 1,
      team_shared: true
    })
  })

  it("hashes documents alike whatever their key order", () => {
    expect(hashDocument({ a: 1, b: { c: [1, 2], d: "x" } })).toBe(hashDocument({ b: { d: "x", c: [1, 2] }, a: 1 }))
    expect(hashDocument({ a: [1, 2] })).not.toBe(hashDocument({ a: [2, 1] }))
  })

  it("refuses files that are not a YAML mapping", () => {
    expect(() => parseDocument("- a\n- b\n")).toThrow(/mapping/)
    expect(() => parseDocument("a: [\n")).toThrow()
  })
})
