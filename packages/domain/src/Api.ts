/**
 * The HTTP contract (`spec/API.md`) as an `HttpApi`: the server implements it, the client
 * SDK is derived from it, and the OpenAPI document is generated from it.
 */
import {
  HttpApi,
  HttpApiEndpoint,
  HttpApiGroup,
  HttpApiMiddleware,
  HttpApiSchema,
  HttpApiSecurity,
  OpenApi
} from "@effect/platform"
import { Context, Schema } from "effect"
import {
  AdminCreateUserRequest,
  AdminListParams,
  AdminResetPasswordRequest,
  AdminTeamDetail,
  AdminTeamIdParam,
  AdminTeamList,
  AdminTeamResponse,
  AdminUpdateTeamRequest,
  AdminUpdateUserRequest,
  AdminUserIdParam,
  AdminUserList,
  AdminUserResponse
} from "./admin.js"
import { AuditList, ListAuditParams } from "./audit.js"
import {
  LoginRequest,
  LoginResponse,
  MeResponse,
  RefreshRequest,
  RegisterRequest,
  SetPasswordRequest,
  Success,
  TokenPair
} from "./auth.js"
import {
  ConflictError,
  ForbiddenError,
  InternalErrorError,
  InvalidRequestError,
  NotFoundError,
  PayloadTooLargeError,
  RateLimitedError,
  UnauthorizedError,
  UnavailableError,
  VersionConflictError
} from "./errors.js"
import type { UserId } from "./ids.js"
import {
  CreateKeyRequest,
  CreateKeyResponse,
  DeviceApproveRequest,
  DeviceCodeRequest,
  DeviceCodeResponse,
  DeviceTokenRequest,
  KeyIdParam,
  KeyList
} from "./keys.js"
import type { User } from "./models.js"
import {
  CreatePatternRequest,
  ListPatternsParams,
  PatternIdParam,
  PatternList,
  PatternResponse,
  PatternVersions,
  RestoreRequest,
  UpdatePatternRequest,
  UseResponse
} from "./patterns.js"
import {
  ExportParams,
  LeaderboardParams,
  LeaderboardResponse,
  MyStatsResponse,
  RecordStatsRequest,
  RecordStatsResponse,
  StatsRangeParams,
  TeamStatsResponse
} from "./stats.js"
import { PullParams, PullResponse, PushRequest, PushResponse, SnapshotResponse, SyncStatus } from "./sync.js"
import {
  CreateTeamRequest,
  InviteRequest,
  InviteResponse,
  JoinRequest,
  MemberIdParam,
  MemberResponse,
  RoleRequest,
  TeamResponse,
  TeamWithMembers,
  UpdateTeamRequest
} from "./teams.js"

/** Who is calling: provided by the `Authentication` middleware to every `/api/*` handler. */
export class CurrentUser extends Context.Tag("@mur/domain/CurrentUser")<
  CurrentUser,
  {
    readonly user: User
    readonly userId: UserId
    /** The login (refresh-token family) of an access token; null for an API key. */
    readonly sessionId: string | null
    readonly apiKeyId: string | null
    /** Holds the server-admin role. */
    readonly serverAdmin: boolean
  }
>() {}

/** Bearer authentication for `/api/*`: an access token (JWT) or an API key (`mur_…`). */
export class Authentication extends HttpApiMiddleware.Tag<Authentication>()("@mur/domain/Authentication", {
  failure: UnauthorizedError,
  provides: CurrentUser,
  security: { bearer: HttpApiSecurity.bearer }
}) {}

/**
 * The server-admin role for `/admin/*`: anyone else (anonymous, a bad token, a user without
 * the role) gets 404, so the routes do not show they exist.
 */
export class AdminAuthentication extends HttpApiMiddleware.Tag<AdminAuthentication>()(
  "@mur/domain/AdminAuthentication",
  {
    failure: NotFoundError,
    provides: CurrentUser,
    security: { bearer: HttpApiSecurity.bearer }
  }
) {}

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
      .addError(ForbiddenError)
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
  )
  .add(HttpApiEndpoint.post("setPassword", "/auth/password").setPayload(SetPasswordRequest).addSuccess(Success)) {}

/** Device login for command-line tools (RFC 8628 shape). */
export class DeviceApi extends HttpApiGroup.make("device")
  .add(HttpApiEndpoint.post("code", "/auth/device/code").setPayload(DeviceCodeRequest).addSuccess(DeviceCodeResponse))
  .add(HttpApiEndpoint.post("token", "/auth/device/token").setPayload(DeviceTokenRequest).addSuccess(LoginResponse)) {}

