// Formatting of benchmark output; no dependencies, so client child processes can load it too.

/** A number with `digits` decimals, or "-" when there is none. */
export const fmt = (n, digits = 0) =>
  n === null || n === undefined || Number.isNaN(n) || !Number.isFinite(n) ? "-" : n.toFixed(digits)

/** A Markdown table: the first row is the header; the first column left-aligned, the others right. */
export const table = (rows) => {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)))
  const line = (r) =>
    `| ${r.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join(" | ")} |`
  const sep = `|${widths.map((w, i) => (i === 0 ? `:${"-".repeat(w + 1)}` : `${"-".repeat(w + 1)}:`)).join("|")}|`
  return [line(rows[0]), sep, ...rows.slice(1).map(line)].join("\n")
}
