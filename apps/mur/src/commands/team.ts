/** `mur team create|invite|join|members|leave` (`team stats` is `mur stats --team`). */
import { Effect, Option } from "effect"
import { resolveTeam } from "../ActiveTeam.js"
import { Cli } from "../Cli.js"
import { usageError } from "../errors.js"
import { openSession } from "../Session.js"

export const teamCreate = (args: { readonly name: string }) =>
  Effect.gen(function* () {
    const { out } = yield* Cli
    const name = args.name.trim()
    if (name === "") return yield* usageError("the team needs a name")
    const session = yield* openSession({ requireLogin: true })
    const { team } = yield* session.call((c) => c.team.create({ payload: { name } }))
    out.result(`Created team ${team.name} (slug: ${team.slug}); you are its admin.`, { team })
  })

export const teamInvite = (args: { readonly email: string; readonly role: Option.Option<"admin" | "member"> }) =>
  Effect.gen(function* () {
    const { out } = yield* Cli
    const session = yield* openSession({ requireLogin: true })
    const answer = yield* session.call((c) =>
      c.team.invite({
        payload: { email: args.email, ...(Option.isSome(args.role) ? { role: args.role.value } : {}) }
      })
    )
    // The code alone on stdout, so `CODE=$(mur team invite x@y)` works; the rest on stderr.
    if (!out.json)
      out.note(`Invite for ${args.email} (valid until ${answer.expires_at}); they run: mur team join <code>`)
    out.result(answer.invite_code, { invite_code: answer.invite_code, expires_at: answer.expires_at })
  })

export const teamJoin = (args: { readonly code: string }) =>
  Effect.gen(function* () {
    const { out } = yield* Cli
    const code = args.code.trim()
    if (code === "") return yield* usageError("give the invite code")
    const session = yield* openSession({ requireLogin: true })
    const { team } = yield* session.call((c) => c.team.join({ payload: { invite_code: code } }))
    out.result(`Joined team ${team.name} (slug: ${team.slug}).`, { team })
  })

export const teamMembers = Effect.gen(function* () {
  const { out } = yield* Cli
  const session = yield* openSession({ requireLogin: true })
  const { team, members } = yield* session.call((c) => c.team.get())
  const width = Math.max(5, ...members.map((m) => m.email.length))
  const lines = [
    `${team.name} (${team.slug}): ${members.length} member${members.length === 1 ? "" : "s"}`,
    ...members.map((m) => `  ${m.email.padEnd(width)}  ${m.role.padEnd(6)}  ${m.name}`)
  ]
  out.result(lines, { members })
})

export const teamLeave = Effect.gen(function* () {
  const { out } = yield* Cli
  const session = yield* openSession({ requireLogin: true })
  const { team } = yield* resolveTeam(session)
  // The server acts on the same team: the one named by --team, or the only one.
  yield* session.call((c) => c.team.leave())
  out.result(`Left team ${team.name} (${team.slug}).`, { success: true, team })
})
