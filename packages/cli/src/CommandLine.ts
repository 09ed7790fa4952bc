/**
 * Runs an @effect/cli command tree the way people expect of gh or npm: help that fits 80
 * columns with one entry per command and per flag, and a usage error that is one line
 * (`unknown command "nope"; see 'mur --help'`). @effect/cli keeps the parsing, the
 * handlers, `--version`, `--completions` and `--log-level`; only its help pages and
 * error documents are replaced.
 *
 * Shared by both binaries, `mur` and `mur-server` (this package holds nothing else).
 */
import {
  type CliApp,
  CliConfig,
  Command,
  CommandDescriptor,
  type HelpDoc,
  type Span,
  ValidationError
} from "@effect/cli"
import { Console, Data, Effect, Option } from "effect"

/** A usage error, already phrased as the one line to print (without the program's prefix). */
export class UsageError extends Data.TaggedError("UsageError")<{ readonly message: string }> {}

/** One flag of a command, as help shows it. */
interface Flag {
  /** `-o`, `--output` */
  readonly names: ReadonlyArray<string>
  /** What the value looks like (`text`, `admin|member`); none for a switch. */
  readonly value: string | undefined
  readonly required: boolean
  readonly description: string
  /** The values a choice takes. */
  readonly choices?: ReadonlyArray<string>
}

/** One command of the tree, read from its @effect/cli descriptor. */
interface CommandInfo {
  readonly name: string
  readonly description: string
  readonly flags: ReadonlyArray<Flag>
  readonly args: ReadonlyArray<{
    readonly name: string
    readonly required: boolean
    readonly description: string
    readonly choices?: ReadonlyArray<string>
  }>
  readonly children: ReadonlyArray<CommandInfo>
}

const WIDTH = 80

// The descriptors' shapes in @effect/cli 0.77, which the package does not export as types.
// A node of an unknown shape reads as nothing, so help loses a line rather than failing.
type Node = { readonly _tag: string } & Record<string, any>

const spanText = (span: Span.Span): string => {
  switch (span._tag) {
    case "Sequence":
      return spanText(span.left) + spanText(span.right)
    case "Highlight":
    case "Strong":
    case "Weak":
      return spanText(span.value)
    default:
      return span.value
  }
}

/** The paragraphs of a HelpDoc as plain text, one string each. */
const docText = (doc: HelpDoc.HelpDoc): Array<string> => {
  switch (doc._tag) {
    case "Paragraph":
    case "Header":
      return [spanText(doc.value)]
    case "Sequence":
      return [...docText(doc.left), ...docText(doc.right)]
    case "Enumeration":
      return doc.elements.flatMap(docText)
    case "DescriptionList":
      return doc.definitions.flatMap(([term, d]) => [spanText(term), ...docText(d)])
    default:
      return []
  }
}

const describeText = (doc: HelpDoc.HelpDoc) =>
  docText(doc)
    .map((s) => s.trim())
    .filter((s) => s !== "")
    .join(" ")

const flagName = (name: string) => (name.length === 1 ? `-${name}` : `--${name}`)

const placeholderOf = (primitive: Node, pseudoName: Option.Option<string>): string | undefined => {
  if (primitive._tag === "Bool") return undefined
  if (Option.isSome(pseudoName)) return pseudoName.value
  if (primitive._tag === "Choice") return primitive.alternatives.map(([name]: [string]) => name).join("|")
  switch (primitive._tag) {
    case "Integer":
      return "int"
    case "Float":
      return "number"
    case "DateTime":
      return "date"
    case "Path":
      return "path"
    default:
      return "text"
  }
}

const flagsOf = (options: Node, required = true): Array<Flag> => {
  switch (options._tag) {
    case "Single":
      return [
        {
          names: [...options.aliases.map(flagName), flagName(options.name)],
          value: placeholderOf(options.primitiveType, options.pseudoName),
          required,
          description: describeText(options.description),
          ...(options.primitiveType._tag === "Choice"
            ? { choices: options.primitiveType.alternatives.map(([name]: [string]) => name) }
            : {})
        }
      ]
    case "Both":
    case "OrElse":
      return [...flagsOf(options.left, required), ...flagsOf(options.right, required)]
    case "Map":
      return flagsOf(options.options, required)
    case "WithDefault":
    case "WithFallback":
      return flagsOf(options.options, false)
    case "Variadic":
    case "KeyValueMap":
      return flagsOf(options.argumentOption, required)
    default:
      return []
  }
}

