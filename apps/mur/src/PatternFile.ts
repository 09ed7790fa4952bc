/**
 * Local pattern files (`$MUR_HOME/patterns/<name>.yaml`, the real mur format: schema v2,
 * v1 read too) and how they map to server patterns (spec/CLI.md):
 *
 * - the file name is the pattern's `name`;
 * - `description` ↔ `description`; `category` ↔ `category` (v1);
 * - `tags` ↔ the v1 `tags` list, or the v2 `tags.confirmed` list;
 * - `content` holds the whole YAML document as a JSON object, so a pull writes back
 *   exactly what was pushed.
 */
import { createHash } from "node:crypto"
import { readdirSync } from "node:fs"
import { join } from "node:path"
import YAML from "yaml"
import { readTextIfExists } from "./AtomicFile.js"

export type PatternDocument = Record<string, unknown>

/** The server pattern fields a document maps to. */
export interface PatternFields {
  readonly description: string
  readonly category: string | null
  readonly tags: ReadonlyArray<string>
}

export interface LocalPattern {
  readonly name: string
  readonly path: string
  /** The file's text as it is on disk. */
  readonly text: string
  /** The document, normalised to what JSON can carry. */
  readonly doc: PatternDocument
  readonly hash: string
  readonly teamShared: boolean
}

export const PATTERN_NAME = /^[A-Za-z0-9_-]{1,64}$/
const CONFLICT_SUFFIX = ".conflict.yaml"

export const patternPath = (dir: string, name: string) => join(dir, `${name}.yaml`)
export const conflictPath = (dir: string, name: string) => join(dir, `${name}${CONFLICT_SUFFIX}`)

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v)

/** A v2 document: `schema_version` 2 or more, or tags written as a tag set. */
export const isV2 = (doc: PatternDocument): boolean =>
  (typeof doc.schema_version === "number" && doc.schema_version >= 2) || isRecord(doc.tags)

const stringList = (v: unknown): ReadonlyArray<string> =>
  Array.isArray(v)
    ? v.filter((t): t is string | number => typeof t === "string" || typeof t === "number").map(String)
    : []

/** The server fields of a document. */
export const fieldsOf = (doc: PatternDocument): PatternFields => ({
  description: typeof doc.description === "string" ? doc.description : "",
  category: typeof doc.category === "string" && doc.category !== "" ? doc.category : null,
  tags: isV2(doc) ? stringList(isRecord(doc.tags) ? doc.tags.confirmed : undefined) : stringList(doc.tags)
})

/** JSON with object keys sorted, so equal documents hash alike whatever their key order. */
export const canonicalJson = (value: unknown): string => {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`
  if (isRecord(value)) {
    const keys = Object.keys(value).sort()
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(",")}}`
  }
  return JSON.stringify(value) ?? "null"
}

export const hashDocument = (doc: PatternDocument): string =>
  createHash("sha256").update(canonicalJson(doc)).digest("hex")

export class PatternFileError extends Error {}

/** Parses a pattern file's text into a document (a YAML mapping), normalised through JSON. */
export const parseDocument = (text: string): PatternDocument => {
  const parsed = YAML.parseDocument(text)
  if (parsed.errors.length > 0) throw new PatternFileError(parsed.errors[0]!.message.split("\n")[0])
  const value = parsed.toJS({ maxAliasCount: 1000 })
  if (!isRecord(value)) throw new PatternFileError("the file is not a YAML mapping")
  return JSON.parse(JSON.stringify(value)) as PatternDocument
}

/** Reads `<dir>/<name>.yaml`; `undefined` when absent. Throws `PatternFileError` when unreadable. */
export const readPattern = (dir: string, name: string): LocalPattern | undefined => {
  const path = patternPath(dir, name)
  const text = readTextIfExists(path)
  if (text === undefined) return undefined
  const doc = parseDocument(text)
  return { name, path, text, doc, hash: hashDocument(doc), teamShared: doc.team_shared === true }
}

/** The pattern names in `dir` (`*.yaml`, not conflict copies nor hidden files), sorted. */
export const listPatternNames = (dir: string): ReadonlyArray<string> => {
  let entries: string[]
  try {
    entries = readdirSync(dir)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return []
    throw e
  }
  return entries
    .filter((f) => f.endsWith(".yaml") && !f.endsWith(CONFLICT_SUFFIX) && !f.startsWith("."))
    .map((f) => f.slice(0, -".yaml".length))
    .sort()
}

/** The server fields and content to push for a local document. */
export const toServerPattern = (name: string, doc: PatternDocument) => {
  const fields = fieldsOf(doc)
  return { name, description: fields.description, category: fields.category, tags: fields.tags, content: doc }
}

const sameList = (a: ReadonlyArray<string>, b: ReadonlyArray<string>) =>
  a.length === b.length && a.every((x, i) => x === b[i])

/**
 * The document to write for a server pattern: its `content`, with `team_shared: true`, and
 * with the server's description, category and tags where they differ from what the content
 * says (they may have been edited on the server without touching the content).
 */
export const documentFromServer = (pattern: {
  readonly content: Readonly<Record<string, unknown>>
  readonly description: string
  readonly category: string | null
  readonly tags: ReadonlyArray<string>
}): PatternDocument => {
  const doc: PatternDocument = JSON.parse(JSON.stringify(isRecord(pattern.content) ? pattern.content : {}))
  const mapped = fieldsOf(doc)
  if (mapped.description !== pattern.description) {
    if (pattern.description === "") delete doc.description
    else doc.description = pattern.description
  }
  if (mapped.category !== pattern.category) {
    if (pattern.category === null) delete doc.category
    else doc.category = pattern.category
  }
  if (!sameList(mapped.tags, pattern.tags)) {
    if (isV2(doc)) doc.tags = { ...(isRecord(doc.tags) ? doc.tags : {}), confirmed: [...pattern.tags] }
    else doc.tags = [...pattern.tags]
  }
  if (doc.team_shared !== true) doc.team_shared = true
  return doc
}

/** A document as YAML text. */
export const stringifyDocument = (doc: PatternDocument): string => YAML.stringify(doc, { lineWidth: 0 })
