/**
 * Owns `teams` (with each team's event-log head, `last_seq`, and its locks), `memberships`
 * and `invites`. Listings count a team's members and live patterns (`patterns`, owned by
 * `PatternRepo`) and name members from `users` (owned by `UserRepo`).
 */
import { SqlClient } from "@effect/sql"
import {
  effectiveLimits,
  type LimitOverride,
  type Member,
  type Plan,
  type Role,
  type Team,
  type TeamMembership
} from "@mur/domain"
import { Effect, Option } from "effect"
import { affected } from "./rows.js"

export interface TeamRow {
  readonly id: string
  readonly name: string
  readonly slug: string
  readonly plan: Plan
  /** The team's own limits over its plan's: NULL the plan's, -1 unlimited. */
  readonly max_members?: number | null
  readonly max_patterns?: number | null
  readonly retention_days?: number | null
  readonly created_at: string
  readonly updated_at: string
}

export interface InviteRow {
  readonly id: string
  readonly team_id: string
  readonly email: string
  readonly role: Role
  readonly expires_at: string
  readonly used_at: string | null
}

/** A stored override as the domain reads it (`undefined`: the plan's, `null`: unlimited). */
export const fromStoredLimit = (v: number | null | undefined): LimitOverride =>
  v === null || v === undefined ? undefined : Number(v) < 0 ? null : Number(v)

/** A domain override as stored. */
export const toStoredLimit = (v: LimitOverride): number | null => (v === undefined ? null : v === null ? -1 : v)

export const toTeam = (row: TeamRow): Team => {
  const limits = effectiveLimits(row.plan, {
    maxMembers: fromStoredLimit(row.max_members),
    maxPatterns: fromStoredLimit(row.max_patterns),
    retentionDays: fromStoredLimit(row.retention_days)
  })
  return {
    id: row.id as Team["id"],
    name: row.name,
    slug: row.slug,
    plan: row.plan,
    max_members: limits.maxMembers,
    max_patterns: limits.maxPatterns,
    retention_days: limits.retentionDays,
    created_at: row.created_at,
    updated_at: row.updated_at
  }
}

const TEAM_COLUMNS =
  "t.id, t.name, t.slug, t.plan, t.max_members, t.max_patterns, t.retention_days, t.created_at, t.updated_at"

