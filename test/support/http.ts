/** A small fetch wrapper for contract tests: status, headers and parsed JSON. */
export interface Reply<T = any> {
  readonly status: number
  readonly headers: Headers
  readonly json: T
  readonly text: string
}

export const request = async <T = any>(
  base: string,
  method: string,
  path: string,
  options: { body?: unknown; token?: string; headers?: Record<string, string> } = {}
): Promise<Reply<T>> => {
  const headers: Record<string, string> = { ...options.headers }
  if (options.body !== undefined) headers["content-type"] ??= "application/json"
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
  const res = await fetch(base + path, {
    method,
    headers,
    body:
      options.body === undefined
        ? undefined
        : typeof options.body === "string"
          ? options.body
          : JSON.stringify(options.body)
  })
  const text = await res.text()
  let json: any
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: res.status, headers: res.headers, json, text }
}

let counter = 0
export const uniqueEmail = (prefix = "user") => `${prefix}-${Date.now().toString(36)}-${++counter}@example.test`
