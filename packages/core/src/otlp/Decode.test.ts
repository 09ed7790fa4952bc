import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { gzipSync } from "node:zlib"
import { describe, expect, it } from "@effect/vitest"
import { context, TraceFlags, trace, ValueType } from "@opentelemetry/api"
import {
  JsonLogsSerializer,
  JsonMetricsSerializer,
  ProtobufLogsSerializer,
  ProtobufMetricsSerializer
} from "@opentelemetry/otlp-transformer"
import { resourceFromAttributes } from "@opentelemetry/resources"
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from "@opentelemetry/sdk-logs"
import { AggregationTemporality, MeterProvider, MetricReader, type ResourceMetrics } from "@opentelemetry/sdk-metrics"
import { Effect, Either } from "effect"
import protobuf from "protobufjs"
import * as Otlp from "./Decode.js"
import { otlpDescriptor } from "./descriptor.js"

/** The attributes of the Claude-Code-shaped `api_request` event the tests emit. */
const API_REQUEST = {
  "event.name": "api_request",
  "event.timestamp": "2026-12-02T10:00:00.123Z",
  "session.id": "s-1",
  model: "claude-sonnet-4-5",
  input_tokens: 1200,
  output_tokens: 340,
  cache_read_tokens: 5000,
  cost_usd: 0.0123,
  duration_ms: 2150,
  request_id: "req_011abc"
}

const PROTO = "application/x-protobuf"
const JSON_TYPE = "application/json"
const LIMIT = 1024 * 1024

class ManualReader extends MetricReader {
  protected override async onShutdown() {}
  protected override async onForceFlush() {}
}

const claudeResource = resourceFromAttributes({
  "service.name": "claude-code",
  "service.version": "2.1.214",
  "os.type": "linux",
  "host.arch": "x64"
})

/** Claude-Code-shaped metrics collected by a real MeterProvider with the given temporality. */
const collectClaudeMetrics = async (temporality: AggregationTemporality): Promise<ResourceMetrics> => {
  const reader = new ManualReader({ aggregationTemporalitySelector: () => temporality })
  const provider = new MeterProvider({ resource: claudeResource, readers: [reader] })
  const meter = provider.getMeter("com.anthropic.claude_code", "2.1.214")
  const tokens = meter.createCounter("claude_code.token.usage", { unit: "tokens" })
  const cost = meter.createCounter("claude_code.cost.usage", { unit: "USD" })
  const base = { "session.id": "s-1", "user.id": "u-anon", model: "claude-sonnet-4-5" }
  tokens.add(1200, { ...base, type: "input" })
  tokens.add(340, { ...base, type: "output" })
  tokens.add(5000, { ...base, type: "cacheRead" })
  tokens.add(800, { ...base, type: "cacheCreation" })
  cost.add(0.0123, base)
  const { resourceMetrics, errors } = await reader.collect()
  expect(errors).toEqual([])
  await provider.shutdown()
  return resourceMetrics
}

/** Claude-Code-shaped api_request events from a real LoggerProvider. */
const collectClaudeLogs = async () => {
  const exporter = new InMemoryLogRecordExporter()
  const provider = new LoggerProvider({
    resource: claudeResource,
    processors: [new SimpleLogRecordProcessor({ exporter })]
  })
  const logger = provider.getLogger("com.anthropic.claude_code.events", "2.1.214")
  logger.emit({
    context: trace.setSpanContext(context.active(), {
      traceId: "5b8efff798038103d269b633813fc60c",
      spanId: "eee19b7ec3c1b174",
      traceFlags: TraceFlags.SAMPLED
    }),
    timestamp: new Date("2026-12-02T10:00:00.123Z"),
    body: "claude_code.api_request",
    attributes: API_REQUEST
  })
  logger.emit({
    eventName: "gemini_cli.api_response",
    body: { nested: ["a", 1, true] },
    attributes: { model: "gemini-2.5-pro", input_token_count: 10 }
  })
  await provider.forceFlush()
  const records = exporter.getFinishedLogRecords()
  expect(records).toHaveLength(2)
  await provider.shutdown()
  return records
}

