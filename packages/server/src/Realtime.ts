/**
 * `/ws/sync`: the real-time gateway and this process's fan-out hub.
 *
 * Delivery never trusts a notice's payload: on "team T has new events" the hub reads the
 * committed log once per team (serialising each event's message once), keeps the newest
 * events in a ring, and every socket pumps itself forward from its own cursor: from the
 * ring when it can, from the database when it fell behind. A socket therefore gets every
 * event after its cursor exactly once and in `seq` order, whether replaying a backlog or
 * live, and a slow socket is closed (4008) instead of buffering without limit.
 */

import { randomUUID } from "node:crypto"
import type { IncomingMessage } from "node:http"
import type { Duplex } from "node:stream"
import {
  type ActiveTeam,
  Auth,
  ChangeFeed,
  type Notice,
  Presence,
  Stats,
  Sync,
  SyncLog,
  TeamRepo,
  Teams
} from "@mur/core"
import { StatRecord, type SyncEvent, type User } from "@mur/domain"
import { Effect, Either, Fiber, type ManagedRuntime, ParseResult, Schedule, Schema, Stream } from "effect"
import { WebSocket, WebSocketServer } from "ws"
import { textFrame } from "./Frames.js"
import type { Metrics } from "./Metrics.js"

type Services = Auth | Teams | Sync | SyncLog | ChangeFeed | Presence | TeamRepo | Stats

export interface RealtimeOptions {
  /** Unsent data a socket may hold before its stream pauses (bytes; default 1 MB). */
  readonly maxBufferedBytes?: number
  /** How long a socket may stay over `maxBufferedBytes` before it is closed (4008). */
  readonly slowConsumerMs?: number
  /** Server ping interval; a client silent for `idleTimeoutMs` is dropped. */
  readonly pingIntervalMs?: number
  readonly idleTimeoutMs?: number
}

const CHANNELS = new Set(["patterns", "stats", "presence"])
const RING_SIZE = 2048
const PAGE = 500
/** Unhandled messages a socket may queue before it is no longer read from (backpressure). */
const INBOX_LIMIT = 32
const IDLE_INBOX = Promise.resolve()
/** `stats_updated` goes out at most once per team per this many ms (per process). */
const STATS_INTERVAL_MS = 1000

const decodeStat = Schema.decodeUnknownEither(StatRecord)

interface Conn {
  readonly id: string
  readonly ws: WebSocket
  /** The socket under `ws`: ring events go to it as frames encoded once for every socket. */
  readonly raw: Duplex
  readonly user: User
  /** What the socket was opened with: `session:<id>` (access token) or `api_key:<id>`. */
  readonly credential: string
  readonly active: ActiveTeam
  readonly deviceId: string
  channels: Set<string>
  /** Last seq sent (patterns channel), or -1 before subscribing to it. */
  cursor: number
  pumping: boolean
  lastSeen: number
  closed: boolean
  /** The socket's messages are handled one after another, in the order they came. */
  inbox: Promise<void>
  /** Messages received and not yet handled; at `INBOX_LIMIT` the socket stops reading. */
  waiting: number
}

