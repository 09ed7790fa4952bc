/**
 * A JSON settings file edited the way a person would: parse it, change a few keys, and
 * write it back with the same indentation, line endings and final newline. Every other
 * key keeps its value and its place (JSON.parse keeps the order of the keys); a new key
 * goes last in its object.
 */
import { failure } from "./errors.js"

export type JsonObject = { [key: string]: unknown }

export interface JsonSettings {
  readonly value: JsonObject
  /** The indentation the file uses (two spaces for a new file). */
  readonly indent: string
  readonly eol: "\n" | "\r\n"
  readonly finalNewline: boolean
}

const isObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v)

/** The text without `//` and `/* *\/` comments (strings left alone): only to explain a refusal. */
const withoutComments = (text: string): string => {
  let out = ""
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (c === '"') {
      const start = i
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === "\\") i++
      out += text.slice(start, i + 1)
    } else if (c === "/" && text[i + 1] === "/") {
      while (i < text.length && text[i] !== "\n") i++
      out += "\n"
    } else if (c === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2)
      i = end < 0 ? text.length : end + 1
    } else out += c
  }
  return out.replace(/,(\s*[}\]])/g, "$1")
}

/**
 * Parses a settings file; a missing or empty file is `{}`. A file that is not a JSON
 * object fails (exit 1) rather than being replaced: it is someone's configuration.
 */
export const parseJsonSettings = (text: string | undefined, path: string): JsonSettings => {
  const source = text ?? ""
  const eol = source.includes("\r\n") ? "\r\n" : "\n"
  const indent = /^\{[ \t]*\r?\n([ \t]+)\S/.exec(source)?.[1] ?? "  "
  if (source.trim() === "") return { value: {}, indent, eol, finalNewline: true }
  let value: unknown
  try {
    value = JSON.parse(source.replace(/^\uFEFF/, ""))
  } catch (e) {
    let commented = false
    try {
      JSON.parse(withoutComments(source))
      commented = true
    } catch {
      // not JSON with comments either
    }
    throw failure(
      commented
        ? `${path} has comments or trailing commas, which mur would lose: add the settings by hand (--print shows them)`
        : `${path} is not valid JSON (${(e as Error).message}): fix it first, or add the settings by hand (--print)`,
      "bad_settings"
    )
  }
  if (!isObject(value)) throw failure(`${path} must hold a JSON object`, "bad_settings")
  return { value, indent, eol, finalNewline: source.endsWith("\n") }
}

export const serializeJsonSettings = (settings: JsonSettings): string => {
  const text = JSON.stringify(settings.value, null, settings.indent)
  const lines = settings.eol === "\n" ? text : text.replace(/\n/g, "\r\n")
  return settings.finalNewline ? lines + settings.eol : lines
}

export const getIn = (value: JsonObject, path: ReadonlyArray<string>): unknown => {
  let node: unknown = value
  for (const key of path) {
    if (!isObject(node) || !Object.hasOwn(node, key)) return undefined
    node = node[key]
  }
  return node
}

/** Sets `path` to `v`, making the objects on the way; refuses to replace a non-object on the way. */
export const setIn = (value: JsonObject, path: ReadonlyArray<string>, v: unknown, file: string): void => {
  let node = value
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i]!
    const next = node[key]
    if (next === undefined) node[key] = {}
    else if (!isObject(next)) {
      throw failure(
        `${file}: "${path.slice(0, i + 1).join(".")}" is not an object, so mur cannot set it`,
        "bad_settings"
      )
    }
    node = node[key] as JsonObject
  }
  node[path[path.length - 1]!] = v
}

/** Removes `path` (when present) and then each object on the way that it left empty. */
export const deleteIn = (value: JsonObject, path: ReadonlyArray<string>): boolean => {
  const parents: Array<JsonObject> = [value]
  for (const key of path.slice(0, -1)) {
    const next = parents[parents.length - 1]![key]
    if (!isObject(next)) return false
    parents.push(next)
  }
  const last = path[path.length - 1]!
  const parent = parents[parents.length - 1]!
  if (!Object.hasOwn(parent, last)) return false
  delete parent[last]
  for (let i = parents.length - 1; i > 0; i--) {
    if (Object.keys(parents[i]!).length > 0) break
    delete parents[i - 1]![path[i - 1]!]
  }
  return true
}
