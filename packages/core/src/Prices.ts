/**
 * The price table: what a million tokens of each kind cost for a model, used where an
 * assistant reports tokens but no cost (Gemini CLI, Codex) to compute one. A cost the
 * assistant reports always wins over a computed one; each record keeps which it is
 * (`cost_source`), and the totals say how much of their cost was computed.
 *
 * The table is the shipped defaults (`DEFAULT_PRICES`, dated `PRICES_AS_OF`) under the
 * operator's own rows (`mur-server admin prices set|unset`, stored in `model_prices`), which
 * win by model name. A model name from a payload is matched by its longest priced prefix
 * (`claude-sonnet-4-5-20250929` → `claude-sonnet-4-5`), after dropping a provider prefix
 * (`models/`, `openai/`, `us.anthropic.`…). The operator's rows are read once per ingest
 * batch that needs a price (one small query), so a change reaches every process at once; it
 * applies to usage recorded after it (recorded costs are never rewritten).
 *
 * Money is integers: prices are micro-dollars per million tokens, and a record's computed
 * cost is rounded to whole micro-dollars once.
 */
import { Effect } from "effect"
import { PriceRepo, type PriceRow } from "./PriceRepo.js"
import { now } from "./rows.js"

/** Dollars per million tokens, by kind. */
export interface ModelPrice {
  readonly input: number
  readonly output: number
  readonly cache_read: number
  readonly cache_write: number
}

/** The token breakdown a cost is computed from. */
export interface TokenCounts {
  readonly input: number
  readonly output: number
  readonly cacheRead: number
  readonly cacheWrite: number
}

export interface PriceEntry extends ModelPrice {
  readonly model: string
  /** `default`: shipped with this build; `operator`: set on this server. */
  readonly source: "default" | "operator"
  readonly updated_at: string | null
}

/** When the shipped defaults were compiled. */
export const PRICES_AS_OF = "2026-12-02"

const p = (input: number, output: number, cache_read: number, cache_write: number): ModelPrice => ({
  input,
  output,
  cache_read,
  cache_write
})

/**
 * Shipped list prices in dollars per million tokens (input, output, cache read, cache write),
 * for prompts within each vendor's standard context tier. Compiled on `PRICES_AS_OF` from the
 * vendors' published list prices as last known to the maintainers; check them against the
 * vendor's pricing page and override any with `mur-server admin prices set`.
 */
export const DEFAULT_PRICES: Readonly<Record<string, ModelPrice>> = {
  // Anthropic (cache write = 5-minute cache writes)
  "claude-opus-4-5": p(5, 25, 0.5, 6.25),
  "claude-opus-4-1": p(15, 75, 1.5, 18.75),
  "claude-opus-4": p(15, 75, 1.5, 18.75),
  "claude-sonnet-4-5": p(3, 15, 0.3, 3.75),
  "claude-sonnet-4": p(3, 15, 0.3, 3.75),
  "claude-3-7-sonnet": p(3, 15, 0.3, 3.75),
  "claude-haiku-4-5": p(1, 5, 0.1, 1.25),
  "claude-3-5-haiku": p(0.8, 4, 0.08, 1),
  // Google (context caching is billed per token read; storage is not a token cost)
  "gemini-3-pro": p(2, 12, 0.2, 0),
  "gemini-2.5-pro": p(1.25, 10, 0.125, 0),
  "gemini-2.5-flash": p(0.3, 2.5, 0.03, 0),
  "gemini-2.5-flash-lite": p(0.1, 0.4, 0.01, 0),
  "gemini-2.0-flash": p(0.1, 0.4, 0.025, 0),
  // OpenAI (cached input has no separate write price)
  "gpt-5": p(1.25, 10, 0.125, 0),
  "gpt-5-codex": p(1.25, 10, 0.125, 0),
  "gpt-5.1": p(1.25, 10, 0.125, 0),
  "gpt-5.1-codex": p(1.25, 10, 0.125, 0),
  "gpt-5-mini": p(0.25, 2, 0.025, 0),
  "gpt-5.1-codex-mini": p(0.25, 2, 0.025, 0),
  "gpt-5-nano": p(0.05, 0.4, 0.005, 0),
  "gpt-4.1": p(2, 8, 0.5, 0),
  o3: p(2, 8, 0.5, 0),
  "o4-mini": p(1.1, 4.4, 0.275, 0),
  "codex-mini-latest": p(1.5, 6, 0.375, 0)
}

