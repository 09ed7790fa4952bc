import { Effect, Either, Exit } from "effect"
import { describe, expect, it } from "vitest"
import * as Policy from "./Policy.js"

const admin = { role: "admin" } as const
const member = { role: "member" } as const
const team = { slug: "team-a" }
const teamActions = (Object.keys(Policy.ACTIONS) as Array<Policy.Action>).filter(
  (a): a is Policy.TeamAction => Policy.ACTIONS[a].rule === "member" || Policy.ACTIONS[a].rule === "team_admin"
)

const failure = <E>(effect: Effect.Effect<unknown, E>) => {
  const exit = Effect.runSyncExit(effect)
  return Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error : undefined
}

describe("Policy", () => {
  it("lets an admin do every team action, and a member exactly the member ones", () => {
    for (const act of teamActions) {
      expect(Either.isRight(Policy.check(admin, act)), act).toBe(true)
      expect(Either.isRight(Policy.check(member, act)), act).toBe(Policy.ACTIONS[act].rule === "member")
    }
  })

  it("refuses every team-admin action with the one refusal of its rule", () => {
    const { refusal } = Policy.RULES.team_admin
    for (const act of teamActions.filter((a) => Policy.ACTIONS[a].rule === "team_admin")) {
      for (const principal of [member, null]) {
        const error = failure(Policy.require(principal, act))
        expect(error, act).toMatchObject({ _tag: "Forbidden", code: refusal.code, message: refusal.message })
      }
    }
  })

  it("opens /admin/* to server admins only, with the 404 of a missing route", () => {
    expect(Exit.isSuccess(Effect.runSyncExit(Policy.requireServerAdmin({ serverAdmin: true })))).toBe(true)
    const { refusal } = Policy.RULES.server_admin
    expect(failure(Policy.requireServerAdmin({ serverAdmin: false }))).toMatchObject({
      _tag: "NotFound",
      code: refusal.code,
      message: refusal.message
    })
  })

  it("refuses a server admin's act on their own account over HTTP only", () => {
    const { refusal } = Policy.GUARDS.not_self_over_http
    expect(failure(Policy.requireNotSelf({ userId: "u1", via: "http" }, "u1"))).toMatchObject({
      _tag: "Forbidden",
      code: refusal.code,
      message: refusal.message
    })
    expect(failure(Policy.requireNotSelf({ userId: "u1", via: "http" }, "u2"))).toBeUndefined()
    expect(failure(Policy.requireNotSelf({ userId: null, via: "cli" }, "u1"))).toBeUndefined()
  })

  it("keeps an admin in a team with other members, and never demotes the only admin", () => {
    const guard = (role: "admin" | "member", change: "demote" | "leave", admins: number, members: number) =>
      failure(
        Policy.requireAnAdminLeft(team, { role }, change, {
          admins: Effect.succeed(admins),
          members: Effect.succeed(members)
        })
      )
    const refused = {
      _tag: "Conflict",
      code: "last_admin",
      message: "Team team-a would be left without an admin; promote someone first"
    }
    expect(guard("admin", "leave", 1, 2)).toMatchObject(refused)
    expect(guard("admin", "leave", 1, 1)).toBeUndefined() // the last member may go
    expect(guard("admin", "leave", 2, 3)).toBeUndefined()
    expect(guard("admin", "demote", 1, 1)).toMatchObject(refused)
    expect(guard("admin", "demote", 2, 2)).toBeUndefined()
    expect(guard("member", "leave", 1, 2)).toBeUndefined()
    expect(Policy.roleChange("admin", "member")).toBe("demote")
    expect(Policy.roleChange("member", "admin")).toBe("promote")
    expect(Policy.roleChange("member", "member")).toBe("none")
  })

  it("shows a pattern to its team, and a public one to anyone", () => {
    const a = { team: { id: "a" } }
    const b = { team: { id: "b" } }
    expect(Policy.maySeePattern(a, { team_id: "a", is_public: false })).toBe(true)
    expect(Policy.maySeePattern(b, { team_id: "a", is_public: false })).toBe(false)
    expect(Policy.maySeePattern(null, { team_id: "a", is_public: false })).toBe(false)
    expect(Policy.maySeePattern(null, { team_id: "a", is_public: true })).toBe(true)
  })
})
