/** Request and response bodies of the Auth section of the contract. */
import { Schema } from "effect"
import { TeamMembership, User } from "./models.js"
import { TrimmedText } from "./text.js"

const encoder = new TextEncoder()
const utf8Length = (s: string) => encoder.encode(s).length

/** Trimmed, lower-cased e-mail address. */
export const Email = TrimmedText.pipe(
  Schema.compose(Schema.Lowercase),
  Schema.maxLength(254, { message: () => "email must be at most 254 characters" }),
  Schema.pattern(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, { message: () => "email must be a valid e-mail address" })
).annotations({ description: "E-mail address; trimmed and lower-cased" })

/** 8 to 72 bytes of UTF-8 (bcrypt reads no further than 72). */
export const Password = Schema.String.pipe(
  Schema.filter((s) => utf8Length(s) >= 8 || "password must be at least 8 bytes"),
  Schema.filter((s) => utf8Length(s) <= 72 || "password must be at most 72 bytes")
).annotations({ description: "8 to 72 bytes of UTF-8" })

export const DisplayName = TrimmedText.pipe(
  Schema.minLength(1, { message: () => "name must not be empty" }),
  Schema.maxLength(100, { message: () => "name must be at most 100 characters" })
)

export const RegisterRequest = Schema.Struct({ email: Email, password: Password, name: DisplayName })
export type RegisterRequest = typeof RegisterRequest.Type

export const LoginRequest = Schema.Struct({
  email: Email,
  password: Schema.String.pipe(Schema.maxLength(1024))
})
export type LoginRequest = typeof LoginRequest.Type

export const RefreshRequest = Schema.Struct({ refresh_token: Schema.String.pipe(Schema.maxLength(512)) })

export const TokenPair = Schema.Struct({
  access_token: Schema.String,
  refresh_token: Schema.String,
  expires_in: Schema.Number
})
export type TokenPair = typeof TokenPair.Type

export const LoginResponse = Schema.Struct({
  user: User,
  access_token: Schema.String,
  refresh_token: Schema.String,
  expires_in: Schema.Number
})
export type LoginResponse = typeof LoginResponse.Type

export const Success = Schema.Struct({ success: Schema.Literal(true) })

export const MeResponse = Schema.Struct({ user: User, teams: Schema.Array(TeamMembership) })
export type MeResponse = typeof MeResponse.Type

/** Sets a password through a one-time link made by a server admin (`/set-password`). */
export const SetPasswordRequest = Schema.Struct({
  token: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200)),
  password: Password
})