/** A model name as the table keys it: lower case, without a provider prefix or version tail. */
export const normalizeModel = (model: string): string => {
  let m = model.trim().toLowerCase()
  const slash = m.lastIndexOf("/")
  if (slash >= 0) m = m.slice(slash + 1)
  for (const vendor of ["anthropic.", "google.", "openai."]) {
    const at = m.indexOf(vendor)
    if (at >= 0) m = m.slice(at + vendor.length)
  }
  return m
}

const BOUNDARY = /[-@:._\s]/

/** The entry of the longest key that `model` starts with (at a word boundary), if any. */
export const lookup = <A>(table: ReadonlyMap<string, A>, model: string): { key: string; value: A } | undefined => {
  const m = normalizeModel(model)
  const exact = table.get(m)
  if (exact !== undefined) return { key: m, value: exact }
  let best: { key: string; value: A } | undefined
  for (const [key, value] of table) {
    if (m.length > key.length && m.startsWith(key) && BOUNDARY.test(m[key.length]!)) {
      if (best === undefined || key.length > best.key.length) best = { key, value }
    }
  }
  return best
}

/** Micro-dollars per million tokens → cost of `tokens` tokens in micro-dollars (unrounded). */
const part = (tokens: number, dollarsPerMillion: number) => tokens * dollarsPerMillion

/** The cost of a token breakdown at a price, in whole micro-dollars. */
export const costMicros = (price: ModelPrice, t: TokenCounts): number =>
  Math.round(
    part(t.input, price.input) +
      part(t.output, price.output) +
      part(t.cacheRead, price.cache_read) +
      part(t.cacheWrite, price.cache_write)
  )

const toMicros = (dollars: number) => Math.round(dollars * 1_000_000)
const fromMicros = (micros: number) => micros / 1_000_000

const rowOf = (model: string, price: ModelPrice, at: string): PriceRow => ({
  model,
  input_micros: toMicros(price.input),
  output_micros: toMicros(price.output),
  cache_read_micros: toMicros(price.cache_read),
  cache_write_micros: toMicros(price.cache_write),
  updated_at: at
})

/** Largest price accepted, in dollars per million tokens. */
export const MAX_PRICE = 10_000

export class Prices extends Effect.Service<Prices>()("@mur/core/Prices", {
  effect: Effect.gen(function* () {
    const repo = yield* PriceRepo

    /** The effective table: the defaults under the operator's rows. */
    const table = Effect.map(repo.all, (rows) => {
      const table = new Map<string, PriceEntry>()
      for (const [model, price] of Object.entries(DEFAULT_PRICES)) {
        table.set(model, { model, ...price, source: "default", updated_at: null })
      }
      for (const r of rows) {
        table.set(r.model, {
          model: r.model,
          input: fromMicros(r.input_micros),
          output: fromMicros(r.output_micros),
          cache_read: fromMicros(r.cache_read_micros),
          cache_write: fromMicros(r.cache_write_micros),
          source: "operator",
          updated_at: r.updated_at
        })
      }
      return table as ReadonlyMap<string, PriceEntry>
    })

    /** Every price, by model name. */
    const list = Effect.map(table, (t) => [...t.values()].sort((a, b) => (a.model < b.model ? -1 : 1)))

    /** Sets the operator's price of a model (a new model, or over the shipped default). */
    const set = (model: string, price: ModelPrice) => repo.upsert(rowOf(normalizeModel(model), price, now()))

    /** Removes the operator's price of a model: the shipped default (if any) applies again. */
    const unset = (model: string) => repo.remove(normalizeModel(model))

    return { table, list, set, unset } as const
  }),
  dependencies: [PriceRepo.Default]
}) {}
