import { describe, expect, it } from "vitest"
import { readEnvVariable, removeEnvVariable, setEnvVariable } from "./DotEnv.js"

const V = "OTEL_EXPORTER_OTLP_HEADERS"

describe(".env files", () => {
  it("adds the line at the end and keeps every other line", () => {
    expect(setEnvVariable(undefined, V, "Authorization=Bearer k")).toBe(`${V}="Authorization=Bearer k"\n`)
    expect(setEnvVariable("# mine\nGEMINI_API_KEY=abc", V, "x")).toBe(`# mine\nGEMINI_API_KEY=abc\n${V}="x"\n`)
    expect(setEnvVariable("A=1\r\n", V, "x")).toBe(`A=1\r\n${V}="x"\r\n`)
  })

  it("replaces the variable's line in place (export form too) and drops its repeats", () => {
    const text = `A=1\nexport ${V}=old\nB=2\n${V}="older"\n`
    expect(setEnvVariable(text, V, "new")).toBe(`A=1\n${V}="new"\nB=2\n`)
    expect(setEnvVariable(`${V}_X=keep\n`, V, "v")).toBe(`${V}_X=keep\n${V}="v"\n`)
  })

  it("reads the last value, quoted or not, and removes only that variable", () => {
    expect(readEnvVariable(`${V}=a\n${V}='b c'\n`, V)).toBe("b c")
    expect(readEnvVariable(`${V}=plain # note\n`, V)).toBe("plain")
    expect(readEnvVariable("A=1\n", V)).toBeUndefined()
    expect(removeEnvVariable(`# mine\n${V}="x"\nA=1\n`, V)).toBe("# mine\nA=1\n")
    expect(removeEnvVariable(`${V}="x"\n`, V)).toBe("")
  })

  it("refuses a value that would need escaping", () => {
    expect(() => setEnvVariable("", V, 'a"b')).toThrow(/escaping/)
  })
})
