#!/usr/bin/env node
/**
 * `mur`: the command-line client of mur-server (spec/CLI.md). This file only wires the
 * commands; each one lives in `commands/`, on top of the modules beside this file.
 */
import { createRequire } from "node:module"
import { Args, Command, Options } from "@effect/cli"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { runCommandLine, UsageError } from "@mur/cli"
import { Cause, Effect, Exit, Option } from "effect"
import { hoistGlobalFlags } from "./Argv.js"
import type { AssistantName } from "./Assistants.js"
import { Cli } from "./Cli.js"
import { login, logout, whoami } from "./commands/auth.js"
import { configServer, configSet, configShow } from "./commands/config.js"
import { setup } from "./commands/setup.js"
import { stats, statsFlush, statsRecord } from "./commands/stats.js"
import { sync } from "./commands/sync.js"
import { teamCreate, teamInvite, teamJoin, teamLeave, teamMembers } from "./commands/team.js"
import { CliError } from "./errors.js"
import { murHome } from "./MurHome.js"
import { makeOutput } from "./Output.js"

const { version } = createRequire(import.meta.url)("../package.json") as { version: string }

const optionalText = (name: string, value: string, description: string) =>
  Options.text(name).pipe(Options.withPseudoName(value), Options.optional, Options.withDescription(description))
const flag = (name: string, description: string) => Options.boolean(name).pipe(Options.withDescription(description))
const from = optionalText("from", "DAY", "First day (YYYY-MM-DD, UTC), included")
const to = optionalText("to", "DAY", "Last day (YYYY-MM-DD, UTC), included")

// config
const configServerCommand = Command.make(
  "server",
  {
    url: Args.text({ name: "url" }).pipe(
      Args.withDescription("The server, like https://mur.example.com"),
      Args.optional
    ),
    clear: flag("clear", "Forget the server")
  },
  configServer
).pipe(Command.withDescription("Set (or with --clear forget) the mur-server URL"))
const configSetCommand = Command.make(
  "set",
  {
    key: Args.text({ name: "key" }).pipe(Args.withDescription("A dotted key, like server.mode")),
    value: Args.text({ name: "value" }).pipe(Args.withDescription("Its value (a YAML scalar)"))
  },
  configSet
).pipe(Command.withDescription("Set a key of config.yaml, like server.mode server"))
const configShowCommand = Command.make("show", {}, () => configShow).pipe(Command.withDescription("Print config.yaml"))
const configCommand = Command.make("config").pipe(
  Command.withDescription("The configuration in $MUR_HOME/config.yaml"),
  Command.withSubcommands([configServerCommand, configSetCommand, configShowCommand])
)

// login, logout, whoami
const loginCommand = Command.make(
  "login",
  {
    email: optionalText("email", "EMAIL", "E-mail address (asked when missing)"),
    password: optionalText("password", "PASSWORD", "Password (asked, not echoed, when missing)"),
    device: flag("device", "Log in by approving a code in a browser, on any device"),
    apiKey: optionalText("api-key", "KEY", "Log in with an API key (mur_…), for CI and scripts")
  },
  login
).pipe(Command.withDescription("Log in to the server"))
const logoutCommand = Command.make("logout", {}, () => logout).pipe(Command.withDescription("Log out"))
const whoamiCommand = Command.make("whoami", {}, () => whoami).pipe(
  Command.withDescription("Show who is logged in, and their teams")
)

// sync
const syncCommand = Command.make(
  "sync",
  {
    dryRun: flag("dry-run", "Show what would be pushed, pulled and deleted; change nothing"),
    forceGit: flag("force-git", "Use the older git-based sharing path"),
    forceServer: flag("force-server", "Use the server even when server.mode says otherwise")
  },
  sync
).pipe(Command.withDescription("Share patterns marked team_shared: true with the team, and pull the team's"))

// team
const teamCommand = Command.make("team").pipe(
  Command.withDescription("Teams on the server"),
  Command.withSubcommands([
    Command.make(
      "create",
      { name: Args.text({ name: "name" }).pipe(Args.withDescription("The team's name")) },
      teamCreate
    ).pipe(Command.withDescription("Create a team (you become its admin)")),
    Command.make(
      "invite",
      {
        email: Args.text({ name: "email" }).pipe(Args.withDescription("Who to invite")),
        role: Options.choice("role", ["admin", "member"]).pipe(
          Options.optional,
          Options.withDescription("The role to join with (member by default)")
        )
      },
      teamInvite
    ).pipe(Command.withDescription("Invite someone by e-mail; prints the invite code")),
    Command.make(
      "join",
      { code: Args.text({ name: "code" }).pipe(Args.withDescription("The invite code")) },
      teamJoin
    ).pipe(Command.withDescription("Join a team with an invite code")),
    Command.make("members", {}, () => teamMembers).pipe(Command.withDescription("List the team's members")),
    Command.make("stats", { from, to }, (a) =>
      stats({ ...a, team: true, export: Option.none(), output: Option.none() })
    ).pipe(Command.withDescription("The team's usage (admins)")),
    Command.make("leave", {}, () => teamLeave).pipe(Command.withDescription("Leave the team"))
  ])
)

