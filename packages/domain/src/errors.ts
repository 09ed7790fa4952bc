/**
 * Every error the HTTP contract can answer with, in one place.
 *
 * Each class is a `Schema.TaggedError` with the contract's `code` and carries its HTTP
 * status. On the wire an error is always the envelope
 * `{"error": {"code", "message", "request_id"?, "details"?}}`: `ApiErrorSchemas` below are
 * the same classes transformed to that shape, so the server encodes and the derived
 * client decodes the exact body the contract names.
 */
import { HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"
import { Pattern } from "./patterns.js"

export const ErrorDetail = Schema.Struct({ path: Schema.String, message: Schema.String })
export type ErrorDetail = typeof ErrorDetail.Type

export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()("InvalidRequest", {
  code: Schema.Literal("invalid_request", "authorization_pending", "slow_down", "expired_token", "access_denied"),
  message: Schema.String,
  details: Schema.optional(Schema.Array(ErrorDetail))
}) {
  static invalid(message: string, details?: ReadonlyArray<ErrorDetail>) {
    return new InvalidRequest({ code: "invalid_request", message, details })
  }
}

export class Unauthorized extends Schema.TaggedError<Unauthorized>()("Unauthorized", {
  code: Schema.Literal("unauthorized", "invalid_credentials", "token_expired", "token_reused"),
  message: Schema.String
}) {}

export class Forbidden extends Schema.TaggedError<Forbidden>()("Forbidden", {
  code: Schema.Literal("forbidden", "plan_limit", "signup_disabled"),
  message: Schema.String
}) {}

export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", {
  code: Schema.Literal("not_found", "not_in_team", "invalid_invite"),
  message: Schema.String
}) {}

export class Conflict extends Schema.TaggedError<Conflict>()("Conflict", {
  code: Schema.Literal("email_taken", "already_in_team", "name_taken", "last_admin"),
  message: Schema.String
}) {}

/** A stale `base_version`: carries the pattern as it is now. */
export class VersionConflict extends Schema.TaggedError<VersionConflict>()("VersionConflict", {
  code: Schema.Literal("version_conflict"),
  message: Schema.String,
  current: Pattern
}) {}

export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()("PayloadTooLarge", {
  code: Schema.Literal("payload_too_large"),
  message: Schema.String
}) {}

export class RateLimited extends Schema.TaggedError<RateLimited>()("RateLimited", {
  code: Schema.Literal("rate_limited"),
  message: Schema.String,
  retry_after: Schema.Number
}) {}

export class Unavailable extends Schema.TaggedError<Unavailable>()("Unavailable", {
  code: Schema.Literal("unavailable"),
  message: Schema.String
}) {}

export class InternalError extends Schema.TaggedError<InternalError>()("InternalError", {
  code: Schema.Literal("internal_error"),
  message: Schema.String
}) {}

/** The error envelope for a class whose fields are `{code, message, details?}`. */
const envelope = <A extends { readonly code: string; readonly message: string }, I, R, C extends Schema.Schema.Any>(
  errorClass: Schema.Schema<A, I, R> & { new (props: any): A },
  codes: C,
  status: number
) =>
  Schema.transform(
    Schema.Struct({
      error: Schema.Struct({
        code: codes,
        message: Schema.String,
        request_id: Schema.optional(Schema.String),
        details: Schema.optional(Schema.Array(ErrorDetail))
      })
    }),
    Schema.typeSchema(errorClass),
    {
      strict: false,
      decode: (body: any) =>
        new errorClass({
          code: body.error.code,
          message: body.error.message,
          ...(body.error.details ? { details: body.error.details } : {})
        }),
      encode: (error: any) => ({
        error: {
          code: error.code,
          message: error.message,
          ...(error.details ? { details: error.details } : {})
        }
      })
    }
  ).annotations(HttpApiSchema.annotations({ status }))

export const InvalidRequestError = envelope(InvalidRequest, InvalidRequest.fields.code, 400)
export const UnauthorizedError = envelope(Unauthorized, Unauthorized.fields.code, 401)
export const ForbiddenError = envelope(Forbidden, Forbidden.fields.code, 403)
export const NotFoundError = envelope(NotFound, NotFound.fields.code, 404)
export const ConflictError = envelope(Conflict, Conflict.fields.code, 409)
export const PayloadTooLargeError = envelope(PayloadTooLarge, PayloadTooLarge.fields.code, 413)
export const UnavailableError = envelope(Unavailable, Unavailable.fields.code, 503)
export const InternalErrorError = envelope(InternalError, InternalError.fields.code, 500)

export const VersionConflictError = Schema.transform(
  Schema.Struct({
    error: Schema.Struct({
      code: Schema.Literal("version_conflict"),
      message: Schema.String,
      request_id: Schema.optional(Schema.String),
      current: Pattern
    })
  }),
  Schema.typeSchema(VersionConflict),
  {
    strict: false,
    decode: (body: any) =>
      new VersionConflict({ code: body.error.code, message: body.error.message, current: body.error.current }),
    encode: (error: any) => ({ error: { code: error.code, message: error.message, current: error.current } })
  }
).annotations(HttpApiSchema.annotations({ status: 409 }))

/**
 * 429: a call over a rate limit. The seconds to wait are in the `Retry-After` header and, so
 * that a client decoding the body has them too, in `error.retry_after`.
 */
export const RateLimitedError = Schema.transform(
  Schema.Struct({
    error: Schema.Struct({
      code: Schema.Literal("rate_limited"),
      message: Schema.String,
      request_id: Schema.optional(Schema.String),
      retry_after: Schema.Number
    })
  }),
  Schema.typeSchema(RateLimited),
  {
    strict: false,
    decode: (body: any) =>
      new RateLimited({ code: body.error.code, message: body.error.message, retry_after: body.error.retry_after }),
    encode: (error: any) => ({
      error: { code: error.code, message: error.message, retry_after: error.retry_after }
    })
  }
).annotations(HttpApiSchema.annotations({ status: 429 }))
