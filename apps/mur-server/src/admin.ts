/**
 * `mur-server admin …`: users and teams, on `DATABASE_URL` as `migrate` works, safe beside
 * running servers (each act is one transaction; on PostgreSQL its notices reach every
 * server process, so a disabled user's sockets close at once). Every subcommand takes
 * `--json` and then prints one JSON document, the same shapes as the `/admin/*` routes.
 */
import { userInfo } from "node:os"
import { Args, Command, Options } from "@effect/cli"
import type { SqlClient } from "@effect/sql"
import {
  Admin,
  type AdminActor,
  type ChangeFeed,
  EngineConfig,
  MAX_PRICE,
  PRICES_AS_OF,
  type PriceEntry,
  Prices,
  Storage
} from "@mur/core"
import { type AdminTeam, type AdminUser, DisplayName, Email, Password, Plan } from "@mur/domain"
import { Effect, Either, Layer, Option, ParseResult, Redacted, Schema } from "effect"

const osUser = () => {
  try {
    return userInfo().username
  } catch {
    return process.env.USER ?? "unknown"
  }
}

/** The operator at the shell; audit entries name the OS user. */
const CLI_ACTOR: AdminActor = { userId: null, via: "cli", operator: osUser() }

export interface AdminDeps {
  readonly die: (message: string, code?: number) => never
  readonly describe: (error: unknown) => string
  readonly withDatabase: <A, E>(
    databaseUrl: Option.Option<string>,
    run: Effect.Effect<A, E, SqlClient.SqlClient | ChangeFeed>
  ) => Effect.Effect<unknown>
}

const json = Options.boolean("json").pipe(Options.withDescription("Print one JSON document"))
const databaseUrl = Options.text("database-url").pipe(
  Options.withPseudoName("URL"),
  Options.withDescription("file:<path> or postgres://… (DATABASE_URL)"),
  Options.optional
)
const passwordStdin = Options.boolean("password-stdin").pipe(
  Options.withDescription("Read the password from stdin (else print a one-time set-password link)")
)
const email = Args.text({ name: "EMAIL" }).pipe(Args.withDescription("The user's e-mail (or id)"))
const slug = Args.text({ name: "SLUG" }).pipe(Args.withDescription("The team's slug (or id)"))
const search = Options.text("search").pipe(
  Options.withPseudoName("S"),
  Options.withDescription("Only those whose name or e-mail contains S"),
  Options.optional
)

/** Where set-password links point: the server's public URL. */
const linkBase = () => (process.env.BASE_URL ?? `http://localhost:${process.env.PORT ?? 8080}`).replace(/\/$/, "")

const validate = <A, I>(schema: Schema.Schema<A, I>, what: string, value: I, die: AdminDeps["die"]): A =>
  Either.getOrElse(Schema.decodeUnknownEither(schema)(value), (e) =>
    die(`invalid ${what}: ${ParseResult.TreeFormatter.formatErrorSync(e).split("\n").pop()?.trim()}`, 2)
  )

const readStdin = (): Promise<string> =>
  new Promise((resolve, reject) => {
    let data = ""
    process.stdin.setEncoding("utf8")
    process.stdin.on("data", (chunk) => {
      data += chunk
    })
    process.stdin.on("end", () => resolve(data.replace(/\r?\n$/, "")))
    process.stdin.on("error", reject)
  })

const userLine = (u: AdminUser) =>
  [u.email, u.name, u.id, u.disabled ? "disabled" : "active", u.server_admin ? "server-admin" : "", `${u.teams} teams`]
    .filter((s) => s !== "")
    .join("\t")

const limit = (v: number | null) => (v === null ? "unlimited" : String(v))
const teamLine = (t: AdminTeam) =>
  [
    t.team.slug,
    t.team.name,
    t.team.plan,
    `members ${t.members}/${limit(t.team.max_members)}`,
    `patterns ${t.patterns}/${limit(t.team.max_patterns)}`,
    `retention ${t.team.retention_days === null ? "unlimited" : `${t.team.retention_days} days`}`
  ].join("\t")

const print = (asJson: boolean, value: unknown, text: () => string) =>
  Effect.sync(() => process.stdout.write(`${asJson ? JSON.stringify(value) : text()}\n`))

/** "12", "unlimited", or "default" (back to the plan's). */
const limitArg = (name: string, raw: Option.Option<string>, die: AdminDeps["die"]) => {
  if (Option.isNone(raw)) return undefined
  const v = raw.value.trim().toLowerCase()
  if (v === "unlimited") return "unlimited" as const
  if (v === "default" || v === "plan") return null
  if (!/^\d+$/.test(v)) return die(`invalid --${name}: "${raw.value}" is not a whole number, unlimited or default`, 2)
  return Number(v)
}