const decodeMetrics = (body: Uint8Array, contentType: string, contentEncoding?: string, maxBytes = LIMIT) =>
  Otlp.decodeMetrics(body, { contentType, contentEncoding, maxBytes })

const decodeLogs = (body: Uint8Array, contentType: string, contentEncoding?: string, maxBytes = LIMIT) =>
  Otlp.decodeLogs(body, { contentType, contentEncoding, maxBytes })

const metricsBodies = (rm: ResourceMetrics) => ({
  proto: ProtobufMetricsSerializer.serializeRequest(rm)!,
  json: JsonMetricsSerializer.serializeRequest(rm)!
})

const sumOf = (request: Otlp.MetricsRequest, name: string) => {
  const metric = request.resourceMetrics[0]!.scopeMetrics[0]!.metrics.find((m) => m.name === name)
  if (metric?.data.type !== "sum") throw new Error(`no sum ${name}`)
  return metric.data
}

describe("Otlp.decodeMetrics", () => {
  it.effect("protobuf and JSON from the official serializers decode to the same shape", () =>
    Effect.gen(function* () {
      const rm = yield* Effect.promise(() => collectClaudeMetrics(AggregationTemporality.DELTA))
      const { proto, json } = metricsBodies(rm)
      const fromProto = yield* decodeMetrics(proto, PROTO)
      const fromJson = yield* decodeMetrics(json, "application/json; charset=utf-8")
      expect(fromJson).toEqual(fromProto)

      const [resourceMetrics] = fromProto.resourceMetrics
      expect(resourceMetrics!.resource.attributes).toMatchObject({
        "service.name": "claude-code",
        "service.version": "2.1.214",
        "os.type": "linux"
      })
      const scope = resourceMetrics!.scopeMetrics[0]!
      expect(scope.scope).toMatchObject({ name: "com.anthropic.claude_code", version: "2.1.214" })

      const tokens = sumOf(fromProto, "claude_code.token.usage")
      expect(tokens.aggregationTemporality).toBe("delta")
      expect(tokens.isMonotonic).toBe(true)
      const byType = Object.fromEntries(tokens.dataPoints.map((p) => [p.attributes.type, p.value]))
      expect(byType).toEqual({ input: 1200, output: 340, cacheRead: 5000, cacheCreation: 800 })
      const point = tokens.dataPoints[0]!
      expect(point.attributes).toMatchObject({ model: "claude-sonnet-4-5", "session.id": "s-1" })
      expect(point.startTimeUnixNano).toMatch(/^\d{19}$/)
      expect(point.timeUnixNano).toMatch(/^\d{19}$/)
      expect(BigInt(point.timeUnixNano) >= BigInt(point.startTimeUnixNano)).toBe(true)
      expect(scope.metrics.find((m) => m.name === "claude_code.token.usage")!.unit).toBe("tokens")

      const cost = sumOf(fromProto, "claude_code.cost.usage")
      expect(cost.dataPoints[0]!.value).toBeCloseTo(0.0123, 10)
    })
  )

  it.effect("keeps cumulative temporality", () =>
    Effect.gen(function* () {
      const rm = yield* Effect.promise(() => collectClaudeMetrics(AggregationTemporality.CUMULATIVE))
      const { proto, json } = metricsBodies(rm)
      for (const [body, type] of [
        [proto, PROTO],
        [json, JSON_TYPE]
      ] as const) {
        const decoded = yield* decodeMetrics(body, type)
        expect(sumOf(decoded, "claude_code.token.usage").aggregationTemporality).toBe("cumulative")
      }
    })
  )

  it.effect("inflates gzip bodies of both encodings", () =>
    Effect.gen(function* () {
      const rm = yield* Effect.promise(() => collectClaudeMetrics(AggregationTemporality.DELTA))
      const { proto, json } = metricsBodies(rm)
      const plain = yield* decodeMetrics(proto, PROTO)
      expect(yield* decodeMetrics(gzipSync(proto), PROTO, "gzip")).toEqual(plain)
      expect(yield* decodeMetrics(gzipSync(json), JSON_TYPE, "GZIP")).toEqual(plain)
    })
  )

  it.effect("keeps gauge, up-down sum and histogram points, NaN and negative values included", () =>
    Effect.gen(function* () {
      const reader = new ManualReader()
      const provider = new MeterProvider({ resource: claudeResource, readers: [reader] })
      const meter = provider.getMeter("test")
      meter.createUpDownCounter("negative.sum", { valueType: ValueType.INT }).add(-5, { k: "v" })
      meter.createGauge("nan.gauge").record(Number.NaN)
      meter.createHistogram("claude_code.duration", { unit: "ms" }).record(2150)
      const { resourceMetrics } = yield* Effect.promise(() => reader.collect())
      yield* Effect.promise(() => provider.shutdown())
      const { proto, json } = metricsBodies(resourceMetrics)
      const fromProto = yield* decodeMetrics(proto, PROTO)
      const fromJson = yield* decodeMetrics(json, JSON_TYPE)
      for (const decoded of [fromProto, fromJson]) {
        const metrics = decoded.resourceMetrics[0]!.scopeMetrics[0]!.metrics
        const byName = Object.fromEntries(metrics.map((m) => [m.name, m.data]))
        const negative = byName["negative.sum"]!
        expect(negative).toMatchObject({ type: "sum", isMonotonic: false, aggregationTemporality: "cumulative" })
        expect(negative.type === "sum" && negative.dataPoints[0]).toMatchObject({ value: -5, valueType: "int" })
        const gauge = byName["nan.gauge"]!
        expect(gauge.type).toBe("gauge")
        // The JSON serializer writes NaN as null; both decode to NaN, never to 0.
        expect(gauge.type === "gauge" && Number.isNaN(gauge.dataPoints[0]!.value)).toBe(true)
        const histogram = byName["claude_code.duration"]!
        expect(histogram.type).toBe("histogram")
        if (histogram.type !== "histogram") return
        expect(histogram.dataPoints[0]).toMatchObject({ count: 1, sum: 2150, min: 2150, max: 2150 })
        expect(histogram.dataPoints[0]!.bucketCounts.reduce((a, b) => a + b, 0)).toBe(1)
        expect(histogram.dataPoints[0]!.explicitBounds.length).toBe(histogram.dataPoints[0]!.bucketCounts.length - 1)
      }
    })
  )

  it.effect("reads the other forms the OTLP JSON mapping allows", () =>
    Effect.gen(function* () {
      const body = new TextEncoder().encode(
        JSON.stringify({
          resourceMetrics: [
            {
              resource: { attributes: [{ key: "service.name", value: { stringValue: "codex" } }] },
              scopeMetrics: [
                {
                  metrics: [
                    {
                      name: "codex.turn.token_usage",
                      sum: {
                        aggregationTemporality: "AGGREGATION_TEMPORALITY_DELTA",
                        isMonotonic: true,
                        dataPoints: [
                          {
                            asInt: "1500",
                            timeUnixNano: 1796206707758000000,
                            startTimeUnixNano: "1796206700000000000"
                          },
                          { asInt: 7, timeUnixNano: "1796206707758000001" },
                          { asDouble: "NaN" },
                          { asDouble: "-Infinity" },
                          {}
                        ]
                      }
                    }
                  ]
                }
              ]
            }
          ]
        })
      )
      const decoded = yield* decodeMetrics(body, JSON_TYPE)
      const sum = sumOf(decoded, "codex.turn.token_usage")
      expect(sum.aggregationTemporality).toBe("delta")
      expect(sum.dataPoints.map((p) => p.value)).toEqual([1500, 7, Number.NaN, Number.NEGATIVE_INFINITY, null])
      expect(sum.dataPoints[0]!.startTimeUnixNano).toBe("1796206700000000000")
      expect(sum.dataPoints[1]!.timeUnixNano).toBe("1796206707758000001")
      expect(sum.dataPoints[4]!).toMatchObject({ valueType: "none", timeUnixNano: "0" })
    })
  )

  it.effect("an empty request is a valid, empty request", () =>
    Effect.gen(function* () {
      expect(yield* decodeMetrics(new Uint8Array(0), PROTO)).toEqual({ resourceMetrics: [] })
      expect(yield* decodeMetrics(new TextEncoder().encode("{}"), JSON_TYPE)).toEqual({ resourceMetrics: [] })
    })
  )
})