const argsOf = (args: Node, required = true): CommandInfo["args"] => {
  switch (args._tag) {
    case "Single":
      return [
        {
          name: args.name,
          required,
          description: describeText(args.description),
          ...(args.primitiveType._tag === "Choice"
            ? { choices: args.primitiveType.alternatives.map(([name]: [string]) => name) }
            : {})
        }
      ]
    case "Both":
      return [...argsOf(args.left, required), ...argsOf(args.right, required)]
    case "Map":
    case "Variadic":
      return argsOf(args.args, required)
    case "WithDefault":
    case "WithFallbackConfig":
      return argsOf(args.args, false)
    default:
      return []
  }
}

const infoOf = (node: Node): CommandInfo => {
  switch (node._tag) {
    case "Standard":
      return {
        name: node.name,
        description: describeText(node.description),
        flags: flagsOf(node.options),
        args: argsOf(node.args),
        children: []
      }
    case "GetUserInput":
      return { name: node.name, description: describeText(node.description), flags: [], args: [], children: [] }
    case "Map":
      return infoOf(node.command)
    case "Subcommands":
      return { ...infoOf(node.parent), children: node.children.map(infoOf) }
    default:
      return { name: "", description: "", flags: [], args: [], children: [] }
  }
}

/** The tree of a command as help shows it. */
const commandInfo = <Name extends string, R, E, A>(command: Command.Command<Name, R, E, A>): CommandInfo =>
  infoOf(command.descriptor as unknown as Node)

/** @effect/cli's own flags, accepted by every command. */
const BUILT_INS: ReadonlyArray<Flag> = [
  { names: ["-h", "--help"], value: undefined, required: false, description: "Show help for the command" },
  { names: ["--version"], value: undefined, required: false, description: "Print the version" },
  {
    names: ["--completions"],
    value: "shell",
    required: false,
    description: "Print a completion script for bash, fish or zsh",
    choices: ["sh", "bash", "fish", "zsh"]
  },
  { names: ["--log-level"], value: "level", required: false, description: "" },
  { names: ["--wizard"], value: undefined, required: false, description: "" }
]

/** Where a command line points in the tree, read the way @effect/cli will parse it. */
interface Scan {
  /** The root, then each subcommand named. */
  readonly path: ReadonlyArray<CommandInfo>
  readonly help: boolean
  /** The first thing wrong that shows without parsing: an unknown command or flag, a bad choice. */
  readonly problem: string | undefined
}

/** Edit distance, for "did you mean". */
const distance = (a: string, b: string): number => {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const next = [i]
    for (let j = 1; j <= b.length; j++)
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    row = next
  }
  return row[b.length]!
}

const unknownOne = (kind: string, word: string, known: ReadonlyArray<string>) => {
  const near = known.find((k) => distance(word, k) <= 2)
  return `unknown ${kind} "${word}"${near === undefined ? "" : ` (did you mean "${near}"?)`}`
}

const badChoice = (name: string, value: string, choices: ReadonlyArray<string>) =>
  `invalid ${name} "${value}": use ${choices.join(", ")}`

