/** Owns `model_prices`: the operator's prices, which override the shipped defaults by model. */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export interface PriceRow {
  readonly model: string
  /** Micro-dollars per million tokens (= dollars per token, exactly). */
  readonly input_micros: number
  readonly output_micros: number
  readonly cache_read_micros: number
  readonly cache_write_micros: number
  readonly updated_at: string
}

export class PriceRepo extends Effect.Service<PriceRepo>()("@mur/core/PriceRepo", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient

    const all = sql<PriceRow>`
      SELECT model, input_micros, output_micros, cache_read_micros, cache_write_micros, updated_at
      FROM model_prices ORDER BY model`.pipe(
      Effect.map((rows) =>
        rows.map((r) => ({
          ...r,
          input_micros: Number(r.input_micros),
          output_micros: Number(r.output_micros),
          cache_read_micros: Number(r.cache_read_micros),
          cache_write_micros: Number(r.cache_write_micros),
          updated_at: new Date(r.updated_at).toISOString()
        }))
      )
    )

    const upsert = (row: PriceRow) =>
      sql`
        INSERT INTO model_prices ${sql.insert(row as any)}
        ON CONFLICT (model) DO UPDATE SET
          input_micros = excluded.input_micros,
          output_micros = excluded.output_micros,
          cache_read_micros = excluded.cache_read_micros,
          cache_write_micros = excluded.cache_write_micros,
          updated_at = excluded.updated_at`.pipe(Effect.asVoid)

    /** Deletes the operator's price of a model; whether there was one. */
    const remove = (model: string) =>
      sql<{ model: string }>`DELETE FROM model_prices WHERE model = ${model} RETURNING model`.pipe(
        Effect.map((rows) => rows.length > 0)
      )

    return { all, upsert, remove } as const
  })
}) {}
