/** Handlers of the team, pattern and audit routes: resolve the active team, call one service. */
import { HttpApiBuilder } from "@effect/platform"
import { AuditLog, Patterns, Sync, Teams } from "@mur/core"
import { CurrentUser, MurApi } from "@mur/domain"
import { Effect } from "effect"
import { actorOf, dieOnSql, makeActiveTeam, makeWithTeam } from "./HandlerSupport.js"

export const TeamLive = HttpApiBuilder.group(MurApi, "team", (handlers) =>
  Effect.gen(function* () {
    const teams = yield* Teams
    const withTeam = yield* makeWithTeam
    return handlers
      .handle("create", ({ payload }) =>
        Effect.flatMap(CurrentUser, ({ user }) => dieOnSql(teams.create(user, payload.name))).pipe(
          Effect.map((team) => ({ team }))
        )
      )
      .handle("get", ({ request }) => withTeam(request, (active) => teams.get(active)))
      .handle("update", ({ request, payload }) =>
        withTeam(request, (active, user) => Effect.map(teams.rename(user, active, payload.name), (team) => ({ team })))
      )
      .handle("invite", ({ request, payload }) =>
        withTeam(request, (active, user) => teams.invite(user, active, payload.email, payload.role ?? "member"))
      )
      .handle("join", ({ payload }) =>
        Effect.flatMap(CurrentUser, ({ user }) => dieOnSql(teams.join(user, payload.invite_code))).pipe(
          Effect.map((team) => ({ team }))
        )
      )
      .handle("setRole", ({ request, path, payload }) =>
        withTeam(request, (active, user) =>
          Effect.map(teams.setRole(user, active, path.id, payload.role), (member) => ({ member }))
        )
      )
      .handle("removeMember", ({ request, path }) =>
        withTeam(request, (active, user) =>
          Effect.as(teams.removeMember(user, active, path.id), { success: true as const })
        )
      )
      .handle("leave", ({ request }) =>
        withTeam(request, (active, user) => Effect.as(teams.leave(user, active), { success: true as const }))
      )
  })
)

export const PatternsLive = HttpApiBuilder.group(MurApi, "patterns", (handlers) =>
  Effect.gen(function* () {
    const patterns = yield* Patterns
    const activeTeam = yield* makeActiveTeam
    return handlers
      .handle("list", ({ request, urlParams }) =>
        urlParams.scope === "public"
          ? dieOnSql(patterns.list(null, urlParams))
          : Effect.flatMap(activeTeam(request), (active) => dieOnSql(patterns.list(active.team.id, urlParams)))
      )
      .handle("get", ({ request, path }) =>
        Effect.map(dieOnSql(patterns.get(path.id, activeTeam(request))), (pattern) => ({ pattern }))
      )
      .handle("create", ({ request, payload }) =>
        Effect.flatMap(activeTeam(request), (active) =>
          Effect.flatMap(actorOf, (actor) => dieOnSql(patterns.create(actor, active, payload)))
        ).pipe(Effect.map(({ pattern }) => ({ pattern })))
      )
      .handle("update", ({ request, path, payload }) =>
        Effect.flatMap(activeTeam(request), (active) =>
          Effect.flatMap(actorOf, (actor) => dieOnSql(patterns.update(actor, active, path.id, payload)))
        ).pipe(Effect.map(({ pattern }) => ({ pattern })))
      )
      .handle("delete", ({ request, path }) =>
        Effect.flatMap(activeTeam(request), (active) =>
          Effect.flatMap(actorOf, (actor) => dieOnSql(patterns.remove(actor, active, path.id)))
        ).pipe(Effect.as({ success: true as const }))
      )
      .handle("use", ({ request, path }) =>
        Effect.map(dieOnSql(patterns.use(path.id, activeTeam(request))), (usage_count) => ({
          success: true as const,
          usage_count
        }))
      )
      .handle("versions", ({ request, path }) =>
        Effect.flatMap(activeTeam(request), (active) => dieOnSql(patterns.versions(active, path.id))).pipe(
          Effect.map((versions) => ({ versions }))
        )
      )
      .handle("restore", ({ request, path, payload }) =>
        Effect.flatMap(activeTeam(request), (active) =>
          Effect.flatMap(actorOf, (actor) => dieOnSql(patterns.restore(actor, active, path.id, payload.version)))
        ).pipe(Effect.map(({ pattern }) => ({ pattern })))
      )
  })
)

export const AuditLive = HttpApiBuilder.group(MurApi, "audit", (handlers) =>
  Effect.gen(function* () {
    const audit = yield* AuditLog
    const activeTeam = yield* makeActiveTeam
    return handlers.handle("list", ({ request, urlParams }) =>
      Effect.flatMap(activeTeam(request), (active) => dieOnSql(audit.list(active, urlParams)))
    )
  })
)

export const SyncLive = HttpApiBuilder.group(MurApi, "sync", (handlers) =>
  Effect.gen(function* () {
    const sync = yield* Sync
    const withTeam = yield* makeWithTeam
    return handlers
      .handle("push", ({ request, payload }) =>
        withTeam(request, (active, user) => sync.push(user, active, payload.device_id, payload.events))
      )
      .handle("pull", ({ request, urlParams }) =>
        withTeam(request, (active, user) =>
          sync.pull(user, active, urlParams.after ?? 0, urlParams.limit ?? 500, urlParams.device_id)
        )
      )
      .handle("snapshot", ({ request }) => withTeam(request, (active) => sync.snapshot(active)))
      .handle("status", ({ request }) => withTeam(request, (active) => sync.status(active)))
  })
)
