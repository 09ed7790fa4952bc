/**
 * What a command prints. Results go to stdout: human text, or with `--json` exactly one
 * JSON document. Notes, warnings, errors and progress go to stderr; progress only when
 * stderr is a terminal. Colour only on a terminal and never when `NO_COLOR` is set.
 */

export interface Output {
  readonly json: boolean
  /** Prints the command's result: `human` lines, or `json` as one document with `--json`. */
  readonly result: (human: string | ReadonlyArray<string> | undefined, json: unknown) => void
  /** Text exactly as given on stdout (CSV). */
  readonly raw: (text: string) => void
  /** A line for the person at the terminal (stderr). */
  readonly note: (message: string) => void
  readonly warn: (message: string) => void
  readonly error: (message: string) => void
  readonly bold: (text: string) => string
  readonly dim: (text: string) => string
  readonly green: (text: string) => string
  readonly yellow: (text: string) => string
  /** A progress line on stderr, redrawn in place; silent when stderr is not a terminal. */
  readonly progress: (label: string) => Progress
}

export interface Progress {
  readonly update: (done?: number, total?: number) => void
  readonly done: () => void
}

export interface OutputOptions {
  readonly json: boolean
  readonly env?: NodeJS.ProcessEnv
  readonly stdout?: NodeJS.WriteStream
  readonly stderr?: NodeJS.WriteStream
}

/** `NO_COLOR` (any non-empty value, https://no-color.org) or a non-terminal turns colour off. */
export const colorEnabled = (stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean =>
  !(env.NO_COLOR !== undefined && env.NO_COLOR !== "") && env.TERM !== "dumb" && stream.isTTY === true

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching ANSI escapes is the point
const ANSI = /\u001b\[[0-9;?]*[A-Za-z]/g

export const stripAnsi = (text: string): string => text.replace(ANSI, "")

export const makeOutput = (options: OutputOptions): Output => {
  const env = options.env ?? process.env
  const stdout = options.stdout ?? process.stdout
  const stderr = options.stderr ?? process.stderr
  const color = colorEnabled(stderr, env)
  const outColor = colorEnabled(stdout, env)
  const style = (on: boolean, code: string) => (text: string) => (on ? `\u001b[${code}m${text}\u001b[0m` : text)
  const errLine = (text: string) => {
    stderr.write(`${text}\n`)
  }
  let progressShown = false
  const clearProgress = () => {
    if (progressShown) {
      stderr.write("\r\u001b[2K")
      progressShown = false
    }
  }
  return {
    json: options.json,
    result: (human, json) => {
      clearProgress()
      if (options.json) {
        stdout.write(`${JSON.stringify(json, null, 2)}\n`)
      } else if (human !== undefined) {
        const lines = typeof human === "string" ? [human] : human
        if (lines.length > 0) stdout.write(`${lines.map((l) => (outColor ? l : stripAnsi(l))).join("\n")}\n`)
      }
    },
    raw: (text) => {
      clearProgress()
      stdout.write(text)
    },
    note: (message) => {
      clearProgress()
      errLine(color ? message : stripAnsi(message))
    },
    warn: (message) => {
      clearProgress()
      errLine(`${style(color, "33")("warning:")} ${message}`)
    },
    error: (message) => {
      clearProgress()
      errLine(`${style(color, "31")("error:")} ${message}`)
    },
    bold: style(outColor, "1"),
    dim: style(outColor, "2"),
    green: style(outColor, "32"),
    yellow: style(outColor, "33"),
    progress: (label) => {
      const live = stderr.isTTY === true
      return {
        update: (done, total) => {
          if (!live) return
          const count = done === undefined ? "" : total === undefined ? ` ${done}` : ` ${done}/${total}`
          stderr.write(`\r\u001b[2K${label}${count}`)
          progressShown = true
        },
        done: () => {
          if (live) clearProgress()
        }
      }
    }
  }
}