interface TeamState {
  readonly conns: Set<Conn>
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

const eventMessage = (event: SyncEvent, actorName: string): string => {
  const user = { id: event.actor_id, name: actorName }
  return event.type === "pattern_deleted"
    ? JSON.stringify({
        type: "pattern_deleted",
        seq: event.seq,
        pattern_id: event.pattern_id,
        version: event.version,
        user
      })
    : JSON.stringify({ type: event.type, seq: event.seq, pattern: event.pattern, user })
}

const httpError = (socket: Duplex, status: number, code: string, message: string) => {
  const body = JSON.stringify({ error: { code, message } })
  const reason =
    status === 401
      ? "Unauthorized"
      : status === 404
        ? "Not Found"
        : status === 503
          ? "Service Unavailable"
          : "Bad Request"
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`
  )
}

/**
 * Kept outside `upgrade` so that the listener's closure does not hold the upgrade request
 * (URL with the token, headers, buffered bytes) for the socket's whole life.
 */
const destroyOnError = (socket: Duplex) => {
  socket.on("error", () => socket.destroy())
}

export interface Realtime {
  /** Node `upgrade` listener: mount on your `http.Server` (`server.on("upgrade", …)`). */
  readonly upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void
  readonly connections: () => number
  /** Closes every socket with 1001 and stops the hub. */
  readonly close: () => Promise<void>
}

export const makeRealtime = (
  runtime: ManagedRuntime.ManagedRuntime<Services, unknown>,
  metrics: Metrics,
  options: RealtimeOptions = {}
): Realtime => {
  const maxBuffered = options.maxBufferedBytes ?? 1024 * 1024
  const pingInterval = options.pingIntervalMs ?? 25_000
  const idleTimeout = options.idleTimeoutMs ?? 60_000
  const slowConsumerMs = options.slowConsumerMs ?? 10_000
  const processId = randomUUID()
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 1024 * 1024 })
  const teams = new Map<string, TeamState>()
  const conns = new Set<Conn>()
  const run = <A, E>(effect: Effect.Effect<A, E, Services>) => runtime.runPromise(effect)

  metrics.gauge("mur_websockets_open", () => conns.size)

  const teamState = (teamId: string): TeamState => {
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

  /** Sends now; a socket whose unsent data is past the hard cap is closed as too slow. */
  const send = (conn: Conn, text: string) => {
    if (conn.closed) return false
    if (conn.ws.bufferedAmount > maxBuffered * 4) {
      closeConn(conn, 4008, `too slow: resume with after=${conn.cursor}`)
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
  const sendFrame = (conn: Conn, frame: Buffer) => {
    if (conn.closed || conn.ws.readyState !== WebSocket.OPEN) return false
    if (conn.ws.bufferedAmount > maxBuffered * 4) {
      closeConn(conn, 4008, `too slow: resume with after=${conn.cursor}`)
      return false
    }
    conn.raw.write(frame)
    return true
  }

  /**
   * Waits until a socket's unsent data is under `maxBuffered`; a socket that stays over it
   * for `slowConsumerMs` is closed (4008) and resumes later from its cursor.
   */
  const drained = async (conn: Conn) => {
    if (conn.ws.bufferedAmount <= maxBuffered) return !conn.closed
    const deadline = Date.now() + slowConsumerMs
    while (!conn.closed && conn.ws.bufferedAmount > maxBuffered) {
      if (Date.now() > deadline) {
        closeConn(conn, 4008, `too slow: resume with after=${conn.cursor}`)
        return false
      }
      await new Promise((r) => setTimeout(r, 5))
    }
    return !conn.closed
  }

  const closeConn = (conn: Conn, code: number, reason: string) => {
    if (conn.closed) return
    conn.closed = true
    try {
      conn.ws.close(code, reason.slice(0, 120))
    } catch {
      conn.ws.terminate()
    }
  }

  /**
   * Sends a socket every event after its cursor, in order. The common case (the socket is
   * caught up but for what the ring holds, and its buffer is drained) runs synchronously:
   * no promise per socket per event, which is most of a fan-out's cost. Anything else
   * (events older than the ring, a full buffer) goes on in `pumpSlow`.
   */
  const pump = (conn: Conn) => {
    if (conn.pumping || conn.closed || conn.cursor < 0) return
    const team = teamState(conn.active.team.id)
    let sent = 0
    while (conn.cursor < team.head && conn.ws.bufferedAmount <= maxBuffered) {
      const first = team.ring[0]
      if (first === undefined || conn.cursor + 1 < first.seq) break
      const item = team.ring[conn.cursor + 1 - first.seq]
      if (item === undefined || !sendFrame(conn, item.frame)) break
      conn.cursor = item.seq
      sent += 1
    }
    if (sent > 0) metrics.increment("mur_sync_events_delivered_total", sent)
    if (conn.closed || conn.cursor >= team.head) return
    const first = team.ring[0]
    const inRing = first !== undefined && conn.cursor + 1 >= first.seq
    // Waiting for the next refresh to fetch what the ring lacks at its end: nothing to do now.
    if (inRing && team.ring[conn.cursor + 1 - first.seq] === undefined) return
    void pumpSlow(conn)
  }

  /** The rest of `pump`: reads events older than the ring, waits for a full buffer to drain. */
  const pumpSlow = async (conn: Conn) => {
    if (conn.pumping || conn.closed || conn.cursor < 0) return
    conn.pumping = true
    try {
      const team = teamState(conn.active.team.id)
      while (!conn.closed && conn.cursor < team.head) {
        if (!(await drained(conn))) return
        // No await between finding the next event and sending it: the ring may move meanwhile.
        const first = team.ring[0]
        if (first !== undefined && conn.cursor + 1 >= first.seq) {
          const item = team.ring[conn.cursor + 1 - first.seq]
          if (item === undefined) break // not fetched yet: the next refresh pumps again
          if (!sendFrame(conn, item.frame)) return
          conn.cursor = item.seq
          metrics.increment("mur_sync_events_delivered_total")
          continue
        }
        const page = await run(
          SyncLog.pipe(Effect.flatMap((log) => log.afterWithActors(conn.active.team.id, conn.cursor, PAGE)))
        )
        if (page.length === 0) break
        for (const { event, actorName } of page) {
          if (conn.closed || event.seq <= conn.cursor) continue
          if (!(await drained(conn)) || !send(conn, eventMessage(event, actorName))) return
          conn.cursor = event.seq
          metrics.increment("mur_sync_events_delivered_total")
        }
      }
    } catch (error) {
      closeConn(conn, 1011, "internal error")
      void run(Effect.logError("realtime pump failed", error))
    } finally {
      conn.pumping = false
    }
    const team = teams.get(conn.active.team.id)
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
        const page = await run(SyncLog.pipe(Effect.flatMap((log) => log.afterWithActors(teamId, from, PAGE))))
        if (page.length > 0 && team.ring.length > 0 && page[0]!.event.seq !== from + 1) team.ring = []
        for (const { event, actorName } of page) {
          team.ring.push({ seq: event.seq, frame: textFrame(eventMessage(event, actorName)) })
          if (event.seq > team.head) team.head = event.seq
        }
        if (team.ring.length > RING_SIZE) team.ring.splice(0, team.ring.length - RING_SIZE)
        for (const conn of team.conns) pump(conn)
        if (page.length === PAGE) team.again = true
      } while (team.again)
    } catch (error) {
      void run(Effect.logWarning("realtime refresh failed", error))
    } finally {
      team.fetching = false
    }
  }

  const broadcast = (teamId: string, text: string, filter: (c: Conn) => boolean = () => true) => {
    const team = teams.get(teamId)
    if (team === undefined) return
    for (const conn of team.conns) if (filter(conn)) send(conn, text)
  }

  const sendPresence = async (teamId: string, only?: Conn) => {
    const team = teams.get(teamId)
    if (team === undefined) return
    const online = await run(Presence.pipe(Effect.flatMap((p) => p.online(teamId))))
    const text = JSON.stringify({ type: "presence", online })
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
  const refreshPresence = async (teamId: string, team: TeamState) => {
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
      void run(Effect.logWarning("presence refresh failed", error)).catch(() => undefined)
    } finally {
      team.presenceBusy = false
    }
  }

  /**
   * Coalesces a team's stats notices into at most one `stats_updated` per second: the
   * summary is read when the message goes out, so it covers every ingest before it.
   */
  const scheduleStats = (teamId: string) => {
    const team = teams.get(teamId)
    if (team === undefined || team.statsTimer !== null) return
    if (![...team.conns].some((c) => c.channels.has("stats"))) return
    const wait = Math.max(0, team.statsSentAt + STATS_INTERVAL_MS - Date.now())
    team.statsTimer = setTimeout(() => {
      team.statsTimer = null
      if (teams.get(teamId) !== team) return
      team.statsSentAt = Date.now()
      run(Stats.pipe(Effect.flatMap((stats) => stats.today(teamId)))).then(
        (summary) =>
          broadcast(teamId, JSON.stringify({ type: "stats_updated", summary }), (c) => c.channels.has("stats")),
        (e) => run(Effect.logWarning("stats_updated failed", e)).catch(() => undefined)
      )
    }, wait)
  }

  const onNotice = (notice: Notice) => {
    if (notice.kind === "revoked") {
      const credential = `${notice.credential}:${notice.id}`
      for (const conn of conns) {
        if (notice.credential === "user" ? conn.user.id === notice.id : conn.credential === credential)
          closeConn(conn, 4401, "credentials revoked")
      }
      return
    }
    const team = teams.get(notice.teamId)
    if (team === undefined) return
    switch (notice.kind) {
      case "events":
        if (notice.seq > team.head) {
          void refresh(notice.teamId)
        }
        return
      case "presence":
        void refreshPresence(notice.teamId, team)
        return
      case "member":
        if (notice.joined) {
          void run(TeamRepo.pipe(Effect.flatMap((r) => r.membership(notice.teamId, notice.userId)))).then((m) => {
            if (m._tag === "Some")
              broadcast(
                notice.teamId,
                JSON.stringify({ type: "member_joined", user: { id: m.value.id, name: m.value.name } })
              )
          })
        } else {
          for (const conn of team.conns) {
            if (conn.user.id === notice.userId) closeConn(conn, 4403, "no longer a member of this team")
          }
          broadcast(notice.teamId, JSON.stringify({ type: "member_left", user_id: notice.userId }))
        }
        return
      case "stats":
        scheduleStats(notice.teamId)
        return
    }
  }

  const feedFiber = runtime.runFork(
    ChangeFeed.pipe(
      Effect.flatMap((feed) => Stream.runForEach(feed.notices, (n) => Effect.sync(() => onNotice(n)))),
      Effect.retry(Schedule.spaced("1 second")),
      Effect.forever
    )
  )

  // Catches up on anything a lost notice would have hidden, and keeps presence rows fresh.
  const heartbeat = setInterval(() => {
    const at = Date.now()
    for (const conn of conns) {
      if (at - conn.lastSeen > idleTimeout) {
        closeConn(conn, 4000, "idle for too long")
        conn.ws.terminate()
        continue
      }
      try {
        conn.ws.ping()
      } catch {
        // closed meanwhile
      }
    }
    void run(Presence.pipe(Effect.flatMap((p) => p.heartbeat(processId)))).catch(() => undefined)
    for (const teamId of teams.keys()) {
      void run(SyncLog.pipe(Effect.flatMap((log) => log.lastSeq(teamId))))
        .then((seq) => {
          const team = teams.get(teamId)
          if (team && seq > team.head) void refresh(teamId)
        })
        .catch(() => undefined)
    }
  }, pingInterval)
  heartbeat.unref()

  const ack = (conn: Conn, result: Record<string, unknown>) => send(conn, JSON.stringify({ type: "ack", ...result }))
  const error = (conn: Conn, code: string, message: string) =>
    send(conn, JSON.stringify({ type: "error", code, message }))

  const write = async (conn: Conn, event: Record<string, unknown>, clientActionId: unknown) => {
    const id = typeof clientActionId === "string" && clientActionId.length > 0 ? clientActionId : null
    const actionId = id ?? `ws:${randomUUID()}`
    const { results } = await run(
      Sync.pipe(
        Effect.flatMap((sync) =>
          sync.push(conn.user, conn.active, conn.deviceId, [{ ...event, client_action_id: actionId }])
        )
      )
    )
    const r = results[0]!
    ack(conn, { ...r, client_action_id: id })
  }

  const onMessage = async (conn: Conn, data: string) => {
    conn.lastSeen = Date.now()
    let msg: any
    try {
      msg = JSON.parse(data)
    } catch {
      error(conn, "invalid_message", "The message is not valid JSON")
      return
    }
    if (typeof msg !== "object" || msg === null || typeof msg.type !== "string") {
      error(conn, "invalid_message", "A message is a JSON object with a string `type`")
      return
    }
    switch (msg.type) {
      case "ping":
        send(conn, '{"type":"pong"}')
        return
      case "subscribe": {
        const channels = Array.isArray(msg.channels) ? msg.channels : ["patterns"]
        const bad = channels.filter((c: unknown) => typeof c !== "string" || !CHANNELS.has(c))
        if (bad.length > 0 || channels.length === 0) {
          error(conn, "invalid_message", "channels must be a non-empty list of patterns, stats, presence")
          return
        }
        if (msg.after !== undefined && !(Number.isInteger(msg.after) && msg.after >= 0)) {
          error(conn, "invalid_message", "after must be a whole number (a seq)")
          return
        }
        const team = teamState(conn.active.team.id)
        const head = await run(SyncLog.pipe(Effect.flatMap((log) => log.lastSeq(conn.active.team.id))))
        if (head > team.head) team.head = head
        conn.channels = new Set(channels)
        send(conn, JSON.stringify({ type: "subscribed", channels, last_seq: team.head }))
        if (conn.channels.has("patterns")) {
          if (conn.cursor < 0 || msg.after !== undefined) conn.cursor = msg.after ?? team.head
          pump(conn)
        }
        if (conn.channels.has("presence")) void sendPresence(conn.active.team.id, conn).catch(() => undefined)
        return
      }
      case "pattern_created":
      case "pattern_updated": {
        const p = msg.pattern
        if (typeof p !== "object" || p === null || Array.isArray(p)) {
          error(conn, "invalid_message", "pattern must be an object")
          return
        }
        await write(
          conn,
          {
            op: "upsert",
            ...(typeof p.id === "string" ? { pattern_id: p.id } : {}),
            ...(typeof p.name === "string" ? { name: p.name } : {}),
            ...(msg.base_version !== undefined ? { base_version: msg.base_version } : {}),
            pattern: p
          },
          msg.client_action_id
        )
        return
      }
      case "pattern_deleted":
        if (typeof msg.pattern_id !== "string") {
          error(conn, "invalid_message", "pattern_id is required")
          return
        }
        await write(conn, { op: "delete", pattern_id: msg.pattern_id }, msg.client_action_id)
        return
      case "stat_recorded": {
        const decoded = decodeStat(msg.stat)
        const id = typeof msg.client_action_id === "string" ? msg.client_action_id : null
        if (Either.isLeft(decoded)) {
          const issue = ParseResult.ArrayFormatter.formatErrorSync(decoded.left)[0]
          const where = issue ? ["stat", ...issue.path].join(".") : "stat"
          send(
            conn,
            JSON.stringify({
              type: "error",
              code: "invalid_request",
              message: `${where}: ${issue?.message ?? "must be a stat record"}`,
              client_action_id: id
            })
          )
          return
        }
        const result = await run(
          Stats.pipe(Effect.flatMap((stats) => stats.record(conn.user, conn.active.team.id, [decoded.right])))
        )
        metrics.increment("mur_stats_ingested_total", result.accepted)
        ack(conn, { client_action_id: id, status: result.accepted === 1 ? "applied" : "duplicate" })
        return
      }
      default:
        error(conn, "invalid_message", `Unknown message type: ${String(msg.type).slice(0, 64)}`)
    }
  }

  const authenticate = async (req: IncomingMessage) => {
    const url = new URL(req.url ?? "/", "http://localhost")
    const header = req.headers.authorization
    const token = url.searchParams.get("token") ?? (header?.startsWith("Bearer ") ? header.slice(7) : "")
    const named = url.searchParams.get("team") ?? (req.headers["x-team"] as string | undefined) ?? undefined
    const deviceParam = url.searchParams.get("device_id")
    return run(
      Effect.gen(function* () {
        const auth = yield* Auth
        const teams = yield* Teams
        const principal = yield* auth.authenticate(token)
        const active = yield* teams.resolveActive(principal.user, named)
        return {
          user: principal.user,
          credential: principal.apiKeyId !== null ? `api_key:${principal.apiKeyId}` : `session:${principal.sessionId}`,
          active,
          deviceId: deviceParam && deviceParam.length <= 128 ? deviceParam : null
        }
      }).pipe(Effect.either)
    )
  }

  const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (req.url ?? "").split("?")[0]
    if (path !== "/ws/sync") {
      httpError(socket, 404, "not_found", "No WebSocket endpoint here; use /ws/sync")
      return
    }
    destroyOnError(socket)
    authenticate(req).then(
      (result) => {
        if (Either.isLeft(result)) {
          const e = result.left as any
          if (e._tag === "Unauthorized") return httpError(socket, 401, e.code, e.message)
          if (e._tag === "NotFound") return httpError(socket, 404, e.code, e.message)
          if (e._tag === "InvalidRequest") return httpError(socket, 400, e.code, e.message)
          return httpError(socket, 503, "unavailable", "Try again shortly")
        }
        const { user, credential, active, deviceId } = result.right
        wss.handleUpgrade(req, socket, head, (ws) => accept(ws, socket, user, credential, active, deviceId))
      },
      () => httpError(socket, 503, "unavailable", "Try again shortly")
    )
  }

  const accept = (
    ws: WebSocket,
    raw: Duplex,
    user: User,
    credential: string,
    active: ActiveTeam,
    deviceId: string | null
  ) => {
    const conn: Conn = {
      id: randomUUID(),
      ws,
      raw,
      user,
      credential,
      active,
      deviceId: deviceId ?? `ws-${user.id}`,
      channels: new Set(),
      cursor: -1,
      pumping: false,
      lastSeen: Date.now(),
      closed: false,
      inbox: IDLE_INBOX,
      waiting: 0
    }
    conns.add(conn)
    teamState(active.team.id).conns.add(conn)
    ws.on("message", (data, isBinary) => {
      conn.lastSeen = Date.now()
      if (isBinary) {
        error(conn, "invalid_message", "Binary messages are not supported")
        return
      }
      // In order: a create and the update after it must not race each other to the team lock.
      const text = data.toString()
      if (++conn.waiting >= INBOX_LIMIT) ws.pause()
      conn.inbox = conn.inbox
        .then(() => onMessage(conn, text))
        .catch((e) => {
          error(conn, "internal_error", "The message could not be handled")
          void run(Effect.logError("realtime message failed", e)).catch(() => undefined)
        })
        .finally(() => {
          if (--conn.waiting < INBOX_LIMIT && ws.isPaused) ws.resume()
        })
    })
    ws.on("pong", () => {
      conn.lastSeen = Date.now()
    })
    ws.on("close", () => {
      conn.closed = true
      conns.delete(conn)
      const team = teams.get(active.team.id)
      team?.conns.delete(conn)
      if (team && team.conns.size === 0) {
        if (team.statsTimer !== null) clearTimeout(team.statsTimer)
        teams.delete(active.team.id)
      }
      void run(Presence.pipe(Effect.flatMap((p) => p.leave(conn.id, active.team.id)))).catch(() => undefined)
    })
    ws.on("error", () => undefined)
    void run(
      Presence.pipe(
        Effect.flatMap((p) =>
          p.join({
            conn_id: conn.id,
            team_id: active.team.id,
            user_id: user.id,
            name: user.name,
            device_id: deviceId,
            process_id: processId
          })
        )
      )
    ).catch(() => undefined)
  }

  let closing: Promise<void> | undefined
  const close = () => {
    closing ??= shutdown()
    return closing
  }
  const shutdown = async () => {
    clearInterval(heartbeat)
    for (const team of teams.values()) if (team.statsTimer !== null) clearTimeout(team.statsTimer)
    for (const conn of conns) closeConn(conn, 1001, "server shutting down")
    await runtime.runPromise(Fiber.interrupt(feedFiber)).catch(() => undefined)
    await run(Presence.pipe(Effect.flatMap((p) => p.clear(processId)))).catch(() => undefined)
    await new Promise<void>((resolve) => wss.close(() => resolve()))
  }

  return { upgrade, connections: () => conns.size, close }
}
