/** `mur login` (password, `--device`, `--api-key`), `mur logout`, `mur whoami`. */
import { hostname } from "node:os"
import type { User } from "@mur/domain"
import { Duration, Effect, Either, Option } from "effect"
import { clearCredentials, fromLogin, loadCredentials } from "../AuthStore.js"
import { Cli } from "../Cli.js"
import { loadConfig } from "../Config.js"
import { attempt, type CliError, failure, usageError } from "../errors.js"
import { withPrompter } from "../Prompt.js"
import { openSession, type Session, toCliError } from "../Session.js"

export interface LoginArgs {
  readonly email: Option.Option<string>
  readonly password: Option.Option<string>
  readonly device: boolean
  readonly apiKey: Option.Option<string>
}

const loggedIn = (user: User, how: string) =>
  Effect.gen(function* () {
    const { out } = yield* Cli
    out.result(`Logged in as ${user.email}${how}`, { user })
  })

const isInvalid = (e: unknown, code: string) =>
  typeof e === "object" && e !== null && (e as any)._tag === "InvalidRequest" && (e as any).code === code

const passwordLogin = (session: Session, args: LoginArgs) =>
  Effect.gen(function* () {
    const { email, password } = yield* withPrompter((prompter) =>
      Effect.gen(function* () {
        const email = Option.isSome(args.email) ? args.email.value : yield* prompter.ask("Email: ")
        if (!email?.trim()) return yield* usageError("no email given (use --email or type it when asked)")
        const password = Option.isSome(args.password)
          ? args.password.value
          : yield* prompter.ask("Password: ", { hidden: true })
        if (!password) return yield* usageError("no password given (use --password or type it when asked)")
        return { email: email.trim(), password }
      })
    )
    const answer = yield* session.call((c) => c.auth.login({ payload: { email, password } }))
    yield* session.login(fromLogin(session.baseUrl, answer, answer.user))
    yield* loggedIn(answer.user, "")
  })

const deviceLogin = (session: Session) =>
  Effect.gen(function* () {
    const { out } = yield* Cli
    const code = yield* session.call((c) => c.device.code({ payload: { client_name: `mur on ${hostname()}` } }))
    out.note(`To log in, open ${code.verification_uri} and enter the code: ${code.user_code}`)
    out.note(`(or open ${code.verification_uri_complete})`)
    out.note("Waiting for approval…")
    const deadline = Date.now() + code.expires_in * 1000
    let interval = Math.max(1, code.interval)
    while (true) {
      yield* Effect.sleep(Duration.seconds(interval))
      const answer = yield* Effect.either(
        session.raw((c) => c.device.token({ payload: { device_code: code.device_code } }))
      )
      if (Either.isRight(answer)) {
        yield* session.login(fromLogin(session.baseUrl, answer.right, answer.right.user))
        return yield* loggedIn(answer.right.user, "")
      }
      const e = answer.left
      if (isInvalid(e, "authorization_pending")) {
        // keep waiting
      } else if (isInvalid(e, "slow_down")) {
        interval += 5
      } else if (isInvalid(e, "expired_token")) {
        return yield* failure(
          "the code expired before it was approved: run `mur login --device` again",
          "expired_token"
        )
      } else if (isInvalid(e, "access_denied")) {
        return yield* failure("the login was denied", "access_denied")
      } else {
        return yield* Effect.fail(toCliError(session.baseUrl)(e))
      }
      if (Date.now() > deadline) {
        return yield* failure(
          "the code expired before it was approved: run `mur login --device` again",
          "expired_token"
        )
      }
    }
  })

const apiKeyLogin = (session: Session, key: string) =>
  Effect.gen(function* () {
    const placeholder = { kind: "api_key" as const, server: session.baseUrl, api_key: key, user: undefined as any }
    session.use(placeholder)
    const me = yield* session
      .call((c) => c.me.me())
      .pipe(
        Effect.catchIf(
          (e: CliError) => e.exitCode === 3,
          () => failure("the server refused this API key (wrong, revoked or expired)", "invalid_api_key")
        )
      )
    yield* session.login({ ...placeholder, user: me.user })
    yield* loggedIn(me.user, " (API key)")
  })

export const login = (args: LoginArgs) =>
  Effect.gen(function* () {
    const ways = [args.device, Option.isSome(args.apiKey), Option.isSome(args.email) || Option.isSome(args.password)]
    if (ways.filter(Boolean).length > 1) {
      return yield* usageError("choose one way to log in: --email/--password, --device or --api-key")
    }
    const session = yield* openSession({ requireLogin: false, anonymous: true })
    if (args.device) return yield* deviceLogin(session)
    if (Option.isSome(args.apiKey)) {
      const key = args.apiKey.value.trim()
      if (key === "") return yield* usageError("--api-key needs a key")
      return yield* apiKeyLogin(session, key)
    }
    return yield* passwordLogin(session, args)
  })

export const logout = Effect.gen(function* () {
  const { home, out } = yield* Cli
  const credentials = yield* attempt(() => loadCredentials(home.auth))
  if (credentials === undefined) return out.result("Not logged in.", { success: true, was_logged_in: false })
  const config = yield* attempt(() => loadConfig(home.config))
  if (credentials.kind === "tokens" && config.server.url) {
    // End the login on the server too; the local credentials go whatever it answers.
    const told = yield* openSession({ requireLogin: false, anonymous: true, timeout: Duration.seconds(10) }).pipe(
      Effect.flatMap((session) =>
        session.call((c) => c.auth.logout({ payload: { refresh_token: credentials.refresh_token } }))
      ),
      Effect.either
    )
    if (Either.isLeft(told) && told.left.exitCode === 4) {
      out.warn(`could not tell the server (${told.left.message}); the login is removed from this machine`)
    }
  }
  yield* attempt(() => clearCredentials(home.auth), "cannot remove auth.json")
  out.result(`Logged out${credentials.user?.email ? ` (${credentials.user.email})` : ""}.`, {
    success: true,
    was_logged_in: true
  })
})

export const whoami = Effect.gen(function* () {
  const { out } = yield* Cli
  const session = yield* openSession({ requireLogin: true })
  const me = yield* session.call((c) => c.me.me())
  const how = session.credentials()?.kind === "api_key" ? " (API key)" : ""
  const lines = [`${me.user.email} (${me.user.name})${how}`]
  if (me.teams.length === 0) lines.push("teams: none")
  else {
    lines.push("teams:")
    for (const m of me.teams) lines.push(`  ${m.team.slug}  ${m.team.name} (${m.role})`)
  }
  out.result(lines, { user: me.user, teams: me.teams })
})
