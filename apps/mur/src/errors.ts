/**
 * Every way a `mur` command can fail, in one place. The exit code is part of the contract
 * (spec/CLI.md): 1 failure, 2 usage error, 3 not logged in or login expired, 4 server
 * unreachable.
 */
import { Data, Effect } from "effect"

export type ExitCode = 1 | 2 | 3 | 4

export class CliError extends Data.TaggedError("CliError")<{
  readonly exitCode: ExitCode
  /** A stable snake_case code, printed in the `--json` error document. */
  readonly code: string
  readonly message: string
  /** The command already printed its `--json` document (which tells about the failure). */
  readonly documented?: boolean
}> {}

/** A bad argument or flag value (exit 2). */
export const usageError = (message: string) => new CliError({ exitCode: 2, code: "usage", message })

/** Anything else that went wrong (exit 1). */
export const failure = (message: string, code = "failed") => new CliError({ exitCode: 1, code, message })

/** No credentials, or credentials the server no longer accepts (exit 3). */
export const notLoggedIn = (message = "not logged in: run `mur login`", code = "not_logged_in") =>
  new CliError({ exitCode: 3, code, message })

/** The server did not answer, or answered that it cannot serve (exit 4). */
export const unreachable = (message: string) => new CliError({ exitCode: 4, code: "unreachable", message })

export const errorMessage = (e: unknown): string =>
  e instanceof Error ? e.message : typeof e === "string" ? e : JSON.stringify(e)

/** Runs a synchronous step; a thrown `CliError` passes through, anything else is a failure. */
export const attempt = <A>(f: () => A, what?: string): Effect.Effect<A, CliError> =>
  Effect.try({
    try: f,
    catch: (e) => (e instanceof CliError ? e : failure(what ? `${what}: ${errorMessage(e)}` : errorMessage(e)))
  })
