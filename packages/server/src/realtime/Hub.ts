/**
 * This process's fan-out hub: which sockets follow which team, and what each has been sent.
 *
 * Delivery never trusts a notice's payload: on "team T has new events" the hub reads the
 * committed log once per team (serialising each event's message once), keeps the newest
 * events in a ring of finished frames, and every socket pumps itself forward from its own
 * cursor: from the ring when it can, from the log when it fell behind. A socket therefore
 * gets every event after its cursor exactly once and in `seq` order, whether replaying a
 * backlog or live, and a slow socket is closed (4008) instead of buffering without limit.
 *
 * The hub does no I/O of its own: reading the log, presence and stats comes in as `HubDeps`,
 * and sockets are `HubConn`s, so tests drive it with fakes.
 */
import type { Notice } from "@mur/core"
import type { PresenceEntry, SyncEvent, TodayStats } from "@mur/domain"
import { textFrame } from "../Frames.js"
import type { HubConn } from "./Conn.js"
import { eventText, serverText } from "./Wire.js"

/** `WebSocket.OPEN`. */
const OPEN = 1

export interface HubDeps {
  /** The team's committed events after `after`, in `seq` order, at most `limit`, each with its actor's name. */
  readonly readLog: (
    teamId: string,
    after: number,
    limit: number
  ) => Promise<ReadonlyArray<{ readonly event: SyncEvent; readonly actorName: string }>>
  /** The team's last committed seq. */
  readonly lastSeq: (teamId: string) => Promise<number>
  readonly online: (teamId: string) => Promise<ReadonlyArray<PresenceEntry>>
  readonly todayStats: (teamId: string) => Promise<TodayStats>
  /** A member's id and name, or null when they are not (or no longer) a member. */
  readonly member: (teamId: string, userId: string) => Promise<{ readonly id: string; readonly name: string } | null>
  /** Events delivered to sockets (a counter). */
  readonly delivered: (count: number) => void
  readonly logWarning: (message: string, error: unknown) => void
  readonly logError: (message: string, error: unknown) => void
}

export interface HubOptions {
  /** Unsent data a socket may hold before its pump pauses (bytes). */
  readonly maxBufferedBytes: number
  /** How long a socket may stay over `maxBufferedBytes` before it is closed (4008). */
  readonly slowConsumerMs: number
  /** `stats_updated` goes out at most once per team per this many ms (default 1000). */
  readonly statsIntervalMs?: number
  /** Events kept per team (default 2048). */
  readonly ringSize?: number
  /** Events read from the log at a time (default 500). */
  readonly pageSize?: number
}

interface TeamState<C> {
  readonly conns: Set<C>
  /** Highest seq known to be committed. */
  head: number
  /** Recent events as ready-to-send WebSocket frames, by seq (contiguous). */
  ring: Array<{ seq: number; frame: Buffer }>
  fetching: boolean
  again: boolean
  /** A presence read is running; another notice came meanwhile. */
  presenceBusy: boolean
  presenceAgain: boolean
  /** The pending `stats_updated` send, and when the last one went out. */
  statsTimer: ReturnType<typeof setTimeout> | null
  statsSentAt: number
}

export interface Hub<C extends HubConn> {
  /** Every socket the hub knows, of every team. */
  readonly conns: ReadonlySet<C>
  readonly add: (conn: C) => void
  /** Forgets a closed socket; a team's state goes with its last socket. */
  readonly remove: (conn: C) => void
  /** Reads the team's committed head, the seq a new subscription starts after. */
  readonly loadHead: (teamId: string) => Promise<number>
  /** Sets the socket's cursor and sends it every event after it. */
  readonly follow: (conn: C, cursor: number) => void
  /** Sends one message now; a socket far past its allowance is closed as too slow. */
  readonly send: (conn: C, text: string) => boolean
  readonly close: (conn: C, code: number, reason: string) => void
  /** Sends a socket its team's presence list. */
  readonly presenceTo: (conn: C) => Promise<void>
  readonly onNotice: (notice: Notice) => void
  /** Refreshes every team whose head moved without a notice (one lost, say). */
  readonly checkHeads: () => void
  /** Cancels pending `stats_updated` sends. */
  readonly stop: () => void
}

