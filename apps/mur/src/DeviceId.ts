/** `device_id`: a random id made once per `$MUR_HOME`, sent as `device_id` in pushes and pulls. */
import { randomUUID } from "node:crypto"
import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { dirname } from "node:path"
import { writeFileAtomic } from "./AtomicFile.js"

export const deviceId = (path: string): string => {
  const read = (): string | undefined => {
    try {
      const id = readFileSync(path, "utf8").trim()
      return id === "" ? undefined : id
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined
      throw e
    }
  }
  const existing = read()
  if (existing) return existing
  // Created once even when two processes race: link() fails if the name exists.
  mkdirSync(dirname(path), { recursive: true })
  const temp = `${path}.${process.pid}.${Date.now()}.tmp`
  writeFileSync(temp, `${randomUUID()}\n`)
  try {
    linkSync(temp, path)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e
  } finally {
    rmSync(temp, { force: true })
  }
  const id = read()
  if (id) return id
  // An empty file (a writer killed long ago): replace it.
  const fresh = randomUUID()
  writeFileAtomic(path, `${fresh}\n`)
  return fresh
}
