/**
 * The typed HTTP client, derived from the `MurApi` contract: every endpoint is a method
 * whose input and output types (and error types) come from the same schemas the server
 * uses. No hand-written fetch calls.
 */
import { FetchHttpClient, HttpApiClient, HttpClient, HttpClientRequest } from "@effect/platform"
import { MurApi } from "@mur/domain"
import { Effect, type Layer } from "effect"

export interface ClientOptions {
  readonly baseUrl: string
  /** Bearer credential: an access token or an API key; read before every request. */
  readonly token?: () => string | undefined
  /** Active team (id or slug) for team-scoped routes (`X-Team`). */
  readonly team?: () => string | undefined
}

/** The derived client as an Effect; needs an `HttpClient` (e.g. `FetchHttpClient.layer`). */
export const makeMurClient = (options: ClientOptions) =>
  HttpApiClient.make(MurApi, {
    baseUrl: options.baseUrl,
    transformClient: HttpClient.mapRequest((request) => {
      const token = options.token?.()
      const team = options.team?.()
      let r = token ? HttpClientRequest.bearerToken(request, token) : request
      if (team) r = HttpClientRequest.setHeader(r, "x-team", team)
      return r
    })
  })

export type MurClient = Effect.Effect.Success<ReturnType<typeof makeMurClient>>

/** The fetch-based `HttpClient` for Node 20+ and browsers. */
export const FetchLayer: Layer.Layer<HttpClient.HttpClient> = FetchHttpClient.layer

/** Convenience for non-Effect callers: the client with fetch provided. */
export const createMurClient = (options: ClientOptions): Promise<MurClient> =>
  Effect.runPromise(makeMurClient(options).pipe(Effect.provide(FetchLayer)))
