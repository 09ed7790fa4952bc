/**
 * A connection to the configured server through the client derived from the contract
 * (`@mur/client`), with the saved credentials. Expired access tokens are refreshed on the
 * way (before a call when `expires_at` has passed, and after a 401 `token_expired`), and
 * the rotated pair is saved at once; only a refused refresh makes the user log in again.
 */
import { FetchLayer, type MurClient, makeMurClient } from "@mur/client"
import { Duration, Effect } from "effect"
import { bearerOf, type Credentials, loadCredentials, saveCredentials } from "./AuthStore.js"
import { Cli } from "./Cli.js"
import { loadConfig } from "./Config.js"
import { attempt, CliError, errorMessage, failure, notLoggedIn, unreachable } from "./errors.js"

/** How long one request may take before the server counts as unreachable. */
const REQUEST_TIMEOUT = Duration.seconds(30)
/** Refresh this long before the access token's expiry, so it does not expire in flight. */
const EXPIRY_MARGIN_MS = 30_000

export interface Session {
  readonly baseUrl: string
  /** The active team: the global `--team`, else `server.team` from config.yaml. */
  readonly team: string | undefined
  readonly credentials: () => Credentials | undefined
  readonly client: MurClient
  /** Runs a call with fresh credentials; errors stay as they are (the contract's classes, or CliError). */
  readonly raw: <A, E>(f: (client: MurClient) => Effect.Effect<A, E>) => Effect.Effect<A, E | CliError>
  /** Runs a call with fresh credentials; every error becomes a CliError. */
  readonly call: <A, E>(f: (client: MurClient) => Effect.Effect<A, E>) => Effect.Effect<A, CliError>
  /** Uses these credentials from now on, without saving them (to check them first). */
  readonly use: (credentials: Credentials | undefined) => void
  /** Uses these credentials from now on and saves them to auth.json. */
  readonly login: (credentials: Credentials) => Effect.Effect<void, CliError>
}

export interface SessionOptions {
  /** No (or other-server) credentials fail with exit 3. */
  readonly requireLogin: boolean
  /** Ignore saved credentials (for the login calls themselves). */
  readonly anonymous?: boolean
  /** Per-request time limit (default 30 s). */
  readonly timeout?: Duration.DurationInput
}

const hasTag = (e: unknown, tag: string): e is { _tag: string; code?: string; message?: string } =>
  typeof e === "object" && e !== null && (e as { _tag?: unknown })._tag === tag

/** Maps whatever a call failed with to the CliError (and exit code) the user sees. */
export const toCliError =
  (baseUrl: string) =>
  (e: unknown): CliError => {
    if (e instanceof CliError) return e
    const tagged = e as { _tag?: string; code?: string; message?: string; reason?: string; response?: any }
    switch (tagged._tag) {
      case "RequestError":
        return unreachable(`cannot reach the server at ${baseUrl} (${causeText(e)})`)
      case "TimeoutException":
        return unreachable(`the server at ${baseUrl} did not answer in time`)
      case "ResponseError": {
        const status: number = tagged.response?.status ?? 0
        if (status === 502 || status === 503 || status === 504)
          return unreachable(`the server at ${baseUrl} is unavailable (HTTP ${status})`)
        if (status === 401) return notLoggedIn("the server refused the credentials: run `mur login`")
        if (status === 429)
          return failure("too many requests: the server asks to slow down, try again later", "rate_limited")
        if (status === 404)
          return failure(
            `the server at ${baseUrl} does not know this request (HTTP 404): is it a mur-server?`,
            "not_found"
          )
        return failure(`unexpected answer from the server (HTTP ${status})`, "bad_response")
      }
      case "ParseError":
        return failure(`unexpected answer from the server: ${errorMessage(e).split("\n")[0]}`, "bad_response")
      case "Unauthorized":
        if (tagged.code === "invalid_credentials") return failure("wrong email or password", "invalid_credentials")
        return notLoggedIn(
          tagged.code === "token_expired" || tagged.code === "token_reused"
            ? "your login has expired: run `mur login`"
            : "the server refused the credentials: run `mur login`",
          tagged.code ?? "unauthorized"
        )
      case "Unavailable":
        return unreachable(`the server at ${baseUrl} is unavailable: ${tagged.message}`)
      case "InvalidRequest": {
        if (/x-team/i.test(JSON.stringify(e))) {
          return failure(
            "you are in several teams: pick one with --team SLUG or `mur config set server.team SLUG`",
            "team_required"
          )
        }
        const details = (e as { details?: ReadonlyArray<{ path: string; message: string }> }).details
        const extra = details?.length
          ? ` (${details.map((d) => (d.path ? `${d.path}: ${d.message}` : d.message)).join("; ")})`
          : ""
        return failure(`${tagged.message}${extra}`, tagged.code ?? "invalid_request")
      }
    }
    if (typeof tagged.code === "string" && typeof tagged.message === "string")
      return failure(tagged.message, tagged.code)
    return failure(errorMessage(e))
  }

