/** RFC 4180 CSV: CRLF line ends, a field quoted when it holds a comma, quote, CR or LF. */

/** One field; `null` is the empty field. */
export const csvField = (value: string | number | null): string => {
  if (value === null) return ""
  const s = String(value)
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}

/** One record, with its CRLF. */
export const csvRow = (values: ReadonlyArray<string | number | null>): string => `${values.map(csvField).join(",")}\r\n`

/** Whole micro-dollars as an exact decimal number of dollars: 100000 → "0.1". */
export const formatMicros = (micros: number): string => {
  const sign = micros < 0 ? "-" : ""
  const abs = Math.abs(micros)
  const whole = Math.floor(abs / 1_000_000)
  const fraction = String(abs % 1_000_000)
    .padStart(6, "0")
    .replace(/0+$/, "")
  return fraction === "" ? `${sign}${whole}` : `${sign}${whole}.${fraction}`
}
