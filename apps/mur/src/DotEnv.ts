/**
 * One variable of a `.env` file (the dotenv format Gemini CLI reads), edited as a line of
 * text: setting it replaces the variable's line (or adds one at the end), removing it
 * drops that line; every other line, comment and blank stays byte for byte.
 */

const lineOf = (name: string) => new RegExp(`^\\s*(?:export\\s+)?${name}\\s*=`)

const splitLines = (text: string) => {
  const eol = text.includes("\r\n") ? "\r\n" : "\n"
  const lines = text.split(/\r?\n/)
  const finalNewline = lines.length > 1 && lines[lines.length - 1] === ""
  if (finalNewline) lines.pop()
  return { eol, lines, finalNewline }
}

/** The variable's value (quotes removed), or `undefined` when the text does not set it. */
export const readEnvVariable = (text: string | undefined, name: string): string | undefined => {
  if (text === undefined) return undefined
  let value: string | undefined
  for (const line of splitLines(text).lines) {
    if (!lineOf(name).test(line)) continue
    const raw = line.replace(lineOf(name), "").trim()
    const quoted = /^(["'`])(.*)\1$/.exec(raw)
    value = quoted ? quoted[2]! : raw.replace(/\s+#.*$/, "")
  }
  return value // dotenv keeps the last one
}

/** The line that sets `name` to `value`, double-quoted (the value must not need escapes). */
export const envLine = (name: string, value: string): string => {
  if (/["\\\r\n]/.test(value)) throw new Error(`cannot write ${name}: its value needs escaping`)
  return `${name}="${value}"`
}

/** Sets `name`: its first line is replaced, any later ones removed; else a line is added at the end. */
export const setEnvVariable = (text: string | undefined, name: string, value: string): string => {
  const line = envLine(name, value)
  if (text === undefined || text === "") return `${line}\n`
  const { eol, lines, finalNewline } = splitLines(text)
  const out: Array<string> = []
  let done = false
  for (const l of lines) {
    if (!lineOf(name).test(l)) out.push(l)
    else if (!done) {
      out.push(line)
      done = true
    }
  }
  if (!done) out.push(line)
  return out.join(eol) + (finalNewline || !done ? eol : "")
}

/** Removes every line that sets `name`. */
export const removeEnvVariable = (text: string, name: string): string => {
  const { eol, lines, finalNewline } = splitLines(text)
  const out = lines.filter((l) => !lineOf(name).test(l))
  if (out.length === 0) return ""
  return out.join(eol) + (finalNewline ? eol : "")
}
