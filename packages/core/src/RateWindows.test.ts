import { describe, expect, it } from "vitest"
import { RateWindows } from "./RateWindows.js"

describe("RateWindows", () => {
  it("allows `limit` requests per key in the minute from the key's first request", () => {
    let now = 59_500 // half a second before a clock minute ends
    const limiter = new RateWindows(() => now)
    const decisions = Array.from({ length: 5 }, () => {
      const d = limiter.hit("ip:a", 3)
      now += 200 // the burst crosses the clock's minute boundary: it still counts as one window
      return d.allowed
    })
    expect(decisions).toEqual([true, true, true, false, false])
    expect(limiter.hit("ip:b", 3).allowed).toBe(true) // each key has its own window
  })

  it("says how long until the key's window ends, and opens a new one after it", () => {
    let now = 1_000_000
    const limiter = new RateWindows(() => now)
    limiter.hit("u", 1)
    now += 15_000
    expect(limiter.hit("u", 1)).toEqual({ allowed: false, retryAfter: 45 })
    now += 45_000
    expect(limiter.hit("u", 1)).toEqual({ allowed: true, retryAfter: 60 })
  })

  it("forgets ended windows, and never limits with a limit of 0", () => {
    let now = 0
    const limiter = new RateWindows(() => now)
    for (let i = 0; i < 100; i++) limiter.hit(`ip:${i}`, 10)
    expect(limiter.size).toBe(100)
    now += 61_000
    limiter.hit("ip:new", 10)
    expect(limiter.size).toBe(1)
    expect(Array.from({ length: 50 }, () => limiter.hit("x", 0).allowed).every(Boolean)).toBe(true)
  })
})
