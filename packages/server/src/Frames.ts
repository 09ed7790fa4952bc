/** WebSocket framing the gateway does itself, for messages sent to many sockets at once. */

/**
 * A whole unmasked text frame (RFC 6455 §5.2) for `text`. A server's frames are not masked,
 * so one event's frame is the same bytes for every socket: it is encoded once per event,
 * not once per delivery (what `ws.send` would do: byte length, header, UTF-8 copy, two
 * writes), and each delivery is one `write` of a shared buffer.
 */
export const textFrame = (text: string): Buffer => {
  const length = Buffer.byteLength(text)
  const head = length < 126 ? 2 : length < 65536 ? 4 : 10
  const frame = Buffer.allocUnsafe(head + length)
  frame[0] = 0x81 // FIN, opcode 1 (text)
  if (length < 126) frame[1] = length
  else if (length < 65536) {
    frame[1] = 126
    frame.writeUInt16BE(length, 2)
  } else {
    frame[1] = 127
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2)
    frame.writeUInt32BE(length >>> 0, 6)
  }
  frame.write(text, head, "utf8")
  return frame
}
