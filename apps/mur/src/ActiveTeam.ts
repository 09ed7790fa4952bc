/**
 * The team a team-scoped command acts on: the global `--team SLUG` (or `server.team` from
 * config.yaml), else the user's only team.
 */
import type { Team } from "@mur/domain"
import { Effect } from "effect"
import { failure } from "./errors.js"
import type { Session } from "./Session.js"

export const resolveTeam = (session: Session) =>
  Effect.gen(function* () {
    const me = yield* session.call((c) => c.me.me())
    const wanted = session.team
    if (wanted !== undefined) {
      const w = wanted.toLowerCase()
      const match = me.teams.find((m) => m.team.slug.toLowerCase() === w || m.team.id.toLowerCase() === w)
      if (!match) return yield* failure(`you are not a member of team "${wanted}"`, "not_in_team")
      return { team: match.team as Team, role: match.role }
    }
    if (me.teams.length === 1) return { team: me.teams[0]!.team as Team, role: me.teams[0]!.role }
    if (me.teams.length === 0) {
      return yield* failure(
        "you are not in a team: create one with `mur team create NAME` or join one with `mur team join CODE`",
        "no_team"
      )
    }
    return yield* failure(
      `you are in several teams (${me.teams.map((m) => m.team.slug).join(", ")}): pick one with --team SLUG or \`mur config set server.team SLUG\``,
      "team_required"
    )
  })
