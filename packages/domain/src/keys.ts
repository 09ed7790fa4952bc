/** API keys and device login (Auth section of the contract). */
import { Schema } from "effect"
import { Timestamp } from "./models.js"
import { Text, TrimmedText } from "./text.js"

export const ApiKey = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  prefix: Schema.String,
  created_at: Timestamp,
  expires_at: Schema.NullOr(Timestamp),
  last_used_at: Schema.NullOr(Timestamp)
}).annotations({ identifier: "ApiKey" })
export type ApiKey = typeof ApiKey.Type

export const CreateKeyRequest = Schema.Struct({
  name: TrimmedText.pipe(
    Schema.minLength(1, { message: () => "name must not be empty" }),
    Schema.maxLength(100, { message: () => "name must be at most 100 characters" })
  ),
  expires_in_days: Schema.optional(Schema.Int.pipe(Schema.between(1, 3650)))
})

export const CreateKeyResponse = Schema.Struct({ key: ApiKey, token: Schema.String })
export const KeyList = Schema.Struct({ keys: Schema.Array(ApiKey) })
export const KeyIdParam = Schema.Struct({ id: Schema.UUID })

export const DeviceCodeRequest = Schema.Struct({
  client_name: Schema.optional(Text.pipe(Schema.maxLength(100)))
})

export const DeviceCodeResponse = Schema.Struct({
  device_code: Schema.String,
  user_code: Schema.String,
  verification_uri: Schema.String,
  verification_uri_complete: Schema.String,
  expires_in: Schema.Number,
  interval: Schema.Number
})
export type DeviceCodeResponse = typeof DeviceCodeResponse.Type

export const DeviceTokenRequest = Schema.Struct({ device_code: Text.pipe(Schema.minLength(1), Schema.maxLength(200)) })

export const DeviceApproveRequest = Schema.Struct({
  user_code: Text.pipe(Schema.minLength(1), Schema.maxLength(20)),
  approve: Schema.Boolean
})
