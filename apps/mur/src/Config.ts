/**
 * `config.yaml`: the real mur tool's configuration file, of which we own the `server`
 * section (`{url, mode, team}`). The file is edited as a YAML document, so every other key
 * (and its comments) is kept as it was when we save.
 */
import YAML from "yaml"
import { readTextIfExists, writeFileAtomic } from "./AtomicFile.js"
import { failure, usageError } from "./errors.js"

export type ServerMode = "git" | "server" | "auto"
export const SERVER_MODES: ReadonlyArray<ServerMode> = ["git", "server", "auto"]

export interface ServerSection {
  readonly url: string | undefined
  readonly mode: ServerMode
  readonly team: string | undefined
}

export class MurConfig {
  constructor(
    readonly path: string,
    private readonly doc: YAML.Document
  ) {}

  /** The `server` section, with defaults. */
  get server(): ServerSection {
    const url = this.doc.getIn(["server", "url"])
    const mode = this.doc.getIn(["server", "mode"])
    const team = this.doc.getIn(["server", "team"])
    return {
      url: typeof url === "string" && url !== "" ? url : undefined,
      mode: SERVER_MODES.includes(mode as ServerMode) ? (mode as ServerMode) : "auto",
      team: typeof team === "string" && team !== "" ? team : typeof team === "number" ? String(team) : undefined
    }
  }

  get(path: ReadonlyArray<string>): unknown {
    const node = this.doc.getIn(path, true)
    return YAML.isNode(node) ? node.toJSON() : node
  }

  set(path: ReadonlyArray<string>, value: unknown): void {
    // Every parent must be a mapping (or absent): refuse to turn a scalar into a section.
    for (let i = 1; i < path.length; i++) {
      const parent = this.doc.getIn(path.slice(0, i), true)
      if (parent !== undefined && !YAML.isMap(parent)) {
        throw usageError(`cannot set ${path.join(".")}: ${path.slice(0, i).join(".")} is not a section`)
      }
    }
    this.doc.setIn(path, value)
  }

  delete(path: ReadonlyArray<string>): void {
    if (this.doc.hasIn(path)) this.doc.deleteIn(path)
  }

  toJSON(): Record<string, unknown> {
    const value = this.doc.toJS()
    return value !== null && typeof value === "object" ? value : {}
  }

  toYAML(): string {
    return this.doc.contents === null ? "" : this.doc.toString()
  }

  save(): void {
    writeFileAtomic(this.path, this.toYAML())
  }
}

/** Reads `config.yaml` (an absent or empty file is an empty configuration). */
export const loadConfig = (path: string): MurConfig => {
  const text = readTextIfExists(path) ?? ""
  const doc = YAML.parseDocument(text)
  if (doc.errors.length > 0) {
    throw failure(`${path} is not valid YAML: ${doc.errors[0]!.message.split("\n")[0]}`, "bad_config")
  }
  if (doc.contents === null) doc.contents = doc.createNode({}) as any
  else if (!YAML.isMap(doc.contents)) throw failure(`${path} must hold a YAML mapping`, "bad_config")
  return new MurConfig(path, doc)
}

/** A server URL as we store it: http(s), no trailing slash. */
export const normalizeServerUrl = (raw: string): string => {
  let url: URL
  try {
    url = new URL(raw.trim())
  } catch {
    throw usageError(`"${raw}" is not a URL (expected something like https://mur.example.com)`)
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw usageError(`"${raw}" is not an http(s) URL`)
  }
  if (url.search || url.hash) throw usageError(`"${raw}" must not carry a query or fragment`)
  return url.toString().replace(/\/+$/, "")
}

/** A `config set` key: dot-separated names. */
export const parseConfigKey = (key: string): ReadonlyArray<string> => {
  const parts = key.split(".")
  if (parts.some((p) => p.trim() === "")) throw usageError(`"${key}" is not a configuration key (like server.mode)`)
  return parts
}

/**
 * A `config set` value, checked for the keys we own; other keys get the YAML scalar the
 * text spells (`true`, `42`, or a string), as the Go tool reading the file expects.
 */
export const parseConfigValue = (path: ReadonlyArray<string>, raw: string): unknown => {
  const key = path.join(".")
  if (key === "server.url") return normalizeServerUrl(raw)
  if (key === "server.mode") {
    if (!SERVER_MODES.includes(raw as ServerMode))
      throw usageError(`server.mode must be one of ${SERVER_MODES.join(", ")} (got "${raw}")`)
    return raw
  }
  if (key === "server.team" || raw.trim() === "") return raw
  let value: unknown
  try {
    value = YAML.parse(raw)
  } catch {
    return raw
  }
  return value === null || typeof value === "boolean" || typeof value === "number" ? value : raw
}
