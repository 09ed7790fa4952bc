/**
 * The two storage layers every end-to-end suite runs against, each on a fresh database:
 * a new SQLite file in a temporary folder, or a new PostgreSQL database (dropped after).
 */

import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import pg from "pg"

export const PG_ADMIN_URL = process.env.MUR_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test"

export interface TestDatabase {
  readonly url: string
  readonly drop: () => Promise<void>
}

export type StoreName = "sqlite" | "postgres"
export const STORES: ReadonlyArray<StoreName> = ["sqlite", "postgres"]

const withAdmin = async <A>(f: (client: pg.Client) => Promise<A>): Promise<A> => {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 5000 })
  await client.connect()
  try {
    return await f(client)
  } finally {
    await client.end()
  }
}

export const createDatabase = async (store: StoreName): Promise<TestDatabase> => {
  if (store === "sqlite") {
    const dir = mkdtempSync(join(tmpdir(), "mur-test-"))
    return { url: `file:${join(dir, "mur.db")}`, drop: async () => rmSync(dir, { recursive: true, force: true }) }
  }
  const name = `mur_test_${Date.now().toString(36)}_${randomBytes(4).toString("hex")}`
  await withAdmin((c) => c.query(`CREATE DATABASE ${name}`))
  const url = new URL(PG_ADMIN_URL)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    drop: () => withAdmin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined)
  }
}
