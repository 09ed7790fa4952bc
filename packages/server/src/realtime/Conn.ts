/** A `/ws/sync` connection: what the hub needs of it, and what the gateway adds. */
import type { Duplex } from "node:stream"
import type { ActiveTeam } from "@mur/core"
import type { SyncChannel, User } from "@mur/domain"
import type { WebSocket } from "ws"

/** What the hub uses of a WebSocket: `ws`'s `WebSocket`, or a fake in tests. */
export interface SocketLike {
  /** Bytes written and not yet sent (the socket's buffer included). */
  readonly bufferedAmount: number
  readonly readyState: number
  send(text: string): void
  close(code: number, reason: string): void
  terminate(): void
}

/** The byte stream under the WebSocket: ring events are written to it as finished frames. */
export interface FrameSink {
  write(frame: Buffer): unknown
}

export interface HubConn {
  readonly ws: SocketLike
  readonly raw: FrameSink
  readonly teamId: string
  readonly userId: string
  /** What the socket was opened with: `session:<id>` (access token) or `api_key:<id>`. */
  readonly credential: string
  channels: ReadonlySet<SyncChannel>
  /** Last seq sent (patterns channel), or -1 before subscribing to it. */
  cursor: number
  pumping: boolean
  closed: boolean
}

export interface Conn extends HubConn {
  readonly id: string
  readonly ws: WebSocket
  /** The socket under `ws`. */
  readonly raw: Duplex
  readonly user: User
  readonly active: ActiveTeam
  readonly deviceId: string
  lastSeen: number
  /** The socket's messages are handled one after another, in the order they came. */
  inbox: Promise<void>
  /** Messages received and not yet handled; at the inbox limit the socket stops reading. */
  waiting: number
}
