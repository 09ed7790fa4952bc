/**
 * Atomic file writes: the data goes to a temporary file in the same folder, which is then
 * renamed over the target. A process killed at any point leaves either the old file or the
 * new one, never half of one; at worst a stray temporary file, which `removeStaleTempFiles`
 * clears.
 */
import { randomBytes } from "node:crypto"
import { chmodSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { basename, dirname, join } from "node:path"

const TEMP_SUFFIX = ".tmp"

/** Writes `data` to `path` atomically, creating the folder if needed. */
export const writeFileAtomic = (path: string, data: string | Uint8Array, options: { mode?: number } = {}): void => {
  const dir = dirname(path)
  mkdirSync(dir, { recursive: true })
  const temp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}${TEMP_SUFFIX}`)
  try {
    writeFileSync(temp, data, { mode: options.mode ?? 0o644 })
    if (options.mode !== undefined) chmodSync(temp, options.mode)
    renameSync(temp, path)
  } catch (e) {
    rmSync(temp, { force: true })
    throw e
  }
}

/** The file's text, or `undefined` when it does not exist. */
export const readTextIfExists = (path: string): string | undefined => {
  try {
    return readFileSync(path, "utf8")
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined
    throw e
  }
}

const isAlive = (pid: number): boolean => {
  if (pid === process.pid) return true
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** Removes the temporary files that writers no longer running left in `dir`. */
export const removeStaleTempFiles = (dir: string): number => {
  let removed = 0
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return 0
  }
  for (const name of names) {
    const m = /^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$/.exec(name)
    if (m && !isAlive(Number(m[1]))) {
      rmSync(join(dir, name), { force: true })
      removed++
    }
  }
  return removed
}

/** Removes a file; a missing file is not an error. */
export const removeFile = (path: string): void => rmSync(path, { force: true })
