#!/usr/bin/env node
import { createRequire } from "node:module"
/**
 * `mur`: the command-line client. The server-backed commands (login, sync, team, stats)
 * are being built (spec/CLI.md); this shell answers --help and --version.
 */
import { Command } from "@effect/cli"
import { NodeContext } from "@effect/platform-node"
import { Effect } from "effect"

const { version } = createRequire(import.meta.url)("../package.json") as { version: string }

const root = Command.make("mur").pipe(Command.withDescription("mur: share AI coding patterns with your team"))

Command.run(root, { name: "mur", version })(process.argv)
  .pipe(Effect.provide(NodeContext.layer), Effect.runPromise)
  .then(
    () => process.exit(0),
    () => process.exit(2)
  )