/** The logged-in side of device login, and API keys. */
export class KeysApi extends HttpApiGroup.make("keys")
  .add(
    HttpApiEndpoint.post("approveDevice", "/api/device/approve").setPayload(DeviceApproveRequest).addSuccess(Success)
  )
  .add(
    HttpApiEndpoint.post("create", "/api/keys")
      .setPayload(CreateKeyRequest)
      .addSuccess(CreateKeyResponse, { status: 201 })
  )
  .add(HttpApiEndpoint.get("list", "/api/keys").addSuccess(KeyList))
  .add(HttpApiEndpoint.del("revoke", "/api/keys/:id").setPath(KeyIdParam).addSuccess(Success))
  .addError(NotFoundError)
  .middleware(Authentication) {}

export class MeApi extends HttpApiGroup.make("me")
  .add(HttpApiEndpoint.get("me", "/api/me").addSuccess(MeResponse))
  .middleware(Authentication) {}

/**
 * Team-scoped routes act on the caller's active team: the only one they belong to, or the
 * one named by the `X-Team` header (id or slug).
 */
export class TeamApi extends HttpApiGroup.make("team")
  .add(
    HttpApiEndpoint.post("create", "/api/team").setPayload(CreateTeamRequest).addSuccess(TeamResponse, { status: 201 })
  )
  .add(HttpApiEndpoint.get("get", "/api/team").addSuccess(TeamWithMembers))
  .add(HttpApiEndpoint.put("update", "/api/team").setPayload(UpdateTeamRequest).addSuccess(TeamResponse))
  .add(
    HttpApiEndpoint.post("invite", "/api/team/invite")
      .setPayload(InviteRequest)
      .addSuccess(InviteResponse, { status: 201 })
  )
  .add(HttpApiEndpoint.post("join", "/api/team/join").setPayload(JoinRequest).addSuccess(TeamResponse))
  .add(
    HttpApiEndpoint.put("setRole", "/api/team/members/:id")
      .setPath(MemberIdParam)
      .setPayload(RoleRequest)
      .addSuccess(MemberResponse)
  )
  .add(HttpApiEndpoint.del("removeMember", "/api/team/members/:id").setPath(MemberIdParam).addSuccess(Success))
  .add(HttpApiEndpoint.post("leave", "/api/team/leave").addSuccess(Success))
  .addError(NotFoundError)
  .addError(ForbiddenError)
  .addError(ConflictError)
  .middleware(Authentication) {}

export class PatternsApi extends HttpApiGroup.make("patterns")
  .add(HttpApiEndpoint.get("list", "/api/patterns").setUrlParams(ListPatternsParams).addSuccess(PatternList))
  .add(HttpApiEndpoint.get("get", "/api/patterns/:id").setPath(PatternIdParam).addSuccess(PatternResponse))
  .add(
    HttpApiEndpoint.post("create", "/api/patterns")
      .setPayload(CreatePatternRequest)
      .addSuccess(PatternResponse, { status: 201 })
  )
  .add(
    HttpApiEndpoint.put("update", "/api/patterns/:id")
      .setPath(PatternIdParam)
      .setPayload(UpdatePatternRequest)
      .addSuccess(PatternResponse)
  )
  .add(HttpApiEndpoint.del("delete", "/api/patterns/:id").setPath(PatternIdParam).addSuccess(Success))
  .add(HttpApiEndpoint.post("use", "/api/patterns/:id/use").setPath(PatternIdParam).addSuccess(UseResponse))
  .add(
    HttpApiEndpoint.get("versions", "/api/patterns/:id/versions").setPath(PatternIdParam).addSuccess(PatternVersions)
  )
  .add(
    HttpApiEndpoint.post("restore", "/api/patterns/:id/restore")
      .setPath(PatternIdParam)
      .setPayload(RestoreRequest)
      .addSuccess(PatternResponse)
  )
  .addError(NotFoundError)
  .addError(ForbiddenError)
  .addError(ConflictError)
  .addError(VersionConflictError)
  .middleware(Authentication) {}

