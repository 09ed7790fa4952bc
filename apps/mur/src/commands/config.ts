/** `mur config server <url> | --clear`, `mur config set <key> <value>`, `mur config show`. */
import { Effect, Option } from "effect"
import { loadCredentials } from "../AuthStore.js"
import { Cli } from "../Cli.js"
import { loadConfig, normalizeServerUrl, parseConfigKey, parseConfigValue } from "../Config.js"
import { attempt, usageError } from "../errors.js"

export const configServer = (args: { readonly url: Option.Option<string>; readonly clear: boolean }) =>
  Effect.gen(function* () {
    const { home, out } = yield* Cli
    const config = yield* attempt(() => loadConfig(home.config))
    if (args.clear) {
      if (Option.isSome(args.url)) return yield* usageError("give either a URL or --clear, not both")
      yield* attempt(() => {
        config.delete(["server", "url"])
        config.save()
      }, "cannot save config.yaml")
      return out.result("Server cleared: mur works locally (git sharing) until a server is set.", {
        server: { url: null }
      })
    }
    if (Option.isNone(args.url)) {
      const url = config.server.url ?? null
      return out.result(url ?? "No server configured (set one with `mur config server <url>`).", { server: { url } })
    }
    const raw = args.url.value
    const url = yield* attempt(() => normalizeServerUrl(raw))
    yield* attempt(() => {
      config.set(["server", "url"], url)
      config.save()
    }, "cannot save config.yaml")
    const credentials = yield* attempt(() => loadCredentials(home.auth))
    if (credentials?.server !== undefined && credentials.server !== url) {
      out.note(`Your login is for ${credentials.server}; if ${url} is another server, run \`mur login\`.`)
    }
    out.result(`Server set to ${url}`, { server: { url } })
  })

export const configSet = (args: { readonly key: string; readonly value: string }) =>
  Effect.gen(function* () {
    const { home, out } = yield* Cli
    const path = yield* attempt(() => parseConfigKey(args.key))
    const value = yield* attempt(() => parseConfigValue(path, args.value))
    yield* attempt(() => {
      const config = loadConfig(home.config)
      config.set(path, value)
      config.save()
    }, "cannot save config.yaml")
    out.result(`${args.key} = ${typeof value === "string" ? value : JSON.stringify(value)}`, { key: args.key, value })
  })

export const configShow = Effect.gen(function* () {
  const { home, out } = yield* Cli
  const config = yield* attempt(() => loadConfig(home.config))
  const text = config.toYAML().trimEnd()
  if (!out.json) out.note(out.dim(`# ${home.config}`))
  out.result(text === "" || text === "{}" ? "(empty configuration)" : text, config.toJSON())
})
