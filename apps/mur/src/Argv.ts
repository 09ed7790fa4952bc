/**
 * The global flags. `--json` and `--team SLUG` may be written anywhere on the command
 * line (`mur whoami --json`, `mur sync --team acme`); @effect/cli only reads a parent's
 * options before the subcommand, so they are moved to the front here. One exception:
 * in `mur stats`, a bare `--team` is the command's own flag (team stats); `--team SLUG`
 * there is both (the team stats of SLUG).
 */

export interface GlobalFlags {
  /** The arguments to hand to @effect/cli (runtime and script first). */
  readonly argv: ReadonlyArray<string>
  readonly json: boolean
  readonly team: string | undefined
}

/** Root options that take a value, so the value is not mistaken for the command name. */
const ROOT_VALUE_OPTIONS = new Set(["--log-level", "--completions"])

export const hoistGlobalFlags = (argv: ReadonlyArray<string>): GlobalFlags => {
  const head = argv.slice(0, 2)
  const args = argv.slice(2)
  const rest: Array<string> = []
  let json = false
  let team: string | undefined
  let command: string | undefined
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === "--") {
      rest.push(...args.slice(i))
      break
    }
    if (arg === "--json") {
      json = true
      continue
    }
    if (arg.startsWith("--team=")) {
      team = arg.slice("--team=".length)
      if (command === "stats") rest.push("--team")
      continue
    }
    if (arg === "--team") {
      const next = args[i + 1]
      const hasValue = next !== undefined && !next.startsWith("-")
      if (command === "stats") {
        // stats' own boolean flag; a following word is the team's slug (stats has no arguments).
        rest.push("--team")
        if (hasValue && next !== "record" && next !== "flush") {
          team = next
          i++
        }
        continue
      }
      if (hasValue) {
        team = next
        i++
        continue
      }
      rest.push(arg) // no value: let the parser report it
      continue
    }
    if (command === undefined && !arg.startsWith("-")) command = arg
    else if (command === undefined && ROOT_VALUE_OPTIONS.has(arg) && i + 1 < args.length) {
      rest.push(arg, args[++i]!)
      continue
    }
    rest.push(arg)
  }
  const front = [...(json ? ["--json"] : []), ...(team !== undefined ? ["--team", team] : [])]
  return { argv: [...head, ...front, ...rest], json, team }
}