export class SyncApi extends HttpApiGroup.make("sync")
  .add(HttpApiEndpoint.post("push", "/api/sync/push").setPayload(PushRequest).addSuccess(PushResponse))
  .add(HttpApiEndpoint.get("pull", "/api/sync/pull").setUrlParams(PullParams).addSuccess(PullResponse))
  .add(HttpApiEndpoint.get("snapshot", "/api/sync/snapshot").addSuccess(SnapshotResponse))
  .add(HttpApiEndpoint.get("status", "/api/sync/status").addSuccess(SyncStatus))
  .addError(NotFoundError)
  .middleware(Authentication) {}

export class AuditApi extends HttpApiGroup.make("audit")
  .add(HttpApiEndpoint.get("list", "/api/audit").setUrlParams(ListAuditParams).addSuccess(AuditList))
  .addError(NotFoundError)
  .addError(ForbiddenError)
  .middleware(Authentication) {}

/**
 * Usage stats. Records belong to the caller and their active team (none when they are in
 * no team); `me` is the caller's own, across teams unless `X-Team` names one.
 */
export class StatsApi extends HttpApiGroup.make("stats")
  .add(
    HttpApiEndpoint.post("record", "/api/stats")
      .setPayload(RecordStatsRequest)
      .addSuccess(RecordStatsResponse, { status: 202 })
  )
  .add(HttpApiEndpoint.get("me", "/api/stats/me").setUrlParams(StatsRangeParams).addSuccess(MyStatsResponse))
  .add(HttpApiEndpoint.get("team", "/api/stats/team").setUrlParams(StatsRangeParams).addSuccess(TeamStatsResponse))
  .add(
    HttpApiEndpoint.get("leaderboard", "/api/stats/leaderboard")
      .setUrlParams(LeaderboardParams)
      .addSuccess(LeaderboardResponse)
  )
  .add(
    HttpApiEndpoint.get("export", "/api/stats/export")
      .setUrlParams(ExportParams)
      .addSuccess(HttpApiSchema.Text({ contentType: "text/csv" }))
  )
  .addError(NotFoundError)
  .addError(ForbiddenError)
  .middleware(Authentication) {}

/** Server administration: users, teams, plans and limits (server admins only). */
export class AdminApi extends HttpApiGroup.make("admin")
  .add(HttpApiEndpoint.get("listUsers", "/admin/users").setUrlParams(AdminListParams).addSuccess(AdminUserList))
  .add(
    HttpApiEndpoint.post("createUser", "/admin/users")
      .setPayload(AdminCreateUserRequest)
      .addSuccess(AdminUserResponse, { status: 201 })
  )
  .add(
    HttpApiEndpoint.patch("updateUser", "/admin/users/:id")
      .setPath(AdminUserIdParam)
      .setPayload(AdminUpdateUserRequest)
      .addSuccess(AdminUserResponse)
  )
  .add(
    HttpApiEndpoint.post("resetPassword", "/admin/users/:id/reset-password")
      .setPath(AdminUserIdParam)
      .setPayload(AdminResetPasswordRequest)
      .addSuccess(AdminUserResponse)
  )
  .add(HttpApiEndpoint.del("deleteUser", "/admin/users/:id").setPath(AdminUserIdParam).addSuccess(Success))
  .add(HttpApiEndpoint.get("listTeams", "/admin/teams").setUrlParams(AdminListParams).addSuccess(AdminTeamList))
  .add(HttpApiEndpoint.get("getTeam", "/admin/teams/:id").setPath(AdminTeamIdParam).addSuccess(AdminTeamDetail))
  .add(
    HttpApiEndpoint.patch("updateTeam", "/admin/teams/:id")
      .setPath(AdminTeamIdParam)
      .setPayload(AdminUpdateTeamRequest)
      .addSuccess(AdminTeamResponse)
  )
  .addError(NotFoundError)
  .addError(ForbiddenError)
  .addError(ConflictError)
  .middleware(AdminAuthentication) {}

export class MurApi extends HttpApi.make("mur")
  .add(HealthApi)
  .add(AuthApi)
  .add(DeviceApi)
  .add(MeApi)
  .add(KeysApi)
  .add(TeamApi)
  .add(PatternsApi)
  .add(SyncApi)
  .add(AuditApi)
  .add(StatsApi)
  .add(AdminApi)
  .addError(InvalidRequestError)
  .addError(PayloadTooLargeError)
  .addError(RateLimitedError)
  .addError(UnavailableError)
  .addError(InternalErrorError)
  .annotateContext(
    OpenApi.annotations({
      title: "mur-server",
      description:
        "The team server for mur. Errors are always {error: {code, message, request_id, details?}}; see spec/API.md."
    })
  ) {}
