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

/**
 * Writes to a test database directly, for state no route can make (a team's plan, rows
 * that expired long ago). Returns the number of rows changed.
 */
export const execDb = async (url: string, sql: string, params: unknown[] = []): Promise<number> => {
  if (url.startsWith("file:")) {
    const db = new Database(url.slice("file:".length), { fileMustExist: true })
    try {
      db.pragma("busy_timeout = 5000")
      return db.prepare(sql.replace(/\$\d+/g, "?")).run(...params).changes
    } finally {
      db.close()
    }
  }
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query(sql, params)).rowCount ?? 0
  } finally {
    await client.end()
  }
}
