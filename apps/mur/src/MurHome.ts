/** Where `mur` keeps its files: `$MUR_HOME`, by default `~/.mur` (the real mur tool's layout). */
import { homedir } from "node:os"
import { join, resolve } from "node:path"

export interface MurHome {
  readonly dir: string
  readonly config: string
  readonly auth: string
  readonly deviceId: string
  readonly patterns: string
  readonly syncState: string
  readonly statsQueue: string
  readonly statsLock: string
  /** Usage records the server refused as invalid (kept for a person to look at). */
  readonly statsRejected: string
  /** The git team repository of the older git-based sharing path. */
  readonly teamRepo: string
}

/** The files under a home folder (`$MUR_HOME` when not given). */
export const murHome = (dir?: string, env: NodeJS.ProcessEnv = process.env): MurHome => {
  const root = dir ?? (env.MUR_HOME ? resolve(env.MUR_HOME) : join(homedir(), ".mur"))
  return {
    dir: root,
    config: join(root, "config.yaml"),
    auth: join(root, "auth.json"),
    deviceId: join(root, "device_id"),
    patterns: join(root, "patterns"),
    syncState: join(root, "sync-state.json"),
    statsQueue: join(root, "stats-queue.jsonl"),
    statsLock: join(root, "stats-queue.lock"),
    statsRejected: join(root, "stats-rejected.jsonl"),
    teamRepo: join(root, "team")
  }
}
