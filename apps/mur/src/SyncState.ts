/**
 * `sync-state.json`: per server URL and team, the last pulled `seq`, and per pattern name
 * its server id, version, and the hash of the document as last synced (a file whose hash
 * differs has changed locally since).
 */
import { readTextIfExists, writeFileAtomic } from "./AtomicFile.js"

export interface PatternSyncState {
  readonly id: string
  readonly version: number
  readonly hash: string
}

export interface TeamSyncState {
  team_slug?: string
  last_seq: number
  patterns: Record<string, PatternSyncState>
}

interface SyncStateFile {
  version: 1
  servers: Record<string, { teams: Record<string, TeamSyncState> }>
}

export class SyncState {
  private constructor(
    private readonly path: string,
    private readonly file: SyncStateFile
  ) {}

  static load(path: string): SyncState {
    const text = readTextIfExists(path)
    let file: SyncStateFile = { version: 1, servers: {} }
    if (text !== undefined) {
      try {
        const parsed = JSON.parse(text)
        if (parsed && typeof parsed === "object" && parsed.servers && typeof parsed.servers === "object") file = parsed
      } catch {
        // A damaged state only costs a full pull; the pull recognises files that are already current.
      }
    }
    return new SyncState(path, file)
  }

  /** The state of one team on one server (created empty when new). */
  team(server: string, teamId: string, slug?: string): TeamSyncState {
    const servers = this.file.servers
    servers[server] ??= { teams: {} }
    const teams = servers[server].teams
    teams[teamId] ??= { last_seq: 0, patterns: {} }
    const state = teams[teamId]
    if (slug) state.team_slug = slug
    state.patterns ??= {}
    if (typeof state.last_seq !== "number") state.last_seq = 0
    return state
  }

  save(): void {
    writeFileAtomic(this.path, `${JSON.stringify(this.file, null, 2)}\n`)
  }
}