const scan = (root: CommandInfo, args: ReadonlyArray<string>): Scan => {
  const path = [root]
  let node = root
  let help = false
  let problem: string | undefined
  let position = 0
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === "--") break
    if (arg === "-h" || arg === "--help") {
      help = true
      continue
    }
    if (arg.startsWith("-") && arg.length > 1 && !/^-\d/.test(arg)) {
      const [name, inline] = arg.includes("=")
        ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
        : [arg]
      const known = [...node.flags, ...BUILT_INS.slice(0, 3)]
      const flag = [...known, ...BUILT_INS].find((f) => f.names.includes(name!))
      if (flag === undefined)
        problem ??= unknownOne(
          "flag",
          name!,
          [...known, ...path.flatMap((c) => c.flags)].flatMap((f) => f.names)
        )
      else if (flag.value !== undefined) {
        const value = inline ?? args[++i]
        if (value === undefined) problem ??= `${name} needs a value`
        else if (flag.choices !== undefined && !flag.choices.includes(value))
          problem ??= badChoice(name!, value, flag.choices)
      }
      continue
    }
    const child = node.children.find((c) => c.name === arg)
    if (child !== undefined) {
      node = child
      path.push(child)
      position = 0
    } else if (node.children.length > 0 && node.args.length === 0) {
      problem ??= unknownOne(
        "command",
        arg,
        node.children.map((c) => c.name)
      )
    } else {
      const expected = node.args[position++]
      if (expected?.choices !== undefined && !expected.choices.includes(arg))
        problem ??= badChoice(expected.name, arg, expected.choices)
    }
  }
  return { path, help, problem }
}

const commandPath = (path: ReadonlyArray<CommandInfo>) => path.map((c) => c.name).join(" ")

/** `words` filled into lines of at most `width` columns. */
const wrap = (text: string, width: number): Array<string> => {
  const lines: Array<string> = []
  let line = ""
  for (const word of text.split(/\s+/).filter((w) => w !== "")) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line)
      line = word
    } else line = line === "" ? word : `${line} ${word}`
  }
  if (line !== "") lines.push(line)
  return lines
}

/** Two columns: a term, and its description wrapped under itself. */
const table = (rows: ReadonlyArray<readonly [string, string]>): Array<string> => {
  const indent = 2
  const column = Math.min(Math.max(...rows.map(([term]) => term.length)), 26)
  const out: Array<string> = []
  for (const [term, description] of rows) {
    const start = Math.max(column, term.length) + indent + 2
    const lines = wrap(description, WIDTH - start)
    const head = `${" ".repeat(indent)}${term.padEnd(start - indent)}${lines[0] ?? ""}`.trimEnd()
    out.push(head, ...lines.slice(1).map((l) => `${" ".repeat(column + indent + 2)}${l}`))
  }
  return out
}

const flagTerm = (f: Flag) => {
  const names = f.names.length === 1 && f.names[0]!.startsWith("--") ? `    ${f.names[0]}` : f.names.join(", ")
  return f.value === undefined ? names : `${names} ${f.value}`
}

/** The help page of the command at the end of `path`. */
const renderHelp = (path: ReadonlyArray<CommandInfo>): string => {
  const command = path[path.length - 1]!
  const name = commandPath(path)
  const isRoot = path.length === 1
  const isGroup = command.children.length > 0
  // A group runs itself when it takes something of its own (`mur stats --from D`); a root's
  // flags are for its subcommands (`mur --json whoami`).
  const runsItself = !isGroup || command.args.length > 0 || (!isRoot && command.flags.length > 0)
  const words = [
    ...command.flags.filter((f) => f.required).map((f) => `${f.names[f.names.length - 1]} ${f.value ?? ""}`.trim()),
    ...command.args.map((a) => (a.required ? a.name : `[${a.name}]`))
  ]
  const usage = [
    ...(runsItself ? [[name, ...words, "[flags]"].join(" ")] : []),
    ...(isGroup ? [`${name} <command> [flags]`] : [])
  ]
  const lines: Array<string> = []
  if (command.description !== "") lines.push(...wrap(command.description, WIDTH), "")
  usage.forEach((u, i) => {
    wrap(u, WIDTH - 9).forEach((l, j) => {
      lines.push(`${i === 0 && j === 0 ? "Usage: " : "       "}${j === 0 ? "" : "  "}${l}`)
    })
  })
  if (isGroup) lines.push("", "Commands:", ...table(command.children.map((c) => [c.name, c.description])))
  if (command.args.length > 0) lines.push("", "Arguments:", ...table(command.args.map((a) => [a.name, a.description])))
  const own = [...command.flags, BUILT_INS[0]!, ...(isRoot ? [BUILT_INS[1]!, BUILT_INS[2]!] : [])]
  lines.push("", "Flags:", ...table(own.map((f) => [flagTerm(f), f.description])))
  const inherited = isRoot ? [] : path[0]!.flags
  if (inherited.length > 0)
    lines.push("", "Global flags:", ...table(inherited.map((f) => [flagTerm(f), f.description])))
  if (isGroup) lines.push("", `Run '${name} <command> --help' for more about a command.`)
  return lines.join("\n")
}

