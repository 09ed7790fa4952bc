import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { describe, expect, it } from "vitest"
import { WebSocket, WebSocketServer } from "ws"
import { textFrame } from "./Frames.js"

describe("textFrame", () => {
  it("frames texts of every length class (7-, 16- and 64-bit lengths) as a real client reads them", async () => {
    const texts = [
      "",
      "x",
      "a".repeat(125),
      "b".repeat(126),
      "é".repeat(70), // 140 bytes: the length is in bytes, not characters
      "c".repeat(65_535),
      "d".repeat(65_536),
      `{"emoji":"${"🙂".repeat(30_000)}"}`
    ]
    const frames = texts.map(textFrame)
    expect(frames.map((f) => f[0])).toEqual(texts.map(() => 0x81))
    expect([frames[2]![1], frames[3]![1], frames[6]![1]]).toEqual([125, 126, 127])

    // The gateway's way: frames written straight to the upgraded socket, between ws's own sends.
    const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false })
    const server = createServer()
    server.on("upgrade", (req, socket, head) =>
      wss.handleUpgrade(req, socket, head, (ws) => {
        ws.send("first, through ws")
        for (const f of frames) socket.write(f)
        ws.send("last, through ws")
      })
    )
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    const { port } = server.address() as AddressInfo
    try {
      const got = await new Promise<Array<{ text: string; binary: boolean }>>((resolve, reject) => {
        const client = new WebSocket(`ws://127.0.0.1:${port}`, { maxPayload: 0 })
        const messages: Array<{ text: string; binary: boolean }> = []
        client.on("message", (data, binary) => {
          messages.push({ text: data.toString(), binary })
          if (messages.length === texts.length + 2) {
            client.close()
            resolve(messages)
          }
        })
        client.on("error", reject)
      })
      expect(got.map((m) => m.text)).toEqual(["first, through ws", ...texts, "last, through ws"])
      expect(got.every((m) => !m.binary)).toBe(true)
    } finally {
      wss.close()
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    }
  })
})
