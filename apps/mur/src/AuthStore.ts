/**
 * `auth.json` (mode 0600): `{access_token, refresh_token, expires_at, user}` after a login
 * with a password or a device code, or `{api_key, user}` after `mur login --api-key`. We
 * also note the `server` the credentials belong to, so a changed server URL does not send
 * them elsewhere.
 */
import type { User } from "@mur/domain"
import { readTextIfExists, removeFile, writeFileAtomic } from "./AtomicFile.js"

export interface TokenCredentials {
  readonly kind: "tokens"
  readonly server: string | undefined
  readonly access_token: string
  readonly refresh_token: string
  /** RFC 3339: when the access token stops working. */
  readonly expires_at: string
  readonly user: User
}

export interface ApiKeyCredentials {
  readonly kind: "api_key"
  readonly server: string | undefined
  readonly api_key: string
  readonly user: User
}

export type Credentials = TokenCredentials | ApiKeyCredentials

const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined)

/** The saved credentials, or `undefined` when there are none (or the file is unreadable). */
export const loadCredentials = (path: string): Credentials | undefined => {
  const text = readTextIfExists(path)
  if (text === undefined) return undefined
  let raw: any
  try {
    raw = JSON.parse(text)
  } catch {
    return undefined
  }
  if (raw === null || typeof raw !== "object") return undefined
  const user = raw.user as User
  const server = str(raw.server)
  const apiKey = str(raw.api_key)
  if (apiKey) return { kind: "api_key", server, api_key: apiKey, user }
  const access = str(raw.access_token)
  const refresh = str(raw.refresh_token)
  if (access && refresh) {
    return {
      kind: "tokens",
      server,
      access_token: access,
      refresh_token: refresh,
      expires_at: str(raw.expires_at) ?? new Date(0).toISOString(),
      user
    }
  }
  return undefined
}

export const saveCredentials = (path: string, credentials: Credentials): void => {
  const body =
    credentials.kind === "tokens"
      ? {
          server: credentials.server,
          access_token: credentials.access_token,
          refresh_token: credentials.refresh_token,
          expires_at: credentials.expires_at,
          user: credentials.user
        }
      : { server: credentials.server, api_key: credentials.api_key, user: credentials.user }
  writeFileAtomic(path, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 })
}

export const clearCredentials = (path: string): void => removeFile(path)

/** Token credentials from a login answer (`expires_in` seconds from now). */
export const fromLogin = (
  server: string,
  login: { readonly access_token: string; readonly refresh_token: string; readonly expires_in: number },
  user: User
): TokenCredentials => ({
  kind: "tokens",
  server,
  access_token: login.access_token,
  refresh_token: login.refresh_token,
  expires_at: new Date(Date.now() + login.expires_in * 1000).toISOString(),
  user
})

/** The Bearer credential to send. */
export const bearerOf = (credentials: Credentials): string =>
  credentials.kind === "tokens" ? credentials.access_token : credentials.api_key
