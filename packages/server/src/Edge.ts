/**
 * The edge of every request, in one place: request ids, the contract's error envelope
 * (whatever produced the error), body limit, rate limit of `/auth/*` (the core `Limiter`,
 * which every other entry point passes too), CORS, metrics,
 * and the plain-text routes that are not JSON (`/metrics`).
 */

import { randomUUID } from "node:crypto"
import { type HttpApp, HttpServerRequest, HttpServerResponse, OpenApi } from "@effect/platform"
import { RequestError } from "@effect/platform/HttpServerError"
import { Limiter, RequestInfo } from "@mur/core"
import { MurApi, RateLimited, Unavailable } from "@mur/domain"
import { Cause, Context, Effect, Option } from "effect"
import { dashboardResponse } from "./Dashboard.js"
import { devicePage } from "./DevicePage.js"
import type { Metrics } from "./Metrics.js"
import { routeLabel } from "./Metrics.js"

export interface EdgeState {
  readonly metrics: Metrics
  readonly bodyLimitBytes: number
  readonly corsOrigins: ReadonlyArray<string>
  /** True once shutdown has begun: new requests get 503. */
  readonly draining: () => boolean
}

export class Edge extends Context.Tag("@mur/server/Edge")<Edge, EdgeState>() {}

let openApiDocument: string | undefined
/** The OpenAPI document, generated from the HttpApi contract once. */
export const openApiJson = (): string => {
  openApiDocument ??= JSON.stringify(OpenApi.fromApi(MurApi))
  return openApiDocument
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

/** The 429 of a refused call: `Retry-After`, and the same seconds in the body. */
export const rateLimitedResponse = (error: RateLimited, requestId: string) =>
  HttpServerResponse.setHeader(
    errorResponse(429, "rate_limited", error.message, requestId, { retry_after: error.retry_after }),
    "retry-after",
    String(error.retry_after)
  )

/** An error response in the contract's envelope. */
export const errorResponse = (
  status: number,
  code: string,
  message: string,
  requestId: string,
  extra?: Record<string, unknown>
) => HttpServerResponse.unsafeJson({ error: { code, message, request_id: requestId, ...extra } }, { status })

/** One detail per field: a union's alternatives would otherwise each report on it. */
const decodeIssues = (issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>) => {
  const seen = new Set<string>()
  const out: Array<{ path: string; message: string }> = []
  for (const issue of issues) {
    const path = issue.path.map(String).join(".")
    if (seen.has(path)) continue
    seen.add(path)
    out.push({ path, message: issue.message })
  }
  return out
}

/**
 * Puts `request_id` into an error body and turns the framework's own decode error
 * into `invalid_request` with `details`. Runs on error responses only.
 */
const normalizeErrorBody = (response: HttpServerResponse.HttpServerResponse, requestId: string) => {
  if (response.body._tag !== "Uint8Array") return response
  let body: any
  try {
    body = JSON.parse(new TextDecoder().decode(response.body.body))
  } catch {
    return response
  }
  if (body && body._tag === "HttpApiDecodeError") {
    const details = decodeIssues(body.issues ?? [])
    const first = details[0]
    const message = first
      ? `Invalid request: ${first.path ? `${first.path}: ` : ""}${first.message}`
      : "Invalid request"
    return HttpServerResponse.unsafeJson(
      { error: { code: "invalid_request", message, request_id: requestId, details } },
      { status: 400, headers: response.headers }
    )
  }
  if (body && typeof body.error === "object" && body.error !== null) {
    body.error.request_id = requestId
    const json = HttpServerResponse.unsafeJson(body, { status: response.status, headers: response.headers })
    // A refusal of the Limiter, encoded by the contract's 429 schema: the seconds go in the header too.
    return response.status === 429 && typeof body.error.retry_after === "number"
      ? HttpServerResponse.setHeader(json, "retry-after", String(body.error.retry_after))
      : json
  }
  return response
}

const isConnectionFailure = (e: unknown): boolean => {
  const seen = new Set<unknown>()
  let cur: any = e
  while (cur && typeof cur === "object" && !seen.has(cur)) {
    seen.add(cur)
    const code = cur.code
    if (
      typeof code === "string" &&
      /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|57P0\d|3D000|08\d\d\d|53300|SQLITE_BUSY|SQLITE_CANTOPEN)$/.test(
        code
      )
    )
      return true
    if (
      typeof cur.message === "string" &&
      /Connection terminated|timeout exceeded when trying to connect/.test(cur.message)
    )
      return true
    cur = cur.cause
  }
  return false
}

