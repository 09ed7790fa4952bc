/**
 * Just enough of TOML to edit a `config.toml` as text: each line is classified (blank,
 * comment, table header, key, or the continuation of a multi-line value) with the path of
 * the table it belongs to. Whole tables can then be taken out or put in while every other
 * byte of the file (comments, layout, other tables) stays exactly as it was.
 */

export type TomlLineKind = "blank" | "comment" | "header" | "key" | "continuation"

export interface TomlLine {
  /** The line without its line ending. */
  readonly text: string
  readonly kind: TomlLineKind
  /** The table the line belongs to (`[]` before the first header); a header's own path. */
  readonly table: ReadonlyArray<string>
  /** For a key line: its dotted key, relative to the table. */
  readonly key?: ReadonlyArray<string>
}

/** Reads a dotted key (`a."b.c".'d'`) from `s` at `i`; returns the parts and where it stopped. */
const readKey = (s: string, start: number): { parts: Array<string>; end: number } | undefined => {
  const parts: Array<string> = []
  let i = start
  while (true) {
    while (s[i] === " " || s[i] === "\t") i++
    const c = s[i]
    if (c === '"') {
      let j = i + 1
      let raw = ""
      while (j < s.length && s[j] !== '"') {
        if (s[j] === "\\") {
          raw += s.slice(j, j + 2)
          j += 2
        } else raw += s[j++]
      }
      if (j >= s.length) return undefined
      try {
        parts.push(JSON.parse(`"${raw}"`))
      } catch {
        parts.push(raw)
      }
      i = j + 1
    } else if (c === "'") {
      const j = s.indexOf("'", i + 1)
      if (j < 0) return undefined
      parts.push(s.slice(i + 1, j))
      i = j + 1
    } else {
      const m = /^[A-Za-z0-9_-]+/.exec(s.slice(i))
      if (!m) return undefined
      parts.push(m[0])
      i += m[0].length
    }
    while (s[i] === " " || s[i] === "\t") i++
    if (s[i] !== ".") return { parts, end: i }
    i++
  }
}

interface ValueState {
  /** Inside a multi-line string opened by this delimiter. */
  multi: '"""' | "'''" | undefined
  /** Open `[` and `{` of the value so far. */
  depth: number
}

/** Advances `state` over a value's text (strings, brackets, a trailing comment). */
const scanValue = (s: string, from: number, state: ValueState): void => {
  let i = from
  while (i < s.length) {
    if (state.multi !== undefined) {
      if (state.multi === '"""' && s[i] === "\\") {
        i += 2
        continue
      }
      if (s.startsWith(state.multi, i)) {
        // A closing delimiter may be followed by up to two more quotes of the content.
        let end = i + 3
        while (end < i + 5 && s[end] === state.multi[0]) end++
        state.multi = undefined
        i = end
        continue
      }
      i++
      continue
    }
    const c = s[i]!
    if (c === "#") return
    if (s.startsWith('"""', i) || s.startsWith("'''", i)) {
      state.multi = s.slice(i, i + 3) as '"""' | "'''"
      i += 3
    } else if (c === '"') {
      i++
      while (i < s.length && s[i] !== '"') i += s[i] === "\\" ? 2 : 1
      i++
    } else if (c === "'") {
      const j = s.indexOf("'", i + 1)
      i = j < 0 ? s.length : j + 1
    } else {
      if (c === "[" || c === "{") state.depth++
      else if ((c === "]" || c === "}") && state.depth > 0) state.depth--
      i++
    }
  }
}