export const adminCommand = (deps: AdminDeps) => {
  const { die } = deps

  /** Runs an Admin act on the database, migrated to this build's level. */
  const withAdmin = <A, E>(url: Option.Option<string>, f: (admin: Admin) => Effect.Effect<A, E>) =>
    deps.withDatabase(
      url,
      Effect.gen(function* () {
        const pending = (yield* Storage.migrationStatus).filter((m) => m.applied_at === null)
        if (pending.length > 0) return die("the database has pending migrations; run `mur-server migrate up` first")
        const cost = Number(process.env.BCRYPT_COST ?? 12)
        if (!Number.isInteger(cost) || cost < 10 || cost > 20) return die("invalid BCRYPT_COST: must be 10..20")
        // Admin hashes passwords; it signs no tokens, so the JWT secret is not needed here.
        const config = Layer.succeed(EngineConfig, {
          jwtSecret: Redacted.make(""),
          bcryptCost: cost,
          allowSignup: true,
          accessTokenTtlSeconds: 900,
          refreshTokenTtlSeconds: 7 * 24 * 3600
        })
        return yield* Effect.flatMap(Admin, f).pipe(Effect.provide(Admin.Default.pipe(Layer.provide(config))))
      }).pipe(
        Effect.catchIf(
          (e: any) => typeof e?._tag === "string" && ["NotFound", "Conflict", "Forbidden"].includes(e._tag),
          (e: any) => Effect.sync(() => die(e.message))
        )
      )
    )

  const password = (fromStdin: boolean) =>
    fromStdin
      ? Effect.promise(readStdin).pipe(Effect.map((p) => validate(Password, "password", p, die)))
      : Effect.succeed(undefined)

  const withLink = (asJson: boolean, answer: { user: AdminUser; set_password_url?: string }, done: string) =>
    print(asJson, answer, () =>
      answer.set_password_url === undefined
        ? `${done}: ${userLine(answer.user)}`
        : `${done}: ${userLine(answer.user)}\nOne-time link to set the password (hand it to the user):\n${answer.set_password_url}`
    )

  const usersList = Command.make("list", { search, json, databaseUrl }, (o) =>
    withAdmin(o.databaseUrl, (admin) =>
      Effect.gen(function* () {
        const all: AdminUser[] = []
        for (let page = 1; ; page++) {
          const batch = yield* admin.listUsers({ search: Option.getOrUndefined(o.search), page, limit: 100 })
          all.push(...batch.users)
          if (all.length >= batch.total || batch.users.length === 0) break
        }
        yield* print(o.json, { users: all, total: all.length }, () =>
          all.length === 0 ? "no users" : all.map(userLine).join("\n")
        )
      })
    )
  ).pipe(Command.withDescription("List users (deleted ones left out)"))

  const usersCreate = Command.make(
    "create",
    {
      email: Options.text("email").pipe(
        Options.withPseudoName("EMAIL"),
        Options.withDescription("E-mail of the new user")
      ),
      name: Options.text("name").pipe(Options.withPseudoName("NAME"), Options.withDescription("Display name")),
      passwordStdin,
      json,
      databaseUrl
    },
    (o) =>
      withAdmin(o.databaseUrl, (admin) =>
        Effect.gen(function* () {
          const input = {
            email: validate(Email, "--email", o.email, die),
            name: validate(DisplayName, "--name", o.name, die),
            password: yield* password(o.passwordStdin)
          }
          yield* withLink(o.json, yield* admin.createUser(CLI_ACTOR, input, linkBase()), "created")
        })
      )
  ).pipe(Command.withDescription("Create a user (works with sign-up off)"))

  const usersReset = Command.make("reset-password", { email, passwordStdin, json, databaseUrl }, (o) =>
    withAdmin(o.databaseUrl, (admin) =>
      Effect.gen(function* () {
        const pw = yield* password(o.passwordStdin)
        yield* withLink(o.json, yield* admin.resetPassword(CLI_ACTOR, o.email, pw, linkBase()), "password reset")
      })
    )
  ).pipe(Command.withDescription("Set a new password or print a link; ends every login of the user"))

  const userFlag = (
    name: string,
    description: string,
    change: { disabled?: boolean; server_admin?: boolean },
    done: string
  ) =>
    Command.make(name, { email, json, databaseUrl }, (o) =>
      withAdmin(o.databaseUrl, (admin) =>
        Effect.flatMap(admin.updateUser(CLI_ACTOR, o.email, change), (user) =>
          print(o.json, { user }, () => `${done}: ${userLine(user)}`)
        )
      )
    ).pipe(Command.withDescription(description))

  const usersDelete = Command.make("delete", { email, json, databaseUrl }, (o) =>
    withAdmin(o.databaseUrl, (admin) =>
      Effect.flatMap(admin.deleteUser(CLI_ACTOR, o.email), () =>
        print(o.json, { success: true }, () => `deleted ${o.email} (patterns, stats and audit entries are kept)`)
      )
    )
  ).pipe(Command.withDescription("Delete a user; their patterns, stats and audit entries stay"))

  const users = Command.make("users").pipe(
    Command.withDescription("Accounts"),
    Command.withSubcommands([
      usersList,
      usersCreate,
      usersReset,
      userFlag("disable", "Disable a user: no login, refresh, API key or socket", { disabled: true }, "disabled"),
      userFlag("enable", "Let a disabled user log in again", { disabled: false }, "enabled"),
      usersDelete,
      userFlag("grant-admin", "Give a user the server-admin role", { server_admin: true }, "granted"),
      userFlag("revoke-admin", "Take the server-admin role away", { server_admin: false }, "revoked")
    ])
  )

  const teamsList = Command.make("list", { search, json, databaseUrl }, (o) =>
    withAdmin(o.databaseUrl, (admin) =>
      Effect.gen(function* () {
        const all: AdminTeam[] = []
        for (let page = 1; ; page++) {
          const batch = yield* admin.listTeams({ search: Option.getOrUndefined(o.search), page, limit: 100 })
          all.push(...batch.teams)
          if (all.length >= batch.total || batch.teams.length === 0) break
        }
        yield* print(o.json, { teams: all, total: all.length }, () =>
          all.length === 0 ? "no teams" : all.map(teamLine).join("\n")
        )
      })
    )
  ).pipe(Command.withDescription("List teams with their plan, limits and counts"))

  const teamsShow = Command.make("show", { slug, json, databaseUrl }, (o) =>
    withAdmin(o.databaseUrl, (admin) =>
      Effect.flatMap(admin.getTeam(o.slug), (detail) =>
        print(o.json, detail, () =>
          [
            teamLine(detail.team),
            `own limits: members ${detail.team.overrides.max_members ?? "plan"}, patterns ${detail.team.overrides.max_patterns ?? "plan"}, retention ${detail.team.overrides.retention_days ?? "plan"}`,
            ...detail.members.map((m) => `  ${m.email}\t${m.name}\t${m.role}`)
          ].join("\n")
        )
      )
    )
  ).pipe(Command.withDescription("Show a team: plan, limits, members"))

  const teamsSetPlan = Command.make(
    "set-plan",
    {
      slug,
      plan: Args.choice(
        Plan.literals.map((p) => [p, p] as const),
        { name: "PLAN" }
      ).pipe(Args.withDescription(`The plan: ${Plan.literals.join(", ")}`)),
      json,
      databaseUrl
    },
    (o) =>
      withAdmin(o.databaseUrl, (admin) =>
        Effect.flatMap(admin.updateTeam(CLI_ACTOR, o.slug, { plan: o.plan }), (team) =>
          print(o.json, { team }, () => teamLine(team))
        )
      )
  ).pipe(Command.withDescription("Move a team to a plan (free, team, enterprise) at once"))

  const limitOption = (name: string) =>
    Options.text(name).pipe(
      Options.withPseudoName("N"),
      Options.withDescription("A number, unlimited, or default (the plan's)"),
      Options.optional
    )

  const teamsSetLimits = Command.make(
    "set-limits",
    {
      slug,
      maxMembers: limitOption("max-members"),
      maxPatterns: limitOption("max-patterns"),
      retentionDays: limitOption("retention-days"),
      json,
      databaseUrl
    },
    (o) =>
      withAdmin(o.databaseUrl, (admin) =>
        Effect.gen(function* () {
          const change = {
            max_members: limitArg("max-members", o.maxMembers, die),
            max_patterns: limitArg("max-patterns", o.maxPatterns, die),
            retention_days: limitArg("retention-days", o.retentionDays, die)
          }
          if (change.retention_days === 0) return die("invalid --retention-days: must be at least 1", 2)
          if (Object.values(change).every((v) => v === undefined))
            return die("nothing to change: give --max-members, --max-patterns or --retention-days", 2)
          const team = yield* admin.updateTeam(CLI_ACTOR, o.slug, change)
          yield* print(o.json, { team }, () => teamLine(team))
        })
      )
  ).pipe(Command.withDescription("Set a team's own limits over its plan's; removes nothing"))

  const teams = Command.make("teams").pipe(
    Command.withDescription("Teams, plans and limits"),
    Command.withSubcommands([teamsList, teamsShow, teamsSetPlan, teamsSetLimits])
  )

  /** Runs on the price table of the database, migrated to this build's level. */
  const withPrices = <A, E>(url: Option.Option<string>, f: (prices: Prices) => Effect.Effect<A, E>) =>
    deps.withDatabase(
      url,
      Effect.gen(function* () {
        const pending = (yield* Storage.migrationStatus).filter((m) => m.applied_at === null)
        if (pending.length > 0) return die("the database has pending migrations; run `mur-server migrate up` first")
        return yield* Effect.flatMap(Prices, f).pipe(Effect.provide(Prices.Default))
      })
    )

  const priceLine = (p: PriceEntry) =>
    [
      p.model,
      `input ${p.input}`,
      `output ${p.output}`,
      `cache-read ${p.cache_read}`,
      `cache-write ${p.cache_write}`,
      p.source === "default" ? `default (${PRICES_AS_OF})` : `operator (${p.updated_at})`
    ].join("\t")

  const model = Args.text({ name: "MODEL" }).pipe(Args.withDescription("The model name, e.g. gemini-2.5-pro"))
  const priceOption = (name: string, what: string) =>
    Options.text(name).pipe(Options.withPseudoName("USD"), Options.withDescription(`Dollars per million ${what}`))
  const priceArg = (name: string, raw: string) => {
    const v = raw.trim()
    const n = Number(v)
    if (v === "" || !Number.isFinite(n) || n < 0 || n > MAX_PRICE)
      return die(`invalid --${name}: "${raw}" is not a price from 0 to ${MAX_PRICE} dollars per million tokens`, 2)
    return n
  }

  const pricesList = Command.make("list", { json, databaseUrl }, (o) =>
    withPrices(o.databaseUrl, (prices) =>
      Effect.flatMap(prices.list, (all) =>
        print(o.json, { prices: all, defaults_as_of: PRICES_AS_OF }, () => all.map(priceLine).join("\n"))
      )
    )
  ).pipe(Command.withDescription("Prices per million tokens, by model (USD)"))

  const pricesSet = Command.make(
    "set",
    {
      model,
      input: priceOption("input", "input tokens"),
      output: priceOption("output", "output tokens"),
      cacheRead: priceOption("cache-read", "cache-read tokens").pipe(Options.optional),
      cacheWrite: priceOption("cache-write", "cache-write tokens").pipe(Options.optional),
      json,
      databaseUrl
    },
    (o) =>
      withPrices(o.databaseUrl, (prices) =>
        Effect.gen(function* () {
          if (o.model.trim() === "" || o.model.length > 100) return die("invalid MODEL: 1 to 100 characters", 2)
          const price = {
            input: priceArg("input", o.input),
            output: priceArg("output", o.output),
            cache_read: Option.match(o.cacheRead, { onNone: () => 0, onSome: (v) => priceArg("cache-read", v) }),
            cache_write: Option.match(o.cacheWrite, { onNone: () => 0, onSome: (v) => priceArg("cache-write", v) })
          }
          yield* prices.set(o.model, price)
          const entry = (yield* prices.list).find(
            (p) => p.source === "operator" && o.model.trim().toLowerCase().endsWith(p.model)
          )
          yield* print(o.json, { price: entry }, () => (entry === undefined ? "set" : priceLine(entry)))
        })
      )
  ).pipe(Command.withDescription("Set a model's price; applies to usage recorded from now on"))

  const pricesUnset = Command.make("unset", { model, json, databaseUrl }, (o) =>
    withPrices(o.databaseUrl, (prices) =>
      Effect.gen(function* () {
        const removed = yield* prices.unset(o.model)
        if (!removed) return die(`no price of your own for ${o.model}`)
        yield* print(o.json, { removed: true }, () => `removed; ${o.model} is priced by the shipped defaults, if any`)
      })
    )
  ).pipe(Command.withDescription("Remove your price of a model (back to the default)"))

  const pricesGroup = Command.make("prices").pipe(
    Command.withDescription("The price table that costs usage reported without one"),
    Command.withSubcommands([pricesList, pricesSet, pricesUnset])
  )

  return Command.make("admin").pipe(
    Command.withDescription("Administer users, teams and prices (on DATABASE_URL)"),
    Command.withSubcommands([users, teams, pricesGroup])
  )
}
