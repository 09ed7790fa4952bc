/**
 * Help and usage errors of both real binaries, `mur` and `mur-server`: every help page (each
 * command found by following the "Commands:" lists) fits 80 columns without @effect/cli's
 * boilerplate, a usage error is one line on stderr and exit 2, and the completion scripts
 * still print.
 */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { runMur } from "./support/mur.js"
import { runServerCommand } from "./support/server.js"

type Run = (args: ReadonlyArray<string>) => Promise<{ code: number | null; stdout: string; stderr: string }>

const home = mkdtempSync(join(tmpdir(), "mur-help-"))
const binaries: ReadonlyArray<[string, Run]> = [
  ["mur", (args) => runMur(home, args)],
  ["mur-server", (args) => runServerCommand(args, { NO_COLOR: "1" })]
]

/** The subcommands a help page lists. */
const commandsOf = (help: string): Array<string> => {
  const lines = help.split("\n")
  const start = lines.indexOf("Commands:")
  if (start < 0) return []
  const names: Array<string> = []
  for (const line of lines.slice(start + 1)) {
    if (line.trim() === "") break
    const m = /^ {2}(\S+)/.exec(line)
    if (m) names.push(m[1]!)
  }
  return names
}

/** Runs `f` over `items`, two at a time (the machine is shared; mur-server starts slowly). */
const inPairs = async <A, B>(items: ReadonlyArray<A>, f: (a: A) => Promise<B>): Promise<Array<B>> => {
  const out: Array<B> = []
  for (let i = 0; i < items.length; i += 2) out.push(...(await Promise.all(items.slice(i, i + 2).map(f))))
  return out
}

// mur's pages are all visited, by following each "Commands:" list; mur-server's (a second
// or more to start) are the root, every group and a leaf of each kind.
const SERVER_PAGES: ReadonlyArray<ReadonlyArray<string>> = [
  [],
  ["serve"],
  ["migrate"],
  ["jobs"],
  ["jobs", "run"],
  ["admin"],
  ["admin", "users"],
  ["admin", "users", "create"],
  ["admin", "teams"],
  ["admin", "teams", "set-limits"],
  ["backup"],
  ["restore"]
]

describe.each(binaries)("%s", (name, run) => {
  it("prints a help page of at most 80 columns for the root, the groups and the commands", async () => {
    const crawl = name === "mur"
    const pending: Array<ReadonlyArray<string>> = crawl ? [[]] : [...SERVER_PAGES]
    const seen: Array<string> = []
    while (pending.length > 0) {
      const batch = pending.splice(0, crawl ? pending.length : 2)
      const pages = await inPairs(batch, (path) => run([...path, "--help"]))
      batch.forEach((path, i) => {
        const page = pages[i]!
        const where = [name, ...path, "--help"].join(" ")
        seen.push(where)
        expect(page.code, `${where}: ${page.stderr}`).toBe(0)
        expect(page.stderr, where).toBe("")
        expect(page.stdout, where).toMatch(/^Usage: /m)
        expect(page.stdout, where).not.toMatch(/A true or false value|This setting is optional/)
        expect(page.stdout, where).not.toContain("\u001b[")
        for (const line of page.stdout.split("\n")) expect(line.length, `${where}: ${line}`).toBeLessThanOrEqual(80)
        const children = commandsOf(page.stdout)
        if (path.length > 0 && children.length === 0) expect(page.stdout, where).toMatch(/^Flags:$/m)
        if (crawl) for (const child of children) pending.push([...path, child])
      })
    }
    expect(seen.length).toBeGreaterThanOrEqual(12)
  }, 180_000)

  it("answers -h, and a group named alone, with the same page as --help", async () => {
    const group = name === "mur" ? ["team"] : ["admin", "users"]
    const [help, short, bare] = await inPairs([[...group, "--help"], [...group, "-h"], group], run)
    expect(short).toEqual(help)
    expect(bare).toEqual(help)
    expect(commandsOf(help!.stdout).length).toBeGreaterThan(1)
  }, 180_000)

  it("ends a usage error with one line on stderr and exit 2", async () => {
    const cases: ReadonlyArray<readonly [ReadonlyArray<string>, RegExp]> = [
      [["nope"], new RegExp(`unknown command "nope"; see '${name} --help'$`)],
      [["--nope"], new RegExp(`unknown flag "--nope"; see '${name} --help'$`)],
      ...(name === "mur"
        ? ([
            [["team", "dance"], /unknown command "dance"; see 'mur team --help'$/],
            [["whoami", "--colour"], /unknown flag "--colour"; see 'mur whoami --help'$/],
            [["whoami", "--jsno"], /unknown flag "--jsno" \(did you mean "--json"\?\)/],
            [["stats", "record", "--tool", "x"], /missing --action; see 'mur stats record --help'$/],
            [["team", "invite", "a@example.com", "--role", "boss"], /invalid --role "boss": use admin, member/],
            [["team", "join"], /missing argument <code>/],
            [["--team"], /--team needs a value/],
            [["setup", "cursor"], /unknown command "cursor"; see 'mur setup --help'$/]
          ] as const)
        : ([
            [["admin", "users", "nope"], /unknown command "nope"; see 'mur-server admin users --help'$/],
            [["serve", "--nope"], /unknown flag "--nope"; see 'mur-server serve --help'$/],
            [["srve"], /unknown command "srve" \(did you mean "serve"\?\)/],
            [["jobs", "run"], /missing argument <NAME>; see 'mur-server jobs run --help'$/],
            [["jobs", "run", "a", "b"], /unexpected argument "b"/],
            [["backup"], /missing --output/],
            [["admin", "teams", "set-plan", "acme", "gold"], /invalid <PLAN> "gold": use free, team, enterprise/],
            [["--completions", "tcsh"], /invalid --completions "tcsh"/]
          ] as const))
    ]
    const runs = await inPairs(cases, ([args]) => run(args))
    cases.forEach(([args, message], i) => {
      const r = runs[i]!
      const where = [name, ...args].join(" ")
      expect(r.code, `${where}: ${r.stderr}`).toBe(2)
      expect(r.stdout, where).toBe("")
      const lines = r.stderr.trimEnd().split("\n")
      expect(lines, where).toHaveLength(1)
      expect(lines[0]!.length, where).toBeLessThanOrEqual(120)
      expect(lines[0], where).toMatch(name === "mur" ? /^error: / : /^mur-server: /)
      expect(lines[0], where).toMatch(message)
    })
  }, 180_000)

  it("keeps --version and the shell completion scripts", async () => {
    const [version, bash, zsh] = await inPairs(
      [["--version"], ["--completions", "bash"], ["--completions", "zsh"]],
      run
    )
    expect(version).toMatchObject({ code: 0, stdout: "0.1.0\n" })
    expect(bash!.code).toBe(0)
    expect(bash!.stdout).toMatch(new RegExp(`complete -F _${name}_bash_completions`))
    expect(zsh!.code).toBe(0)
    expect(zsh!.stdout).toMatch(new RegExp(`^#compdef ${name}`))
  }, 180_000)
})
