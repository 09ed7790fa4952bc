/**
 * `mur sync`: the server path (SyncEngine) in server mode, or the older git-based sharing
 * path (`--force-git`, or `server.mode: git`, or `auto` without a server).
 */
import { spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { resolveTeam } from "../ActiveTeam.js"
import { Cli } from "../Cli.js"
import { loadConfig } from "../Config.js"
import { attempt, CliError, failure, usageError } from "../errors.js"
import { openSession } from "../Session.js"
import { runSync, type SyncReport } from "../SyncEngine.js"

export interface SyncArgs {
  readonly dryRun: boolean
  readonly forceGit: boolean
  readonly forceServer: boolean
}

/** `MUR_SYNC_BATCH` (events per push) and `MUR_SYNC_PAGE` (events per pull page), 1–1000. */
const sizeFromEnv = (name: string): number | undefined => {
  const raw = process.env[name]
  const n = raw === undefined ? Number.NaN : Number(raw)
  return Number.isInteger(n) && n >= 1 && n <= 1000 ? n : undefined
}

const describe = (report: SyncReport): Array<string> => {
  const would = report.dry_run ? "would " : ""
  const lines: Array<string> = []
  const list = (label: string, names: ReadonlyArray<string>) => {
    if (names.length > 0) lines.push(`  ${label} ${names.join(", ")}`)
  }
  const counts = `${would}push ${report.pushed.length}, ${would}pull ${report.pulled.length}, ${would}delete ${report.deleted.length}`
  const nothing = report.pushed.length + report.pulled.length + report.deleted.length + report.conflicts.length === 0
  lines.push(
    report.dry_run
      ? `Dry run against team ${report.team.slug}: ${counts}; nothing was changed.`
      : nothing
        ? `Up to date with team ${report.team.slug} (seq ${report.last_seq}).`
        : `Synced with team ${report.team.slug}: ${counts.replaceAll("push ", "pushed ").replaceAll("pull ", "pulled ").replaceAll("delete ", "deleted ")}.`
  )
  list(report.dry_run ? "to push: " : "pushed: ", report.pushed)
  list(report.dry_run ? "to pull: " : "pulled: ", report.pulled)
  list(report.dry_run ? "to delete:" : "deleted:", report.deleted)
  for (const c of report.conflicts) {
    lines.push(
      report.dry_run
        ? `  conflict: ${c.name} (${c.reason}): the server's copy would win; your text would be kept in ${c.file}`
        : `  conflict: ${c.name} (${c.reason}): the server's copy won; your text is kept in ${c.file}`
    )
  }
  for (const r of report.rejected) lines.push(`  rejected: ${r.name}: ${r.message} (${r.code})`)
  return lines
}

const gitSync = (dryRun: boolean) =>
  Effect.gen(function* () {
    const { home, out } = yield* Cli
    const repo = home.teamRepo
    if (!existsSync(join(repo, ".git"))) {
      out.note(
        `Git-based sharing is not set up here (no git repository at ${repo}); it is the mur tool's own path (\`mur team init <repo-url>\`). Nothing to do.`
      )
      return out.result(undefined, { mode: "git", repo, synced: false })
    }
    const git = (...args: ReadonlyArray<string>) =>
      attempt(() => spawnSync("git", ["-C", repo, ...args], { stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" }))
    if (dryRun) {
      const status = yield* git("status", "--porcelain")
      const changes = status.stdout?.split("\n").filter((l) => l.trim() !== "").length ?? 0
      return out.result(`Dry run: would pull ${repo} and push ${changes} local change(s).`, {
        mode: "git",
        repo,
        dry_run: true,
        changes
      })
    }
    const run = (...args: ReadonlyArray<string>) =>
      Effect.gen(function* () {
        const r = yield* git(...args)
        if (r.error) return yield* failure(`cannot run git: ${r.error.message}`, "git_failed")
        if (r.stderr) out.note(r.stderr.trimEnd())
        if (r.status !== 0) return yield* failure(`git ${args[0]} failed in ${repo}`, "git_failed")
        return r.stdout ?? ""
      })
    yield* run("pull", "--rebase")
    const status = yield* run("status", "--porcelain")
    const pushed = status.trim() !== ""
    if (pushed) {
      yield* run("add", "-A")
      yield* run("commit", "-m", "Sync team knowledge base")
      yield* run("push")
    }
    out.result(pushed ? `Synced ${repo} with git (pushed local changes).` : `Synced ${repo} with git.`, {
      mode: "git",
      repo,
      synced: true,
      pushed
    })
  })

export const sync = (args: SyncArgs) =>
  Effect.gen(function* () {
    const { home, out } = yield* Cli
    if (args.forceGit && args.forceServer) return yield* usageError("--force-git and --force-server exclude each other")
    const config = yield* attempt(() => loadConfig(home.config))
    const mode = args.forceGit
      ? "git"
      : args.forceServer
        ? "server"
        : config.server.mode === "auto"
          ? config.server.url
            ? "server"
            : "git"
          : config.server.mode
    if (mode === "git") {
      if (!args.forceGit && !existsSync(join(home.teamRepo, ".git"))) {
        return yield* failure("nowhere to sync: set a server with `mur config server <url>` and log in", "no_server")
      }
      return yield* gitSync(args.dryRun)
    }

    const session = yield* openSession({ requireLogin: true })
    const { team } = yield* resolveTeam(session)
    const batchSize = sizeFromEnv("MUR_SYNC_BATCH")
    const pageSize = sizeFromEnv("MUR_SYNC_PAGE")
    const report = yield* runSync(session, home, { id: team.id, slug: team.slug }, out, {
      dryRun: args.dryRun,
      ...(batchSize ? { batchSize } : {}),
      ...(pageSize ? { pageSize } : {})
    })
    for (const s of report.skipped) out.warn(`skipped ${s.file}: ${s.reason}`)
    out.result(describe(report), report)
    if (report.rejected.length > 0) {
      return yield* new CliError({
        exitCode: 1,
        code: "rejected",
        message: `the server rejected ${report.rejected.length} pattern(s): ${report.rejected.map((r) => r.name).join(", ")}`,
        documented: true
      })
    }
  })
