import { randomBytes } from "node:crypto"
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname } from "node:path"

/**
 * The JWT secret kept in a file: made once (48 random bytes, mode 0600) and read back on
 * every later start, so that tokens survive restarts of a zero-config SQLite server.
 */
export const fileSecret = (path: string): string => {
  if (existsSync(path)) {
    const value = readFileSync(path, "utf8").trim()
    if (value.length >= 32) return value
  }
  mkdirSync(dirname(path), { recursive: true })
  const value = randomBytes(48).toString("base64url")
  writeFileSync(path, `${value}\n`, { mode: 0o600, flag: "w" })
  chmodSync(path, 0o600)
  return value
}
