/** How `/ws/sync` messages become text and back: the schemas of `@mur/domain`'s socket.ts. */
import { type SyncEvent, type SyncPatternEvent, SyncServerMessage } from "@mur/domain"
import { ParseResult, Schema } from "effect"

const encodeServer = Schema.encodeSync(SyncServerMessage)

/** A server message as sent: its schema's encoding (fields the schema does not name are dropped). */
export const serverText = (message: SyncServerMessage): string => JSON.stringify(encodeServer(message))

export const PONG = serverText({ type: "pong" })

/**
 * A log event as a message, written by hand rather than through the schema's encoder: this
 * runs once per event for the ring (and per socket on replay). The type keeps it the
 * schema's shape.
 */
export const eventText = (event: SyncEvent, actorName: string): string => {
  const user = { id: event.actor_id, name: actorName }
  const message: typeof SyncPatternEvent.Encoded =
    event.type === "pattern_deleted"
      ? { type: "pattern_deleted", seq: event.seq, pattern_id: event.pattern_id, version: event.version, user }
      : { type: event.type, seq: event.seq, pattern: event.pattern!, user }
  return JSON.stringify(message)
}

/** The first thing wrong with a message, naming the field: `channels.0: must be …`, `stat: is required`. */
export const issueText = (error: ParseResult.ParseError): string => {
  const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
  if (issue === undefined) return "the message is malformed"
  const message = issue._tag === "Missing" ? "is required" : issue.message
  return issue.path.length === 0 ? message : `${issue.path.join(".")}: ${message}`
}