// stats
const statsCommand = Command.make(
  "stats",
  {
    team: flag("team", "The team's usage instead of yours (admins)"),
    from,
    to,
    export: Options.choice("export", ["csv"]).pipe(
      Options.optional,
      Options.withDescription("Export the raw records (CSV)")
    ),
    output: optionalText("output", "FILE", "With --export: the file to write (stdout otherwise)")
  },
  stats
).pipe(
  Command.withDescription("Usage statistics"),
  Command.withSubcommands([
    Command.make(
      "record",
      {
        tool: Options.text("tool").pipe(
          Options.withPseudoName("NAME"),
          Options.withDescription("The tool that ran, like claude-code")
        ),
        action: Options.text("action").pipe(
          Options.withPseudoName("NAME"),
          Options.withDescription("What it did, like run")
        ),
        durationMs: Options.integer("duration-ms").pipe(
          Options.withPseudoName("MS"),
          Options.optional,
          Options.withDescription("How long, in ms")
        ),
        tokens: Options.integer("tokens").pipe(
          Options.withPseudoName("N"),
          Options.optional,
          Options.withDescription("Tokens used")
        ),
        costUsd: Options.float("cost-usd").pipe(
          Options.withPseudoName("USD"),
          Options.optional,
          Options.withDescription("Cost in US dollars")
        )
      },
      statsRecord
    ).pipe(Command.withDescription("Queue a usage record, and deliver the queue when the server answers")),
    Command.make("flush", {}, () => statsFlush).pipe(Command.withDescription("Deliver the queued usage records now"))
  ])
)

// setup
const setupOptions = {
  file: optionalText("file", "PATH", "Edit this settings file instead (a managed or system one)"),
  key: optionalText("key", "KEY", "Use this API key (mur_…) instead of creating one"),
  print: flag("print", "Print the settings, write nothing (a key is still made unless --key)"),
  undo: flag("undo", "Remove the settings mur setup wrote")
}
const setupCommandFor = (assistant: AssistantName, description: string) =>
  Command.make(assistant, setupOptions, (a) => setup({ ...a, assistant })).pipe(Command.withDescription(description))
const setupCommand = Command.make("setup").pipe(
  Command.withDescription("Send an AI assistant's telemetry (OpenTelemetry) to the server"),
  Command.withSubcommands([
    setupCommandFor("claude-code", "Claude Code: env in ~/.claude/settings.json ($CLAUDE_CONFIG_DIR)"),
    setupCommandFor("gemini-cli", "Gemini CLI: ~/.gemini/settings.json and .env ($GEMINI_CLI_HOME)"),
    setupCommandFor("codex", "Codex: [otel] in ~/.codex/config.toml ($CODEX_HOME)")
  ])
)

const root = Command.make("mur", {
  json: flag("json", "Print one JSON document on stdout (any command)"),
  team: optionalText("team", "SLUG", "The team (slug or id) when you are in several (any command)")
}).pipe(
  Command.withDescription("mur: share AI coding patterns with your team"),
  Command.withSubcommands([
    configCommand,
    loginCommand,
    logoutCommand,
    whoamiCommand,
    syncCommand,
    teamCommand,
    statsCommand,
    setupCommand
  ])
)

const flags = hoistGlobalFlags(process.argv)
const out = makeOutput({ json: flags.json })

const program = runCommandLine(root, { name: "mur", version }, flags.argv).pipe(
  Effect.provideService(Cli, { home: murHome(), json: flags.json, team: flags.team, out }),
  Effect.provide(NodeContext.layer)
)

/** Exits once stdout and stderr have taken everything written (pipes may be asynchronous). */
const exit = (code: number) => {
  let pending = 2
  const done = () => {
    if (--pending === 0) process.exit(code)
  }
  process.stdout.write("", done)
  process.stderr.write("", done)
}

Effect.runPromiseExit(program).then((result) => {
  if (Exit.isSuccess(result)) return exit(0)
  const failure = Cause.failureOption(result.cause)
  const error = Option.getOrUndefined(failure)
  const jsonError = (code: string, message: string) => {
    if (flags.json) process.stdout.write(`${JSON.stringify({ error: { code, message } }, null, 2)}\n`)
  }
  if (error instanceof CliError) {
    out.error(error.message)
    if (!error.documented) jsonError(error.code, error.message)
    return exit(error.exitCode)
  }
  if (error instanceof UsageError) {
    out.error(error.message)
    jsonError("usage", error.message)
    return exit(2)
  }
  out.error(`internal error: ${Cause.pretty(result.cause)}`)
  jsonError("internal_error", "internal error")
  exit(1)
})
