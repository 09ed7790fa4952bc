/**
 * The HTTP contract (`spec/API.md`) as an `HttpApi`: the server implements it, the client
 * SDK is derived from it, and the OpenAPI document is generated from it.
 */
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiMiddleware, HttpApiSecurity, OpenApi } from "@effect/platform"
import { Context, Schema } from "effect"
import { LoginRequest, LoginResponse, MeResponse, RefreshRequest, RegisterRequest, Success, TokenPair } from "./auth.js"
import {
  ConflictError,
  ForbiddenError,
  InternalErrorError,
  InvalidRequestError,
  PayloadTooLargeError,
  UnauthorizedError,
  UnavailableError
} from "./errors.js"
import type { UserId } from "./ids.js"
import type { User } from "./models.js"

/** Who is calling: provided by the `Authentication` middleware to every `/api/*` handler. */
export class CurrentUser extends Context.Tag("@mur/domain/CurrentUser")<
  CurrentUser,
  {
    readonly user: User
    readonly userId: UserId
    /** The login (refresh-token family) of an access token; null for an API key. */
    readonly sessionId: string | null
    readonly apiKeyId: string | null
  }
>() {}

/** Bearer authentication for `/api/*`: an access token (JWT) or an API key (`mur_…`). */
export class Authentication extends HttpApiMiddleware.Tag<Authentication>()("@mur/domain/Authentication", {
  failure: UnauthorizedError,
  provides: CurrentUser,
  security: { bearer: HttpApiSecurity.bearer }
}) {}

export const HealthStatus = Schema.Struct({ status: Schema.String })

export class HealthApi extends HttpApiGroup.make("health")
  .add(HttpApiEndpoint.get("healthz", "/healthz").addSuccess(HealthStatus).addError(UnavailableError))
  .add(HttpApiEndpoint.get("readyz", "/readyz").addSuccess(HealthStatus).addError(UnavailableError)) {}

export class AuthApi extends HttpApiGroup.make("auth")
  .add(
    HttpApiEndpoint.post("register", "/auth/register")
      .setPayload(RegisterRequest)
      .addSuccess(LoginResponse, { status: 201 })
      .addError(ConflictError)
      .addError(ForbiddenError)
  )
  .add(
    HttpApiEndpoint.post("login", "/auth/login")
      .setPayload(LoginRequest)
      .addSuccess(LoginResponse)
      .addError(UnauthorizedError)
  )
  .add(
    HttpApiEndpoint.post("refresh", "/auth/refresh")
      .setPayload(RefreshRequest)
      .addSuccess(TokenPair)
      .addError(UnauthorizedError)
  )
  .add(
    HttpApiEndpoint.post("logout", "/auth/logout")
      .setPayload(RefreshRequest)
      .addSuccess(Success)
      .addError(UnauthorizedError)
  ) {}

export class MeApi extends HttpApiGroup.make("me")
  .add(HttpApiEndpoint.get("me", "/api/me").addSuccess(MeResponse))
  .middleware(Authentication) {}

export class MurApi extends HttpApi.make("mur")
  .add(HealthApi)
  .add(AuthApi)
  .add(MeApi)
  .addError(InvalidRequestError)
  .addError(PayloadTooLargeError)
  .addError(UnavailableError)
  .addError(InternalErrorError)
  .annotateContext(
    OpenApi.annotations({
      title: "mur-server",
      description:
        "The team server for mur. Errors are always {error: {code, message, request_id, details?}}; see spec/API.md."
    })
  ) {}
