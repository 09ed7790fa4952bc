/** Reads a test database directly, to check what the server stored (never to set up state). */
import Database from "better-sqlite3"
import pg from "pg"

export const queryDb = async <T = Record<string, unknown>>(
  url: string,
  sql: string,
  params: unknown[] = []
): Promise<T[]> => {
  if (url.startsWith("file:")) {
    const db = new Database(url.slice("file:".length), { readonly: true, fileMustExist: true })
    try {
      return db.prepare(sql.replace(/\$\d+/g, "?")).all(...params) as T[]
    } finally {
      db.close()
    }
  }
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query(sql, params)).rows as T[]
  } finally {
    await client.end()
  }
}