describe("Otlp.decodeLogs", () => {
  it.effect("protobuf and JSON from the official serializers decode to the same shape", () =>
    Effect.gen(function* () {
      const records = yield* Effect.promise(collectClaudeLogs)
      const proto = ProtobufLogsSerializer.serializeRequest(records)!
      const json = JsonLogsSerializer.serializeRequest(records)!
      const fromProto = yield* decodeLogs(proto, PROTO)
      const fromJson = yield* decodeLogs(json, JSON_TYPE)
      expect(fromJson).toEqual(fromProto)
      expect(yield* decodeLogs(gzipSync(proto), PROTO, "gzip")).toEqual(fromProto)

      const resourceLogs = fromProto.resourceLogs[0]!
      expect(resourceLogs.resource.attributes["service.name"]).toBe("claude-code")
      const scopeLogs = resourceLogs.scopeLogs[0]!
      expect(scopeLogs.scope.name).toBe("com.anthropic.claude_code.events")
      const [request, gemini] = scopeLogs.logRecords
      expect(request!.body).toBe("claude_code.api_request")
      expect(request!.eventName).toBeUndefined()
      // bytes on the wire, hex in JSON: both come out as the same lower-case hex
      expect(request!.traceId).toBe("5b8efff798038103d269b633813fc60c")
      expect(request!.spanId).toBe("eee19b7ec3c1b174")
      expect(request!.flags).toBe(1)
      expect(request!.timeUnixNano).toBe("1796205600123000000")
      expect(request!.attributes).toEqual(API_REQUEST)
      expect(gemini!.eventName).toBe("gemini_cli.api_response")
      expect(gemini!.body).toEqual({ nested: ["a", 1, true] })
      expect(gemini!.attributes).toEqual({ model: "gemini-2.5-pro", input_token_count: 10 })
    })
  )

  it.effect("reads hex ids, base64 bytes, string ints and severity names from JSON", () =>
    Effect.gen(function* () {
      const body = new TextEncoder().encode(
        JSON.stringify({
          resourceLogs: [
            {
              scopeLogs: [
                {
                  logRecords: [
                    {
                      timeUnixNano: "1796205600123000000",
                      severityNumber: "SEVERITY_NUMBER_INFO",
                      traceId: "5B8EFFF798038103D269B633813FC60C",
                      spanId: "EEE19B7EC3C1B174",
                      body: { bytesValue: "AQID" },
                      attributes: [{ key: "input_tokens", value: { intValue: "1200" } }]
                    }
                  ]
                }
              ]
            }
          ]
        })
      )
      const decoded = yield* decodeLogs(body, JSON_TYPE)
      const record = decoded.resourceLogs[0]!.scopeLogs[0]!.logRecords[0]!
      expect(record).toMatchObject({
        timeUnixNano: "1796205600123000000",
        severityNumber: 9,
        traceId: "5b8efff798038103d269b633813fc60c",
        spanId: "eee19b7ec3c1b174",
        attributes: { input_tokens: 1200 }
      })
      expect(record.body).toEqual(new Uint8Array([1, 2, 3]))
    })
  )
})

