/** docs/sync-protocol.md lists exactly the messages and fields of the `/ws/sync` schemas. */
import { readFileSync } from "node:fs"
import { type Schema, SchemaAST } from "effect"
import { describe, expect, it } from "vitest"
import { SyncClientMessage, SyncServerMessage } from "./socket.js"

const doc = readFileSync(new URL("../../../docs/sync-protocol.md", import.meta.url), "utf8")

/** The text of a `### heading` section of the doc, up to the next heading. */
const section = (heading: string) => {
  const start = doc.indexOf(`### ${heading}\n`)
  expect(start, `docs/sync-protocol.md has "### ${heading}"`).toBeGreaterThanOrEqual(0)
  const rest = doc.slice(start + heading.length + 5)
  const end = rest.search(/\n#{2,3} |\nError codes/)
  return end < 0 ? rest : rest.slice(0, end)
}

/** How the doc writes a message: `{type: "subscribe", channels?, after?}`. */
const shape = (member: Schema.Schema.Any) => {
  const fields = SchemaAST.getPropertySignatures(member.ast).map((p) => {
    if (p.name === "type") return `type: ${JSON.stringify((p.type as SchemaAST.Literal).literal)}`
    return `${String(p.name)}${p.isOptional ? "?" : ""}`
  })
  return `{${fields.join(", ")}}`
}

const documented = (text: string) => [...text.matchAll(/`(\{type: "[a-z_]+"[^`]*\})`/g)].map((m) => m[1]!)

describe("docs/sync-protocol.md", () => {
  it.each([
    ["Client → server", SyncClientMessage],
    ["Server → client", SyncServerMessage]
  ] as const)("lists every %s message with its fields, and no other", (heading, union) => {
    const text = section(heading)
    const expected = union.members.map(shape)
    expect(new Set(documented(text))).toEqual(new Set(expected))
    expect(expected).toHaveLength(new Set(expected).size)
  })
})
