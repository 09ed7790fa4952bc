import { describe, expect, it } from "vitest"
import { csvField, csvRow, formatMicros } from "./Csv.js"

describe("csv", () => {
  it("quotes only the fields that need it, doubling inner quotes", () => {
    expect(csvField("plain")).toBe("plain")
    expect(csvField(null)).toBe("")
    expect(csvField(42)).toBe("42")
    expect(csvField("a,b")).toBe('"a,b"')
    expect(csvField('say "hi"')).toBe('"say ""hi"""')
    expect(csvField("two\nlines")).toBe('"two\nlines"')
    expect(csvField("cr\rhere")).toBe('"cr\rhere"')
    expect(csvRow(["a", null, 'b"c', 1])).toBe('a,,"b""c",1\r\n')
  })

  it("writes micro-dollars as exact decimals", () => {
    expect(formatMicros(0)).toBe("0")
    expect(formatMicros(100_000)).toBe("0.1")
    expect(formatMicros(1)).toBe("0.000001")
    expect(formatMicros(123_456_789)).toBe("123.456789")
    expect(formatMicros(5_000_000)).toBe("5")
    expect(formatMicros(9_007_199_254_740_991)).toBe("9007199254.740991")
  })
})