const UNKNOWN_ARGUMENT = /^Received unknown argument: '(.*)'$/
const MISSING_OPTION = /^Expected to find option: '(.*)'$/
const MISSING_VALUE = /^Expected a value following option: '(.*)'$/
const MISSING_ARGUMENT = /^Missing argument (<[^>]*>)/

/** @effect/cli's error document, as one line. */
const phrase = (error: ValidationError.ValidationError, at: Scan): string => {
  const text = docText(error.error)
    .map((s) => s.trim())
    .filter((s) => s !== "")
    .join(" ")
    .replace(/\s+/g, " ")
  if (at.problem !== undefined) return at.problem
  const unknownArgument = UNKNOWN_ARGUMENT.exec(text)
  if (unknownArgument) {
    const w = unknownArgument[1]!
    return w.startsWith("-") ? `unknown flag "${w}"` : `unexpected argument "${w}"`
  }
  const missingOption = MISSING_OPTION.exec(text)
  if (missingOption) return `missing ${missingOption[1]}`
  const missingValue = MISSING_VALUE.exec(text)
  if (missingValue) return `${missingValue[1]} needs a value`
  const missingArgument = MISSING_ARGUMENT.exec(text)
  if (missingArgument) return `missing argument ${missingArgument[1]}`
  if (ValidationError.isCommandMismatch(error)) return "missing or unknown command"
  const line = text === "" ? "invalid command line" : text.replace(/[.]$/, "")
  return line.charAt(0).toLowerCase() + line.slice(1)
}

const usageError = (message: string, at: Scan) =>
  new UsageError({ message: `${message}; see '${commandPath(at.path)} --help'` })

/**
 * Runs `root` on `argv` (runtime and script first). Help goes to stdout and succeeds; a
 * usage error fails with a `UsageError` and prints nothing.
 */
export const runCommandLine = <Name extends string, R, E, A>(
  root: Command.Command<Name, R, E, A>,
  app: { readonly name: string; readonly version: string },
  argv: ReadonlyArray<string>
): Effect.Effect<void, E | UsageError | ValidationError.ValidationError, R | CliApp.CliApp.Environment> => {
  const tree = commandInfo(root)
  const args = argv.slice(2)
  const at = scan(tree, args)
  const help = Console.log(renderHelp(at.path))
  if (at.help && at.problem === undefined) return help
  const config = CliConfig.defaultConfig
  const groupHelp = (effect: Effect.Effect<void, E, R>) =>
    effect.pipe(
      Effect.catchSome((e) =>
        ValidationError.isValidationError(e) && ValidationError.isHelpRequested(e) ? Option.some(help) : Option.none()
      )
    )
  return CommandDescriptor.parse(root.descriptor, [tree.name, ...args], config).pipe(
    Effect.mapError((e) => usageError(phrase(e, at), at)),
    Effect.flatMap(
      (
        directive
      ): Effect.Effect<void, E | UsageError | ValidationError.ValidationError, R | CliApp.CliApp.Environment> => {
        if (directive._tag === "BuiltIn") {
          if (directive.option._tag === "ShowHelp") return help
          if (directive.option._tag === "ShowVersion") return Console.log(app.version)
        } else if (directive.leftover.length > 0) {
          const word = directive.leftover[0]!
          const message = word.startsWith("-") ? `unknown flag "${word}"` : `unexpected argument "${word}"`
          return Effect.fail(usageError(at.problem ?? message, at))
        }
        return Command.run(Command.transformHandler(root, groupHelp), app)(argv)
      }
    )
  )
}
