/**
 * `/ws/sync`: the upgrade (credentials, team), each connection's life (its messages in
 * order and with backpressure, heartbeat, close), and the wiring of the hub and the
 * dispatch table to this process's services.
 */
import { randomUUID } from "node:crypto"
import type { IncomingMessage } from "node:http"
import type { Duplex } from "node:stream"
import { type ActiveTeam, Auth, ChangeFeed, Limiter, Presence, Stats, Sync, SyncLog, TeamRepo, Teams } from "@mur/core"
import type { User } from "@mur/domain"
import { Effect, Either, Fiber, type ManagedRuntime, Option, Schedule, Stream } from "effect"
import { type WebSocket, WebSocketServer } from "ws"
import type { Metrics } from "../Metrics.js"
import type { Conn } from "./Conn.js"
import { type Admit, type DispatchContext, dispatch } from "./Dispatch.js"
import { makeHub } from "./Hub.js"
import { serverText } from "./Wire.js"

type Services = Auth | Teams | Sync | SyncLog | ChangeFeed | Presence | TeamRepo | Stats | Limiter

export interface RealtimeOptions {
  /** Unsent data a socket may hold before its stream pauses (bytes; default 1 MB). */
  readonly maxBufferedBytes?: number
  /** How long a socket may stay over `maxBufferedBytes` before it is closed (4008). */
  readonly slowConsumerMs?: number
  /** Server ping interval; a client silent for `idleTimeoutMs` is dropped. */
  readonly pingIntervalMs?: number
  readonly idleTimeoutMs?: number
}

/** Unhandled messages a socket may queue before it is no longer read from (backpressure). */
const INBOX_LIMIT = 32
const IDLE_INBOX = Promise.resolve()

const REASONS: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  404: "Not Found",
  429: "Too Many Requests",
  503: "Service Unavailable"
}