/** Maps whatever escaped the API (unknown route, unreadable body, defects) to the envelope. */
const causeResponse = (cause: Cause.Cause<unknown>, requestId: string, method: string, url: string) => {
  const error = Cause.squash(cause)
  if (error instanceof RateLimited) return Effect.succeed(rateLimitedResponse(error, requestId))
  // A store beside the database that does not answer (the rate limiter's Redis).
  if (error instanceof Unavailable) {
    return Effect.as(
      Effect.logWarning("unavailable", cause),
      errorResponse(503, "unavailable", "A store the server needs is unavailable; try again shortly", requestId)
    )
  }
  if (error && typeof error === "object" && (error as any)._tag === "RouteNotFound") {
    return Effect.succeed(errorResponse(404, "not_found", `No route for ${method} ${url.split("?")[0]}`, requestId))
  }
  if (error instanceof RequestError) {
    if (error.cause instanceof Error && error.cause.message === "maxBytes exceeded") {
      return Effect.succeed(errorResponse(413, "payload_too_large", "The request body is too large", requestId))
    }
    if (error.reason === "Decode") {
      return Effect.succeed(errorResponse(400, "invalid_request", "The request body is not valid JSON", requestId))
    }
  }
  if (Cause.isInterruptedOnly(cause)) {
    return Effect.succeed(errorResponse(503, "unavailable", "The request was interrupted", requestId))
  }
  if (isConnectionFailure(error)) {
    return Effect.as(
      Effect.logWarning("database unavailable", cause),
      errorResponse(503, "unavailable", "The database is unavailable; try again shortly", requestId)
    )
  }
  return Effect.as(
    Effect.logError("unhandled error", cause),
    errorResponse(500, "internal_error", "Internal server error", requestId)
  )
}

const clientIp = (request: HttpServerRequest.HttpServerRequest): string | null =>
  Option.getOrNull(request.remoteAddress)

const corsHeaders = (origin: string | undefined, allowed: ReadonlyArray<string>): Record<string, string> | null => {
  if (origin === undefined || allowed.length === 0) return null
  if (!allowed.includes("*") && !allowed.includes(origin)) return null
  return {
    "access-control-allow-origin": allowed.includes("*") ? "*" : origin,
    "access-control-allow-credentials": "true",
    "access-control-expose-headers": "x-request-id, retry-after",
    vary: "Origin"
  }
}

/** Wraps the API app with the edge behaviour. */
export const edge = <E, R>(app: HttpApp.Default<E, R>) =>
  Effect.gen(function* () {
    const state = yield* Edge
    const limiter = yield* Limiter
    const request = yield* HttpServerRequest.HttpServerRequest
    const started = performance.now()
    const incoming = request.headers["x-request-id"]
    const requestId = incoming !== undefined && REQUEST_ID.test(incoming) ? incoming : randomUUID()
    const url = request.url
    const method = request.method
    let matched = true

    const respond = Effect.gen(function* () {
      const cors = corsHeaders(request.headers.origin, state.corsOrigins)
      if (method === "OPTIONS" && cors !== null) {
        return HttpServerResponse.empty({
          status: 204,
          headers: {
            ...cors,
            "access-control-allow-methods": "GET, POST, PUT, DELETE, OPTIONS",
            "access-control-allow-headers": "authorization, content-type, x-request-id, x-team",
            "access-control-max-age": "600"
          }
        })
      }
      if (state.draining() && !url.startsWith("/healthz")) {
        return HttpServerResponse.setHeader(
          errorResponse(503, "unavailable", "The server is shutting down", requestId),
          "connection",
          "close"
        )
      }
      if (url === "/metrics") {
        return HttpServerResponse.text(state.metrics.render(), {
          contentType: "text/plain; version=0.0.4; charset=utf-8"
        })
      }
      if (method === "GET" && (url === "/device" || url.startsWith("/device?"))) {
        return HttpServerResponse.text(devicePage, { contentType: "text/html; charset=utf-8" })
      }
      if (method === "GET" && !url.startsWith("/api/")) {
        const page = dashboardResponse(url.split("?")[0]!)
        if (page !== undefined) return page
      }
      if (url === "/openapi.json") {
        return HttpServerResponse.text(openApiJson(), { contentType: "application/json" })
      }
      const length = Number(request.headers["content-length"] ?? 0)
      if (length > state.bodyLimitBytes) {
        return errorResponse(
          413,
          "payload_too_large",
          `The request body is over ${state.bodyLimitBytes} bytes`,
          requestId,
          {
            details: [{ path: "", message: `limit is ${state.bodyLimitBytes} bytes` }]
          }
        )
      }
      if (url.startsWith("/auth/")) {
        const refused = yield* limiter.anonymous(clientIp(request) ?? "unknown").pipe(Effect.flip, Effect.option)
        if (Option.isSome(refused)) return rateLimitedResponse(refused.value, requestId)
      }
      const info = { requestId, ip: clientIp(request), userAgent: request.headers["user-agent"] ?? null }
      let response = yield* app.pipe(
        Effect.provideService(RequestInfo, info),
        Effect.catchAllCause((cause) => {
          const error = Cause.squash(cause)
          if (error && typeof error === "object" && (error as any)._tag === "RouteNotFound") matched = false
          return causeResponse(cause, requestId, method, url)
        })
      )
      if (response.status >= 400) response = normalizeErrorBody(response, requestId)
      return cors === null ? response : HttpServerResponse.setHeaders(response, cors)
    })

    const response = yield* respond
    state.metrics.observeRequest(
      method,
      routeLabel(url, matched),
      response.status,
      (performance.now() - started) / 1000
    )
    return HttpServerResponse.setHeader(response, "x-request-id", requestId)
  })