const causeText = (e: unknown): string => {
  let cause: any = (e as { cause?: unknown }).cause
  while (cause?.cause) cause = cause.cause
  return cause?.code ?? cause?.message ?? (e as { description?: string }).description ?? "no answer"
}

/**
 * Opens a session on the configured server. With `requireLogin`, missing credentials fail
 * with exit 3. Credentials saved for another server URL are still offered (the server
 * refuses them if they are not its own): moving a server to a new port keeps the login.
 */
export const openSession = (options: SessionOptions) =>
  Effect.gen(function* () {
    const cli = yield* Cli
    const config = yield* attempt(() => loadConfig(cli.home.config))
    let credentials = options.anonymous ? undefined : yield* attempt(() => loadCredentials(cli.home.auth))
    if (options.requireLogin && credentials === undefined) return yield* notLoggedIn()
    const baseUrl = config.server.url
    if (!baseUrl) return yield* failure("no server configured: run `mur config server <url>` first", "no_server")
    const team = cli.team ?? config.server.team
    const client = yield* makeMurClient({
      baseUrl,
      token: () => (credentials ? bearerOf(credentials) : undefined),
      team: () => team
    }).pipe(Effect.provide(FetchLayer))
    const mapError = toCliError(baseUrl)
    const timed = <A, E>(effect: Effect.Effect<A, E>) =>
      effect.pipe(
        Effect.timeoutFail({
          duration: options.timeout ?? REQUEST_TIMEOUT,
          onTimeout: () => unreachable(`the server at ${baseUrl} did not answer in time`)
        })
      )

    const save = (next: Credentials) =>
      attempt(() => {
        credentials = next
        saveCredentials(cli.home.auth, { ...next, server: baseUrl })
      }, "cannot save auth.json")

    const refresh = Effect.gen(function* () {
      const current = credentials
      if (current?.kind !== "tokens") return yield* notLoggedIn("your login has expired: run `mur login`")
      const pair = yield* timed(client.auth.refresh({ payload: { refresh_token: current.refresh_token } })).pipe(
        Effect.mapError((e) =>
          hasTag(e, "Unauthorized")
            ? notLoggedIn("your login has expired: run `mur login`", "login_expired")
            : mapError(e)
        )
      )
      yield* save({
        ...current,
        access_token: pair.access_token,
        refresh_token: pair.refresh_token,
        expires_at: new Date(Date.now() + pair.expires_in * 1000).toISOString()
      })
    })

    const ensureFresh = Effect.suspend(() =>
      credentials?.kind === "tokens" && Date.parse(credentials.expires_at) - EXPIRY_MARGIN_MS <= Date.now()
        ? refresh
        : Effect.void
    )

    /** One call; a 429 is waited out (its Retry-After, at most a minute) and tried again, up to 3 times. */
    const once = <A, E>(f: (client: MurClient) => Effect.Effect<A, E>, retries = 3): Effect.Effect<A, E | CliError> =>
      timed(Effect.suspend(() => f(client))).pipe(
        Effect.catchIf(
          (e): e is E | CliError => retries > 0 && hasTag(e, "ResponseError") && (e as any).response?.status === 429,
          (e) => {
            const header = Number((e as any).response?.headers?.["retry-after"])
            const seconds = Number.isFinite(header) && header > 0 ? Math.min(header, 60) : 5
            cli.out.note(`the server asks to slow down: trying again in ${seconds} s`)
            return Effect.sleep(Duration.seconds(seconds)).pipe(Effect.zipRight(once(f, retries - 1)))
          }
        )
      )

    const raw = <A, E>(f: (client: MurClient) => Effect.Effect<A, E>): Effect.Effect<A, E | CliError> =>
      ensureFresh.pipe(
        Effect.zipRight(once(f)),
        Effect.catchIf(
          (e): e is E =>
            hasTag(e, "Unauthorized") && e.code !== "invalid_credentials" && credentials?.kind === "tokens",
          () => refresh.pipe(Effect.zipRight(once(f)))
        )
      )

    const session: Session = {
      baseUrl,
      team,
      credentials: () => credentials,
      client,
      raw,
      call: (f) => raw(f).pipe(Effect.mapError(mapError)),
      use: (next) => {
        credentials = next
      },
      login: save
    }
    return session
  })