export class TeamRepo extends Effect.Service<TeamRepo>()("@mur/core/TeamRepo", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient

    /** The teams a user belongs to, oldest membership first. */
    const listForUser = (userId: string) =>
      sql<TeamRow & { role: Role }>`
        SELECT ${sql.literal(TEAM_COLUMNS)}, m.role
        FROM memberships m JOIN teams t ON t.id = m.team_id
        WHERE m.user_id = ${userId}
        ORDER BY m.joined_at, t.id`.pipe(
        Effect.map((rows): ReadonlyArray<TeamMembership> => rows.map((r) => ({ team: toTeam(r), role: r.role })))
      )

    const findById = (id: string) =>
      sql<TeamRow>`SELECT ${sql.literal(TEAM_COLUMNS)} FROM teams t WHERE t.id = ${id}`.pipe(
        Effect.map((rows) => Option.fromNullable(rows[0]))
      )

    const findBySlug = (slug: string) =>
      sql<TeamRow>`SELECT ${sql.literal(TEAM_COLUMNS)} FROM teams t WHERE t.slug = ${slug}`.pipe(
        Effect.map((rows) => Option.fromNullable(rows[0]))
      )

    /** Teams whose name or slug contains `search`, newest first, with what each holds. */
    const listWithCounts = (search: string | undefined, limit: number, offset: number) =>
      Effect.gen(function* () {
        const like = search === undefined || search === "" ? null : `%${search.toLowerCase()}%`
        const where = like === null ? sql`1 = 1` : sql`(lower(t.name) LIKE ${like} OR t.slug LIKE ${like})`
        const [count] = yield* sql<{ n: number }>`SELECT count(*) AS n FROM teams t WHERE ${where}`
        const rows = yield* sql<TeamRow & { members: number; patterns: number }>`
          SELECT ${sql.literal(TEAM_COLUMNS)},
            (SELECT count(*) FROM memberships m WHERE m.team_id = t.id) AS members,
            (SELECT count(*) FROM patterns p WHERE p.team_id = t.id AND p.deleted_at IS NULL) AS patterns
          FROM teams t WHERE ${where}
          ORDER BY t.created_at DESC, t.id LIMIT ${limit} OFFSET ${offset}`
        return { total: Number(count?.n ?? 0), rows }
      })

    const countLivePatterns = (teamId: string) =>
      sql<{ n: number }>`SELECT count(*) AS n FROM patterns WHERE team_id = ${teamId} AND deleted_at IS NULL`.pipe(
        Effect.map((rows) => Number(rows[0]!.n))
      )

    /** Sets the plan and the team's own limits (stored form: NULL the plan's, -1 unlimited). */
    const setPlanAndLimits = (
      id: string,
      values: {
        readonly plan: Plan
        readonly max_members: number | null
        readonly max_patterns: number | null
        readonly retention_days: number | null
      },
      at: string
    ) =>
      sql`UPDATE teams SET plan = ${values.plan}, max_members = ${values.max_members},
            max_patterns = ${values.max_patterns}, retention_days = ${values.retention_days}, updated_at = ${at}
          WHERE id = ${id}`.pipe(Effect.asVoid)

    const slugTaken = (slug: string) =>
      sql<{ n: number }>`SELECT count(*) AS n FROM teams WHERE slug = ${slug}`.pipe(
        Effect.map((rows) => Number(rows[0]?.n ?? 0) > 0)
      )

    const insert = (row: TeamRow) => sql`INSERT INTO teams ${sql.insert({ ...row, last_seq: 0 })}`.pipe(Effect.asVoid)

    const rename = (id: string, name: string, at: string) =>
      sql`UPDATE teams SET name = ${name}, updated_at = ${at} WHERE id = ${id}`.pipe(Effect.asVoid)

    /**
     * Takes the team row's write lock for the rest of the transaction (PostgreSQL; SQLite
     * transactions are already serialised). Every act bounded by a team-wide count (seats,
     * patterns, admins, the event sequence) takes it first, so concurrent acts queue.
     */
    const lock = (id: string) =>
      sql
        .onDialectOrElse({
          pg: () => sql`SELECT id FROM teams WHERE id = ${id} FOR UPDATE`,
          orElse: () => sql`SELECT id FROM teams WHERE id = ${id}`
        })
        .pipe(Effect.asVoid)

    /**
     * Takes the team row's write lock for the rest of the transaction and reads the last
     * `seq` of its log. On SQLite the no-op write takes the database's write lock at once
     * (a read first could meet another connection's write later: SQLITE_BUSY).
     */
    const lockSeq = (id: string) =>
      sql
        .onDialectOrElse({
          pg: () => sql<{ last_seq: number }>`SELECT last_seq FROM teams WHERE id = ${id} FOR UPDATE`,
          orElse: () =>
            sql<{ last_seq: number }>`UPDATE teams SET last_seq = last_seq WHERE id = ${id} RETURNING last_seq`
        })
        .pipe(Effect.map((rows) => Number(rows[0]?.last_seq ?? 0)))

    /**
     * Takes the team row's share lock for the rest of the transaction (PostgreSQL: a
     * snapshot then reads the log as of the last committed change; SQLite transactions are
     * already serialised, so nothing is run).
     */
    const lockShared = (id: string) =>
      sql.onDialectOrElse({
        pg: () => sql`SELECT id FROM teams WHERE id = ${id} FOR SHARE`.pipe(Effect.asVoid),
        orElse: () => Effect.void
      })

    /** The last `seq` of the team's log (0 for an unknown team). */
    const lastSeq = (id: string) =>
      sql<{ last_seq: number }>`SELECT last_seq FROM teams WHERE id = ${id}`.pipe(
        Effect.map((rows) => Number(rows[0]?.last_seq ?? 0))
      )

    /** Moves the team's last `seq` from `from` to `to`; the lock taken by `lockSeq` must be held. */
    const advanceSeq = (id: string, from: number, to: number) =>
      sql<{ last_seq: number }>`
        UPDATE teams SET last_seq = ${to} WHERE id = ${id} AND last_seq = ${from} RETURNING last_seq`.pipe(
        Effect.flatMap((rows) =>
          rows.length === 1
            ? Effect.void
            : Effect.dieMessage(`team ${id}: last_seq moved from ${from} while its lock was held`)
        )
      )

    const members = (teamId: string) =>
      sql<Member>`
        SELECT u.id, u.email, u.name, m.role, m.joined_at
        FROM memberships m JOIN users u ON u.id = m.user_id
        WHERE m.team_id = ${teamId}
        ORDER BY m.joined_at, u.id`

    const membership = (teamId: string, userId: string) =>
      sql<Member>`
        SELECT u.id, u.email, u.name, m.role, m.joined_at
        FROM memberships m JOIN users u ON u.id = m.user_id
        WHERE m.team_id = ${teamId} AND m.user_id = ${userId}`.pipe(Effect.map((rows) => Option.fromNullable(rows[0])))

    const countMembers = (teamId: string) =>
      sql<{ n: number }>`SELECT count(*) AS n FROM memberships WHERE team_id = ${teamId}`.pipe(
        Effect.map((rows) => Number(rows[0]!.n))
      )

    const countAdmins = (teamId: string) =>
      sql<{ n: number }>`SELECT count(*) AS n FROM memberships WHERE team_id = ${teamId} AND role = 'admin'`.pipe(
        Effect.map((rows) => Number(rows[0]!.n))
      )

    const addMember = (teamId: string, userId: string, role: Role, at: string) =>
      sql`INSERT INTO memberships ${sql.insert({ team_id: teamId, user_id: userId, role, joined_at: at })}`.pipe(
        Effect.asVoid
      )

    const setRole = (teamId: string, userId: string, role: Role) =>
      sql`UPDATE memberships SET role = ${role} WHERE team_id = ${teamId} AND user_id = ${userId}`.pipe(Effect.asVoid)

    const removeMember = (teamId: string, userId: string) =>
      sql`DELETE FROM memberships WHERE team_id = ${teamId} AND user_id = ${userId}`.pipe(Effect.asVoid)

    const insertInvite = (row: {
      id: string
      team_id: string
      email: string
      role: Role
      code_hash: string
      created_by: string
      created_at: string
      expires_at: string
    }) => sql`INSERT INTO invites ${sql.insert(row)}`.pipe(Effect.asVoid)

    const findInvite = (codeHash: string) =>
      sql<InviteRow>`SELECT id, team_id, email, role, expires_at, used_at FROM invites WHERE code_hash = ${codeHash}`.pipe(
        Effect.map((rows) => Option.fromNullable(rows[0]))
      )

    /** Marks an invite used; false when another request used it first. */
    const useInvite = (id: string, userId: string, at: string) =>
      sql<{ id: string }>`
        UPDATE invites SET used_at = ${at}, used_by = ${userId}
        WHERE id = ${id} AND used_at IS NULL RETURNING id`.pipe(Effect.map((rows) => rows.length === 1))

    /** Deletes invites (used or not) that expired before `before`; how many. */
    const deleteExpiredInvites = (before: string) => affected(sql`DELETE FROM invites WHERE expires_at < ${before}`)

    return {
      listForUser,
      findById,
      findBySlug,
      listWithCounts,
      countLivePatterns,
      setPlanAndLimits,
      slugTaken,
      insert,
      rename,
      lock,
      lockShared,
      lockSeq,
      lastSeq,
      advanceSeq,
      members,
      membership,
      countMembers,
      countAdmins,
      addMember,
      setRole,
      removeMember,
      insertInvite,
      findInvite,
      useInvite,
      deleteExpiredInvites
    } as const
  })
}) {}