const httpError = (socket: Duplex, status: number, code: string, message: string, retryAfter?: number) => {
  const body = JSON.stringify({
    error: { code, message, ...(retryAfter === undefined ? {} : { retry_after: retryAfter }) }
  })
  const extra = retryAfter === undefined ? "" : `retry-after: ${retryAfter}\r\n`
  socket.end(
    `HTTP/1.1 ${status} ${REASONS[status] ?? "Bad Request"}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}connection: close\r\n\r\n${body}`
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
  const pingInterval = options.pingIntervalMs ?? 25_000
  const idleTimeout = options.idleTimeoutMs ?? 60_000
  const processId = randomUUID()
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 1024 * 1024 })
  const run = <A, E>(effect: Effect.Effect<A, E, Services>) => runtime.runPromise(effect)
  const quietly = (effect: Effect.Effect<unknown, unknown, Services>) => void run(effect).catch(() => undefined)

  const hub = makeHub<Conn>(
    {
      readLog: (teamId, after, limit) =>
        run(SyncLog.pipe(Effect.flatMap((log) => log.afterWithActors(teamId, after, limit)))),
      lastSeq: (teamId) => run(SyncLog.pipe(Effect.flatMap((log) => log.lastSeq(teamId)))),
      online: (teamId) => run(Presence.pipe(Effect.flatMap((p) => p.online(teamId)))),
      todayStats: (teamId) => run(Stats.pipe(Effect.flatMap((stats) => stats.today(teamId)))),
      member: (teamId, userId) =>
        run(TeamRepo.pipe(Effect.flatMap((r) => r.membership(teamId, userId)))).then((m) =>
          Option.isSome(m) ? { id: m.value.id, name: m.value.name } : null
        ),
      delivered: (count) => metrics.increment("mur_sync_events_delivered_total", count),
      logWarning: (message, error) => quietly(Effect.logWarning(message, error)),
      logError: (message, error) => quietly(Effect.logError(message, error))
    },
    { maxBufferedBytes: options.maxBufferedBytes ?? 1024 * 1024, slowConsumerMs: options.slowConsumerMs ?? 10_000 }
  )

  metrics.gauge("mur_websockets_open", () => hub.conns.size)

  // Each write and stat message is counted like the REST call it replaces: one call of the
  // user in the team (core's Limiter, the same windows as REST and every other entry point).
  const admit: Admit = (conn) =>
    run(
      Limiter.pipe(
        Effect.flatMap((limiter) => limiter.call(conn.userId, conn.teamId)),
        Effect.match({
          onSuccess: () => null,
          onFailure: (refused) => ({ message: refused.message, retryAfter: refused.retry_after })
        })
      )
    )

  const ctx: DispatchContext = {
    hub,
    send: (conn, message) => hub.send(conn, serverText(message)),
    admit,
    push: async (conn, event) => {
      const { results } = await run(
        Sync.pipe(Effect.flatMap((sync) => sync.push(conn.user, conn.active, conn.deviceId, [event])))
      )
      return results[0]!
    },
    recordStat: async (conn, stat) => {
      const result = await run(
        Stats.pipe(Effect.flatMap((stats) => stats.record(conn.user, conn.active.team.id, [stat])))
      )
      metrics.increment("mur_stats_ingested_total", result.accepted)
      return result.accepted === 1
    }
  }

  const feedFiber = runtime.runFork(
    ChangeFeed.pipe(
      Effect.flatMap((feed) => Stream.runForEach(feed.notices, (n) => Effect.sync(() => hub.onNotice(n)))),
      Effect.retry(Schedule.spaced("1 second")),
      Effect.forever
    )
  )

  // Catches up on anything a lost notice would have hidden, and keeps presence rows fresh.
  const heartbeat = setInterval(() => {
    const at = Date.now()
    for (const conn of hub.conns) {
      if (at - conn.lastSeen > idleTimeout) {
        hub.close(conn, 4000, "idle for too long")
        conn.ws.terminate()
        continue
      }
      try {
        conn.ws.ping()
      } catch {
        // closed meanwhile
      }
    }
    quietly(Presence.pipe(Effect.flatMap((p) => p.heartbeat(processId))))
    hub.checkHeads()
  }, pingInterval)
  heartbeat.unref()

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
        const limiter = yield* Limiter
        const principal = yield* auth.authenticate(token)
        const active = yield* teams.resolveActive(principal.user, named)
        // Opening a socket is a call like any other: a reconnect storm is refused with 429.
        yield* limiter.call(principal.user.id, active.team.id)
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
          if (e._tag === "RateLimited") return httpError(socket, 429, e.code, e.message, e.retry_after)
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
      teamId: active.team.id,
      userId: user.id,
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
    hub.add(conn)
    ws.on("message", (data, isBinary) => {
      conn.lastSeen = Date.now()
      if (isBinary) {
        ctx.send(conn, { type: "error", code: "invalid_message", message: "Binary messages are not supported" })
        return
      }
      // In order: a create and the update after it must not race each other to the team lock.
      const text = data.toString()
      if (++conn.waiting >= INBOX_LIMIT) ws.pause()
      conn.inbox = conn.inbox
        .then(() => {
          conn.lastSeen = Date.now()
          return dispatch(ctx, conn, text)
        })
        .catch((e) => {
          ctx.send(conn, { type: "error", code: "internal_error", message: "The message could not be handled" })
          quietly(Effect.logError("realtime message failed", e))
        })
        .finally(() => {
          if (--conn.waiting < INBOX_LIMIT && ws.isPaused) ws.resume()
        })
    })
    ws.on("pong", () => {
      conn.lastSeen = Date.now()
    })
    ws.on("close", () => {
      hub.remove(conn)
      quietly(Presence.pipe(Effect.flatMap((p) => p.leave(conn.id, active.team.id))))
    })
    ws.on("error", () => undefined)
    quietly(
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
    )
  }

  let closing: Promise<void> | undefined
  const close = () => {
    closing ??= shutdown()
    return closing
  }
  const shutdown = async () => {
    clearInterval(heartbeat)
    hub.stop()
    for (const conn of hub.conns) hub.close(conn, 1001, "server shutting down")
    await runtime.runPromise(Fiber.interrupt(feedFiber)).catch(() => undefined)
    await run(Presence.pipe(Effect.flatMap((p) => p.clear(processId)))).catch(() => undefined)
    await new Promise<void>((resolve) => wss.close(() => resolve()))
  }

  return { upgrade, connections: () => hub.conns.size, close }
}
