/** The SDK's HTTP client, derived from the contract, against a real server. */
import { createMurClient } from "@mur/client"
import { Effect, Either } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { uniqueEmail } from "./support/http.js"
import { startTestServer, type TestServer } from "./support/server.js"

describe("derived HTTP client", () => {
  let server: TestServer
  beforeAll(async () => {
    server = await startTestServer("sqlite")
  })
  afterAll(async () => {
    await server?.stop()
  })

  it("registers, reads /api/me with the token, and decodes contract errors into their classes", async () => {
    let token: string | undefined
    const client = await createMurClient({ baseUrl: server.url, token: () => token })
    const email = uniqueEmail("sdk")
    const reg = await Effect.runPromise(
      client.auth.register({ payload: { email, password: "sdk password", name: "Sdk" } })
    )
    expect(reg.user.email).toBe(email)
    token = reg.access_token
    const me = await Effect.runPromise(client.me.me())
    expect(me.user.id).toBe(reg.user.id)

    const dup = await Effect.runPromise(
      Effect.either(client.auth.register({ payload: { email, password: "sdk password", name: "Sdk" } }))
    )
    expect(Either.isLeft(dup)).toBe(true)
    if (Either.isLeft(dup)) {
      expect(dup.left).toMatchObject({ _tag: "Conflict", code: "email_taken" })
    }

    token = "not-a-token"
    const denied = await Effect.runPromise(Effect.either(client.me.me()))
    expect(Either.isLeft(denied) && denied.left).toMatchObject({ _tag: "Unauthorized", code: "unauthorized" })
  })
})