export const makeHub = <C extends HubConn>(deps: HubDeps, options: HubOptions): Hub<C> => {
  const maxBuffered = options.maxBufferedBytes
  const slowConsumerMs = options.slowConsumerMs
  const statsInterval = options.statsIntervalMs ?? 1000
  const ringSize = options.ringSize ?? 2048
  const pageSize = options.pageSize ?? 500
  const teams = new Map<string, TeamState<C>>()
  const conns = new Set<C>()

  const teamState = (teamId: string): TeamState<C> => {
    let t = teams.get(teamId)
    if (t === undefined) {
      t = {
        conns: new Set(),
        head: 0,
        ring: [],
        fetching: false,
        again: false,
        presenceBusy: false,
        presenceAgain: false,
        statsTimer: null,
        statsSentAt: 0
      }
      teams.set(teamId, t)
    }
    return t
  }

  const close = (conn: C, code: number, reason: string) => {
    if (conn.closed) return
    conn.closed = true
    try {
      conn.ws.close(code, reason.slice(0, 120))
    } catch {
      conn.ws.terminate()
    }
  }

  const send = (conn: C, text: string) => {
    if (conn.closed) return false
    if (conn.ws.bufferedAmount > maxBuffered * 4) {
      close(conn, 4008, `too slow: resume with after=${conn.cursor}`)
      return false
    }
    conn.ws.send(text)
    return true
  }

  /**
   * `send` for a frame from the ring, written straight to the socket. Safe beside `ws`'s own
   * writes: each is a whole frame written synchronously, `ws` sends without a queue when
   * compression is off, and `bufferedAmount` counts the socket's buffer, so the slow-consumer
   * checks see these bytes too. Nothing is written once the socket is closing.
   */
  const sendFrame = (conn: C, frame: Buffer) => {
    if (conn.closed || conn.ws.readyState !== OPEN) return false
    if (conn.ws.bufferedAmount > maxBuffered * 4) {
      close(conn, 4008, `too slow: resume with after=${conn.cursor}`)
      return false
    }
    conn.raw.write(frame)
    return true
  }

  /**
   * Waits until a socket's unsent data is under `maxBuffered`; a socket that stays over it
   * for `slowConsumerMs` is closed (4008) and resumes later from its cursor.
   */
  const drained = async (conn: C) => {
    if (conn.ws.bufferedAmount <= maxBuffered) return !conn.closed
    const deadline = Date.now() + slowConsumerMs
    while (!conn.closed && conn.ws.bufferedAmount > maxBuffered) {
      if (Date.now() > deadline) {
        close(conn, 4008, `too slow: resume with after=${conn.cursor}`)
        return false
      }
      await new Promise((r) => setTimeout(r, 5))
    }
    return !conn.closed
  }

  /**
   * Sends a socket every event after its cursor, in order. The common case (the socket is
   * caught up but for what the ring holds, and its buffer is drained) runs synchronously:
   * no promise per socket per event, which is most of a fan-out's cost. Anything else
   * (events older than the ring, a full buffer) goes on in `pumpSlow`.
   */
  const pump = (conn: C) => {
    if (conn.pumping || conn.closed || conn.cursor < 0) return
    const team = teamState(conn.teamId)
    let sent = 0
    while (conn.cursor < team.head && conn.ws.bufferedAmount <= maxBuffered) {
      const first = team.ring[0]
      if (first === undefined || conn.cursor + 1 < first.seq) break
      const item = team.ring[conn.cursor + 1 - first.seq]
      if (item === undefined || !sendFrame(conn, item.frame)) break
      conn.cursor = item.seq
      sent += 1
    }
    if (sent > 0) deps.delivered(sent)
    if (conn.closed || conn.cursor >= team.head) return
    const first = team.ring[0]
    const inRing = first !== undefined && conn.cursor + 1 >= first.seq
    // Waiting for the next refresh to fetch what the ring lacks at its end: nothing to do now.
    if (inRing && team.ring[conn.cursor + 1 - first.seq] === undefined) return
    void pumpSlow(conn)
  }

  /** The rest of `pump`: reads events older than the ring, waits for a full buffer to drain. */
  const pumpSlow = async (conn: C) => {
    if (conn.pumping || conn.closed || conn.cursor < 0) return
    conn.pumping = true
    try {
      const team = teamState(conn.teamId)
      while (!conn.closed && conn.cursor < team.head) {
        if (!(await drained(conn))) return
        // No await between finding the next event and sending it: the ring may move meanwhile.
        const first = team.ring[0]
        if (first !== undefined && conn.cursor + 1 >= first.seq) {
          const item = team.ring[conn.cursor + 1 - first.seq]
          if (item === undefined) break // not fetched yet: the next refresh pumps again
          if (!sendFrame(conn, item.frame)) return
          conn.cursor = item.seq
          deps.delivered(1)
          continue
        }
        const page = await deps.readLog(conn.teamId, conn.cursor, pageSize)
        if (page.length === 0) break
        for (const { event, actorName } of page) {
          if (conn.closed || event.seq <= conn.cursor) continue
          if (!(await drained(conn)) || !send(conn, eventText(event, actorName))) return
          conn.cursor = event.seq
          deps.delivered(1)
        }
      }
    } catch (error) {
      close(conn, 1011, "internal error")
      deps.logError("realtime pump failed", error)
    } finally {
      conn.pumping = false
    }
    const team = teams.get(conn.teamId)
    if (
      team &&
      !conn.closed &&
      conn.cursor >= 0 &&
      conn.cursor < team.head &&
      team.ring.some((e) => e.seq === conn.cursor + 1)
    )
      pump(conn)
  }

  /** Reads a team's new events once into the ring, then lets every socket catch up. */
  const refresh = async (teamId: string) => {
    const team = teams.get(teamId)
    if (team === undefined) return
    if (team.fetching) {
      team.again = true
      return
    }
    team.fetching = true
    try {
      do {
        team.again = false
        const from = team.ring.length > 0 ? team.ring[team.ring.length - 1]!.seq : team.head
        const page = await deps.readLog(teamId, from, pageSize)
        if (page.length > 0 && team.ring.length > 0 && page[0]!.event.seq !== from + 1) team.ring = []
        for (const { event, actorName } of page) {
          team.ring.push({ seq: event.seq, frame: textFrame(eventText(event, actorName)) })
          if (event.seq > team.head) team.head = event.seq
        }
        if (team.ring.length > ringSize) team.ring.splice(0, team.ring.length - ringSize)
        for (const conn of team.conns) pump(conn)
        if (page.length === pageSize) team.again = true
      } while (team.again)
    } catch (error) {
      deps.logWarning("realtime refresh failed", error)
    } finally {
      team.fetching = false
    }
  }

  const broadcast = (teamId: string, text: string, filter: (c: C) => boolean = () => true) => {
    const team = teams.get(teamId)
    if (team === undefined) return
    for (const conn of team.conns) if (filter(conn)) send(conn, text)
  }

  const sendPresence = async (teamId: string, only?: C) => {
    const team = teams.get(teamId)
    if (team === undefined) return
    const online = await deps.online(teamId)
    const text = serverText({ type: "presence", online })
    if (only !== undefined) send(only, text)
    else broadcast(teamId, text, (c) => c.channels.has("presence"))
  }

  /**
   * Sends the team's presence list to its presence subscribers after a join or leave. One
   * read at a time per team: notices that arrive meanwhile fold into one more read, so a
   * burst of N joins (every client reconnecting after a restart) costs a few reads and
   * broadcasts, not N. Every change is still followed by a list that includes it. Teams
   * with no presence subscriber here read nothing.
   */
  const refreshPresence = async (teamId: string, team: TeamState<C>) => {
    if (team.presenceBusy) {
      team.presenceAgain = true
      return
    }
    team.presenceBusy = true
    try {
      do {
        team.presenceAgain = false
        let listening = false
        for (const conn of team.conns) {
          if (conn.channels.has("presence")) {
            listening = true
            break
          }
        }
        if (!listening) break
        await sendPresence(teamId)
      } while (team.presenceAgain)
    } catch (error) {
      deps.logWarning("presence refresh failed", error)
    } finally {
      team.presenceBusy = false
    }
  }

  /**
   * Coalesces a team's stats notices into at most one `stats_updated` per interval: the
   * summary is read when the message goes out, so it covers every ingest before it.
   */
  const scheduleStats = (teamId: string) => {
    const team = teams.get(teamId)
    if (team === undefined || team.statsTimer !== null) return
    if (![...team.conns].some((c) => c.channels.has("stats"))) return
    const wait = Math.max(0, team.statsSentAt + statsInterval - Date.now())
    team.statsTimer = setTimeout(() => {
      team.statsTimer = null
      if (teams.get(teamId) !== team) return
      team.statsSentAt = Date.now()
      deps.todayStats(teamId).then(
        (summary) => broadcast(teamId, serverText({ type: "stats_updated", summary }), (c) => c.channels.has("stats")),
        (e) => deps.logWarning("stats_updated failed", e)
      )
    }, wait)
  }

  const memberJoined = (teamId: string, userId: string) =>
    deps.member(teamId, userId).then(
      (m) => {
        if (m !== null) broadcast(teamId, serverText({ type: "member_joined", user: { id: m.id, name: m.name } }))
      },
      (e) => deps.logWarning("member_joined failed", e)
    )

  const onNotice = (notice: Notice) => {
    if (notice.kind === "revoked") {
      const credential = `${notice.credential}:${notice.id}`
      for (const conn of conns) {
        if (notice.credential === "user" ? conn.userId === notice.id : conn.credential === credential)
          close(conn, 4401, "credentials revoked")
      }
      return
    }
    const team = teams.get(notice.teamId)
    if (team === undefined) return
    switch (notice.kind) {
      case "events":
        if (notice.seq > team.head) void refresh(notice.teamId)
        return
      case "presence":
        void refreshPresence(notice.teamId, team)
        return
      case "member":
        if (notice.joined) {
          void memberJoined(notice.teamId, notice.userId)
        } else {
          for (const conn of team.conns) {
            if (conn.userId === notice.userId) close(conn, 4403, "no longer a member of this team")
          }
          broadcast(notice.teamId, serverText({ type: "member_left", user_id: notice.userId }))
        }
        return
      case "stats":
        scheduleStats(notice.teamId)
        return
    }
  }

  const checkHeads = () => {
    for (const teamId of teams.keys()) {
      deps.lastSeq(teamId).then(
        (seq) => {
          const team = teams.get(teamId)
          if (team && seq > team.head) void refresh(teamId)
        },
        () => undefined
      )
    }
  }

  return {
    conns,
    add: (conn) => {
      conns.add(conn)
      teamState(conn.teamId).conns.add(conn)
    },
    remove: (conn) => {
      conn.closed = true
      conns.delete(conn)
      const team = teams.get(conn.teamId)
      team?.conns.delete(conn)
      if (team && team.conns.size === 0) {
        if (team.statsTimer !== null) clearTimeout(team.statsTimer)
        teams.delete(conn.teamId)
      }
    },
    loadHead: async (teamId) => {
      // The state is taken first: a socket that closes meanwhile must not leave one behind.
      const team = teamState(teamId)
      const head = await deps.lastSeq(teamId)
      if (head > team.head) team.head = head
      return team.head
    },
    follow: (conn, cursor) => {
      conn.cursor = cursor
      pump(conn)
    },
    send,
    close,
    presenceTo: (conn) => sendPresence(conn.teamId, conn),
    onNotice,
    checkHeads,
    stop: () => {
      for (const team of teams.values()) if (team.statsTimer !== null) clearTimeout(team.statsTimer)
    }
  }
}
