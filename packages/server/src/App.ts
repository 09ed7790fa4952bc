/**
 * The mur-server HTTP app over the engine, in the two embeddable forms:
 * `createHandler` (a request handler to mount in your own `http.Server`) and
 * `startServer` (listens on its own port, drains on `close`).
 */

import type { IncomingMessage, Server, ServerResponse } from "node:http"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import type { Duplex } from "node:stream"
import { HttpApiBuilder } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Engine, Jobs } from "@mur/core"
import { MurApi } from "@mur/domain"
import { Effect, Layer, Logger, LogLevel, ManagedRuntime } from "effect"
import { AdminAuthenticationLive, AdminLive } from "./AdminHttp.js"
import { Edge, edge } from "./Edge.js"
import { AuthenticationLive, AuthLive, HealthLive, MeLive, Readiness } from "./Http.js"
import { DeviceLive, KeysLive } from "./KeysHttp.js"
import { Metrics } from "./Metrics.js"
import { makeRealtime } from "./realtime/Gateway.js"
import { resolved, type ServerOptions } from "./ServerOptions.js"
import { StatsLive } from "./StatsHttp.js"
import { AuditLive, PatternsLive, SyncLive, TeamLive } from "./TeamHttp.js"

export interface MurHandler {
  /** Node request listener: `http.createServer(handler)` or call it from your own router. */
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void
  /** Node `upgrade` listener for `/ws/sync`: `server.on("upgrade", upgrade)`. */
  readonly upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void
  /** Open WebSockets. */
  readonly connections: () => number
  readonly metrics: Metrics
  /** Marks the app ready (`/readyz` 200) or not. */
  readonly setReady: (ready: boolean) => void
  /** Starts draining: new requests get 503 `unavailable`. */
  readonly drain: () => void
  /** Closes every WebSocket with 1001 (going away). */
  readonly closeSockets: () => Promise<void>
  /** Closes the database and every resource of the app. */
  readonly close: () => Promise<void>
}

const logLevels = {
  trace: LogLevel.Trace,
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warning: LogLevel.Warning,
  error: LogLevel.Error,
  none: LogLevel.None
} as const

const loggerLayer = (options: ServerOptions) =>
  Layer.merge(
    Logger.replace(
      Logger.defaultLogger,
      Logger.withLeveledConsole(options.logFormat === "json" ? Logger.jsonLogger : Logger.logfmtLogger)
    ),
    Logger.minimumLogLevel(logLevels[options.logLevel ?? "info"])
  )

/** Builds the app: opens (and migrates) the database, then returns a request handler. */
export const createHandler = async (options: ServerOptions): Promise<MurHandler> => {
  const settings = resolved(options)
  const metrics = new Metrics()
  let draining = false
  const edgeLayer = Layer.succeed(Edge, {
    metrics,
    bodyLimitBytes: settings.bodyLimitBytes,
    corsOrigins: settings.corsOrigins,
    draining: () => draining
  })
  const apiLayer = HttpApiBuilder.api(MurApi).pipe(
    Layer.provide([
      HealthLive,
      AuthLive,
      DeviceLive,
      KeysLive,
      MeLive,
      TeamLive,
      PatternsLive,
      SyncLive,
      AuditLive,
      StatsLive,
      AdminLive
    ]),
    Layer.provide([AuthenticationLive, AdminAuthenticationLive])
  )
  // Background jobs run in the runtime's scope: disposing it interrupts a run (which rolls back).
  const jobsLayer =
    options.jobs?.enabled === false
      ? Layer.empty
      : Layer.scopedDiscard(Effect.forkScoped(Effect.flatMap(Jobs, (jobs) => jobs.schedule(options.jobs?.tickMs))))
  const appLayer = Layer.mergeAll(
    apiLayer,
    HttpApiBuilder.Router.Live,
    HttpApiBuilder.Middleware.layer,
    NodeHttpServer.layerContext,
    jobsLayer
  ).pipe(
    Layer.provideMerge(Layer.mergeAll(edgeLayer, Readiness.Default)),
    Layer.provideMerge(
      Engine.layer({
        database: options.database,
        config: { ...options.engine, rateLimits: settings.rateLimits },
        migrate: options.migrate,
        backup: options.backup
      })
    ),
    // Spans (one per request, one per query) cost more than the rest of a small request,
    // and nothing here exports them; an embedder that wants traces can turn this back on.
    Layer.provideMerge(Layer.setTracerEnabled(options.tracing ?? false)),
    Layer.provide(loggerLayer(options))
  )
  const runtime = ManagedRuntime.make(appLayer)
  try {
    const { handler, readiness } = await runtime.runPromise(
      Effect.gen(function* () {
        const app = yield* HttpApiBuilder.httpApp
        const handler = yield* NodeHttpServer.makeHandler(edge(app))
        const readiness = yield* Readiness
        return { handler, readiness }
      }).pipe(Effect.withTracerEnabled(options.tracing ?? false))
    )
    readiness.ready.current = true
    const realtime = makeRealtime(runtime as any, metrics, options.realtime)
    return {
      handler,
      upgrade: realtime.upgrade,
      closeSockets: realtime.close,
      connections: realtime.connections,
      metrics,
      setReady: (ready) => {
        readiness.ready.current = ready
      },
      drain: () => {
        draining = true
        readiness.ready.current = false
      },
      close: async () => {
        await realtime.close()
        await runtime.dispose()
      }
    }
  } catch (error) {
    await runtime.dispose().catch(() => undefined)
    throw error
  }
}

export interface RunningServer {
  readonly url: string
  readonly host: string
  readonly port: number
  readonly server: Server
  readonly app: MurHandler
  /** Stops accepting, finishes in-flight requests (up to `graceMs`), closes the database. */
  readonly close: (graceMs?: number) => Promise<void>
}

/** Starts mur-server on its own port (0 picks a free one). */
export const startServer = async (
  options: ServerOptions & { readonly port?: number; readonly host?: string }
): Promise<RunningServer> => {
  const app = await createHandler(options)
  const server = createServer({ keepAliveTimeout: 5_000 }, app.handler)
  server.on("upgrade", app.upgrade)
  const host = options.host ?? "127.0.0.1"
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject)
      server.listen(options.port ?? 8080, host, () => {
        server.off("error", reject)
        resolve()
      })
    })
  } catch (error) {
    await app.close()
    throw error
  }
  const port = (server.address() as AddressInfo).port
  const shownHost = host.includes(":") ? `[${host}]` : host
  let closing: Promise<void> | undefined
  const close = (graceMs = 10_000) =>
    (closing ??= (async () => {
      app.drain()
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      await app.closeSockets()
      server.closeIdleConnections()
      const timer = setTimeout(() => server.closeAllConnections(), graceMs)
      await closed
      clearTimeout(timer)
      await app.close()
    })())
  return { url: `http://${shownHost}:${port}`, host, port, server, app, close }
}
