/**
 * The web dashboard: one HTML page, its script and its style sheet, read from
 * `packages/server/assets/` once (on the first request) and served as they are. The page
 * only talks to the JSON API and `/ws/sync`, so it needs no build step and no state here.
 */
import { readFileSync } from "node:fs"
import { HttpServerResponse } from "@effect/platform"

const ASSETS = new URL("../assets/", import.meta.url)

/** Scripts and styles from this origin only; nothing may frame the page. */
const HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache"
}

const FILES: Record<string, { readonly file: string; readonly contentType: string }> = {
  "/dashboard": { file: "dashboard.html", contentType: "text/html; charset=utf-8" },
  "/dashboard.js": { file: "dashboard.js", contentType: "text/javascript; charset=utf-8" },
  "/dashboard.css": { file: "dashboard.css", contentType: "text/css; charset=utf-8" },
  "/set-password": { file: "set-password.html", contentType: "text/html; charset=utf-8" },
  "/set-password.js": { file: "set-password.js", contentType: "text/javascript; charset=utf-8" }
}

const cache = new Map<string, string>()

/** The dashboard's response for a GET of `path`, or undefined when the path is not one of its files. */
export const dashboardResponse = (path: string): HttpServerResponse.HttpServerResponse | undefined => {
  if (path === "/" || path === "/dashboard/") {
    return HttpServerResponse.empty({ status: 302, headers: { location: "/dashboard" } })
  }
  const entry = FILES[path]
  if (entry === undefined) return undefined
  let body = cache.get(entry.file)
  if (body === undefined) {
    body = readFileSync(new URL(entry.file, ASSETS), "utf8")
    cache.set(entry.file, body)
  }
  return HttpServerResponse.text(body, { contentType: entry.contentType, headers: HEADERS })
}
