/** bcrypt on libuv's thread pool (never the event loop), at the configured cost. */
import { hash, verify } from "@node-rs/bcrypt"
import { Effect } from "effect"
import { EngineConfig } from "./Config.js"

export class Passwords extends Effect.Service<Passwords>()("@mur/core/Passwords", {
  effect: Effect.gen(function* () {
    const { bcryptCost } = yield* EngineConfig
    const hashPassword = (password: string) => Effect.promise(() => hash(password, { cost: bcryptCost }))
    const verifyPassword = (password: string, encoded: string) =>
      Effect.promise(() => verify(password, encoded)).pipe(Effect.orElseSucceed(() => false))
    // Checked against when the e-mail is unknown, so that both failures cost one bcrypt run.
    const decoy = yield* Effect.cached(hashPassword("decoy password that matches nothing"))
    const verifyNobody = (password: string) =>
      Effect.flatMap(decoy, (h) => verifyPassword(password, h)).pipe(Effect.as(false))
    return { hash: hashPassword, verify: verifyPassword, verifyNobody } as const
  })
}) {}
