/** Set-up helpers for suites that need users in teams. */
import { expect } from "vitest"
import { request, uniqueEmail } from "./http.js"

export interface TestUser {
  readonly email: string
  readonly token: string
  readonly id: string
  readonly name: string
}

export const registerUser = async (base: string, name = "User"): Promise<TestUser> => {
  const email = uniqueEmail(name.toLowerCase().replace(/\W/g, ""))
  const r = await request(base, "POST", "/auth/register", { body: { email, password: "test password", name } })
  expect(r.status, r.text).toBe(201)
  return { email, token: r.json.access_token, id: r.json.user.id, name }
}

/** A team with an admin and `members` members. */
export const makeTeam = async (base: string, members = 0, name = "Team") => {
  const admin = await registerUser(base, "Admin")
  const created = await request(base, "POST", "/api/team", { token: admin.token, body: { name } })
  expect(created.status, created.text).toBe(201)
  const others: TestUser[] = []
  for (let i = 0; i < members; i++) {
    const user = await registerUser(base, `Member ${i}`)
    const inv = await request(base, "POST", "/api/team/invite", { token: admin.token, body: { email: user.email } })
    const joined = await request(base, "POST", "/api/team/join", {
      token: user.token,
      body: { invite_code: inv.json.invite_code }
    })
    expect(joined.status, joined.text).toBe(200)
    others.push(user)
  }
  return { team: created.json.team as { id: string; slug: string }, admin, members: others }
}