describe("Otlp descriptor", () => {
  it("matches the vendored opentelemetry-proto files", () => {
    const protoDir = fileURLToPath(new URL("../../proto", import.meta.url))
    const root = new protobuf.Root()
    root.resolvePath = (_origin, target) => join(protoDir, target)
    root.loadSync([
      "opentelemetry/proto/collector/metrics/v1/metrics_service.proto",
      "opentelemetry/proto/collector/logs/v1/logs_service.proto"
    ])
    root.resolveAll()
    // out of date: run node packages/core/scripts/otlp-descriptor.mjs
    expect(JSON.parse(JSON.stringify(root.toJSON()))).toEqual(otlpDescriptor)
  })
})

describe("Otlp decode errors", () => {
  const errorOf = <A>(effect: Effect.Effect<A, Otlp.OtlpDecodeError>) =>
    Effect.map(Effect.either(effect), (either) => {
      if (Either.isRight(either)) throw new Error("expected a failure")
      return either.left
    })

  it.effect("undecodable protobuf", () =>
    Effect.gen(function* () {
      // field 1 (resource_metrics), length-delimited, claims 2^28 bytes that are not there
      const error = yield* errorOf(decodeMetrics(new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0x7f, 0x01]), PROTO))
      expect(error).toMatchObject({ _tag: "OtlpUndecodable", reason: "protobuf" })
      expect(error.message).toMatch(/undecodable protobuf body/)
      // a JSON body sent as protobuf
      const json = yield* errorOf(decodeLogs(new TextEncoder().encode('{"resourceLogs":[]}'), PROTO))
      expect(json._tag).toBe("OtlpUndecodable")
    })
  )

  it.effect("invalid JSON and wrong shapes", () =>
    Effect.gen(function* () {
      const bad = yield* errorOf(decodeMetrics(new TextEncoder().encode('{"resourceMetrics":['), JSON_TYPE))
      expect(bad).toMatchObject({ _tag: "OtlpUndecodable", reason: "json" })
      const notUtf8 = yield* errorOf(decodeMetrics(new Uint8Array([0x22, 0xff, 0x22]), JSON_TYPE))
      expect(notUtf8).toMatchObject({ _tag: "OtlpUndecodable", reason: "json" })
      const array = yield* errorOf(decodeMetrics(new TextEncoder().encode("[]"), JSON_TYPE))
      expect(array).toMatchObject({ _tag: "OtlpUndecodable", reason: "shape" })
      const wrong = yield* errorOf(
        decodeMetrics(
          new TextEncoder().encode(
            JSON.stringify({ resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 5, sum: {} }] }] }] })
          ),
          JSON_TYPE
        )
      )
      expect(wrong).toMatchObject({ _tag: "OtlpUndecodable", reason: "shape" })
      expect(wrong.message).toContain("resourceMetrics[0].scopeMetrics[0].metrics[0].name: expected a string")
      const badInt = yield* errorOf(
        decodeLogs(
          new TextEncoder().encode(
            JSON.stringify({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ timeUnixNano: "x" }] }] }] })
          ),
          JSON_TYPE
        )
      )
      expect(badInt).toMatchObject({ _tag: "OtlpUndecodable", reason: "shape" })
    })
  )

  it.effect("gzip over the limit, and bodies over the limit as received", () =>
    Effect.gen(function* () {
      const bomb = gzipSync(Buffer.alloc(10 * 1024 * 1024)) // 10 MiB of zeros, ~10 KiB gzipped
      expect(bomb.length).toBeLessThan(64 * 1024)
      const error = yield* errorOf(decodeMetrics(bomb, PROTO, "gzip", LIMIT))
      expect(error).toMatchObject({ _tag: "OtlpBodyTooLarge", limit: LIMIT })
      expect(error.message).toMatch(/once inflated/)

      const raw = yield* errorOf(decodeMetrics(new Uint8Array(LIMIT + 1), PROTO, undefined, LIMIT))
      expect(raw).toMatchObject({ _tag: "OtlpBodyTooLarge" })
      expect(raw.message).toMatch(/as received/)

      const corrupt = yield* errorOf(decodeMetrics(new Uint8Array([0x1f, 0x8b, 0x08, 0x00, 0x01]), PROTO, "gzip"))
      expect(corrupt).toMatchObject({ _tag: "OtlpUndecodable", reason: "gzip" })
    })
  )

  it.effect("unsupported content type or encoding", () =>
    Effect.gen(function* () {
      const body = new TextEncoder().encode("{}")
      for (const type of ["text/plain", "application/grpc", ""]) {
        const error = yield* errorOf(decodeMetrics(body, type))
        expect(error).toMatchObject({ _tag: "OtlpUnsupportedMediaType" })
      }
      const br = yield* errorOf(decodeLogs(body, JSON_TYPE, "br"))
      expect(br).toMatchObject({ _tag: "OtlpUnsupportedMediaType", contentEncoding: "br" })
      expect(br.message).toMatch(/Content-Encoding/)
    })
  )
})