/** Classifies every line of a TOML text (a final newline gives no extra line). */
export const scanToml = (text: string): Array<TomlLine> => {
  const raw = text.split("\n")
  if (raw[raw.length - 1] === "") raw.pop()
  const out: Array<TomlLine> = []
  let table: ReadonlyArray<string> = []
  const state: ValueState = { multi: undefined, depth: 0 }
  for (const full of raw) {
    const line = full.endsWith("\r") ? full.slice(0, -1) : full
    if (state.multi !== undefined || state.depth > 0) {
      out.push({ text: line, kind: "continuation", table })
      scanValue(line, 0, state)
      continue
    }
    const trimmed = line.trimStart()
    const at = line.length - trimmed.length
    if (trimmed === "") out.push({ text: line, kind: "blank", table })
    else if (trimmed.startsWith("#")) out.push({ text: line, kind: "comment", table })
    else if (trimmed.startsWith("[")) {
      const open = trimmed.startsWith("[[") ? 2 : 1
      const key = readKey(line, at + open)
      table = key?.parts ?? ["?"]
      out.push({ text: line, kind: "header", table })
    } else {
      const key = readKey(line, at)
      out.push({ text: line, kind: "key", table, key: key?.parts ?? [] })
      const eq = key && line[key.end] === "=" ? key.end + 1 : line.indexOf("=") + 1
      if (eq > 0) scanValue(line, eq, state)
    }
  }
  return out
}

/** The full dotted path of a key line (its table's path, then its own key). */
export const keyPath = (line: TomlLine): ReadonlyArray<string> => [...line.table, ...(line.key ?? [])]

const startsWith = (path: ReadonlyArray<string>, prefix: ReadonlyArray<string>) => prefix.every((p, i) => path[i] === p)

/**
 * The indexes of the lines that make up the tables under `prefix` (their headers, keys,
 * values, and the comments between them) plus the key lines (with their continuations)
 * that set something under `prefix` from a parent table or the root. Comments and blank
 * lines after a table's last key stay: they usually introduce what follows.
 */
export const linesUnder = (lines: ReadonlyArray<TomlLine>, prefix: ReadonlyArray<string>): Set<number> => {
  const picked = new Set<number>()
  let i = 0
  while (i < lines.length) {
    const line = lines[i]!
    if (line.kind === "header" && startsWith(line.table, prefix)) {
      let last = i
      let j = i + 1
      for (; j < lines.length && lines[j]!.kind !== "header"; j++) {
        if (lines[j]!.kind === "key" || lines[j]!.kind === "continuation") last = j
      }
      for (let k = i; k <= last; k++) picked.add(k)
      i = j
      continue
    }
    if (line.kind === "key" && startsWith(keyPath(line), prefix)) {
      picked.add(i)
      for (let j = i + 1; j < lines.length && lines[j]!.kind === "continuation"; j++) picked.add(j)
    }
    i++
  }
  return picked
}

/**
 * The text with the picked lines removed and, when `insert` is given, that block put
 * where the first picked table header was (at the end of the file when no header was
 * picked: a table cannot go among the root keys). A blank line separates the block from
 * its neighbours; a removed run that sat between two blank lines (or a blank line and the
 * end) takes one of them along, so no double blank lines are left behind.
 */
export const spliceLines = (
  text: string,
  lines: ReadonlyArray<TomlLine>,
  picked: ReadonlySet<number>,
  insert?: string
): string => {
  const eol = text.includes("\r\n") ? "\r\n" : "\n"
  const block = insert === undefined ? undefined : insert.replace(/\r?\n$/, "").split(/\r?\n/)
  const at = block === undefined ? -1 : lines.findIndex((l, i) => picked.has(i) && l.kind === "header")
  const isBlank = (s: string | undefined) => s !== undefined && s.trim() === ""
  const out: Array<string> = []
  const putBlock = (next: string | undefined) => {
    if (out.length > 0 && !isBlank(out[out.length - 1])) out.push("")
    out.push(...block!)
    if (next !== undefined && !isBlank(next)) out.push("")
  }
  for (let i = 0; i < lines.length; i++) {
    if (!picked.has(i)) {
      out.push(lines[i]!.text)
      continue
    }
    const first = i
    while (i + 1 < lines.length && picked.has(i + 1)) i++
    const next = lines.slice(i + 1).find((_, k) => !picked.has(i + 1 + k))?.text
    if (first === at) putBlock(next)
    else if (out.length > 0 && isBlank(out[out.length - 1]) && (next === undefined || isBlank(next))) out.pop()
  }
  if (block !== undefined && at < 0) putBlock(undefined)
  return out.length === 0 ? "" : out.join(eol) + eol
}
