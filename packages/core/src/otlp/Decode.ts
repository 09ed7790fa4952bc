/**
 * Decoding of OTLP/HTTP request bodies (ExportMetricsServiceRequest, ExportLogsServiceRequest)
 * into one normalised, plain-object shape, whichever the encoding:
 *
 * - `application/x-protobuf` (also `application/protobuf`): decoded by protobufjs against the
 *   official opentelemetry-proto schema (vendored in packages/core/proto, see descriptor.ts).
 * - `application/json`: the OTLP JSON mapping (lowerCamelCase keys, int64 as strings or numbers,
 *   enums as numbers or names, trace/span ids as hex, `bytesValue` as base64). It is parsed with
 *   `JSON.parse` and walked directly: a generic proto-JSON parser would read the hex ids as base64.
 * - `Content-Encoding: gzip` is inflated with a cap on the output (`maxBytes`), so a gzip bomb
 *   fails with {@link OtlpBodyTooLarge} instead of filling memory.
 *
 * Both decoders produce the same camelCase tree, which one normaliser turns into the types below.
 * Values are kept as sent: NaN, infinities and negative counter values survive decoding, so the
 * mapping layer can count and reject them. The OpenTelemetry JS JSON serializer writes NaN as
 * `null`; a `null` (or `"NaN"`) double value therefore decodes to NaN, never to 0.
 *
 * int64 values (`asInt`, `intValue`, counts) become JS numbers (exact up to 2^53); timestamps
 * stay decimal strings of nanoseconds since the epoch ("0" when unset).
 */
import { gunzip } from "node:zlib"
import { Data, Effect } from "effect"
import protobuf from "protobufjs"
import { otlpDescriptor } from "./descriptor.js"

// ---------------------------------------------------------------------------------------------
// Errors

/** The body is not a valid OTLP request: answer 400 (the client must not retry). */
export class OtlpUndecodable extends Data.TaggedError("OtlpUndecodable")<{
  readonly reason: "protobuf" | "json" | "shape" | "gzip"
  readonly message: string
}> {}

/** The body (raw, or once inflated) exceeds the caller's byte limit: answer 413. */
export class OtlpBodyTooLarge extends Data.TaggedError("OtlpBodyTooLarge")<{
  readonly limit: number
  readonly message: string
}> {}

/** Content-Type or Content-Encoding that this receiver does not speak: answer 415. */
export class OtlpUnsupportedMediaType extends Data.TaggedError("OtlpUnsupportedMediaType")<{
  readonly contentType: string | undefined
  readonly contentEncoding: string | undefined
  readonly message: string
}> {}

export type OtlpDecodeError = OtlpUndecodable | OtlpBodyTooLarge | OtlpUnsupportedMediaType

// ---------------------------------------------------------------------------------------------
// Normalised shape

/** An OTLP AnyValue. `bytesValue` becomes a Uint8Array, `kvlistValue` a record, unset `null`. */
export type Value =
  | string
  | number
  | boolean
  | null
  | Uint8Array
  | ReadonlyArray<Value>
  | { readonly [key: string]: Value }

export type Attributes = Readonly<Record<string, Value>>

export interface Resource {
  readonly attributes: Attributes
  readonly droppedAttributesCount: number
}

export interface Scope {
  readonly name: string
  readonly version: string
  readonly attributes: Attributes
}

export type Temporality = "unspecified" | "delta" | "cumulative"

export interface NumberDataPoint {
  readonly attributes: Attributes
  readonly startTimeUnixNano: string
  readonly timeUnixNano: string
  /** `asInt` or `asDouble` as a number; `null` when the point carries neither. */
  readonly value: number | null
  readonly valueType: "int" | "double" | "none"
  readonly flags: number
}

export interface HistogramDataPoint {
  readonly attributes: Attributes
  readonly startTimeUnixNano: string
  readonly timeUnixNano: string
  readonly count: number
  readonly sum: number | undefined
  readonly bucketCounts: ReadonlyArray<number>
  readonly explicitBounds: ReadonlyArray<number>
  readonly min: number | undefined
  readonly max: number | undefined
  readonly flags: number
}

export type MetricData =
  | {
      readonly type: "sum"
      readonly aggregationTemporality: Temporality
      readonly isMonotonic: boolean
      readonly dataPoints: ReadonlyArray<NumberDataPoint>
    }
  | { readonly type: "gauge"; readonly dataPoints: ReadonlyArray<NumberDataPoint> }
  | {
      readonly type: "histogram"
      readonly aggregationTemporality: Temporality
      readonly dataPoints: ReadonlyArray<HistogramDataPoint>
    }
  /** exponentialHistogram, summary, or no data at all: kept by name so it can be counted as dropped. */
  | { readonly type: "unsupported"; readonly kind: "exponentialHistogram" | "summary" | "none" }

export interface Metric {
  readonly name: string
  readonly description: string
  readonly unit: string
  readonly data: MetricData
}

export interface ScopeMetrics {
  readonly scope: Scope
  readonly schemaUrl: string
  readonly metrics: ReadonlyArray<Metric>
}

export interface ResourceMetrics {
  readonly resource: Resource
  readonly schemaUrl: string
  readonly scopeMetrics: ReadonlyArray<ScopeMetrics>
}

export interface MetricsRequest {
  readonly resourceMetrics: ReadonlyArray<ResourceMetrics>
}

export interface LogRecord {
  readonly timeUnixNano: string
  readonly observedTimeUnixNano: string
  readonly severityNumber: number
  readonly severityText: string
  readonly body: Value | undefined
  readonly attributes: Attributes
  readonly droppedAttributesCount: number
  readonly flags: number
  /** Lower-case hex, "" when unset. */
  readonly traceId: string
  readonly spanId: string
  /** The LogRecord.event_name field; undefined when empty (most assistants name events in body/attributes). */
  readonly eventName: string | undefined
}

export interface ScopeLogs {
  readonly scope: Scope
  readonly schemaUrl: string
  readonly logRecords: ReadonlyArray<LogRecord>
}

export interface ResourceLogs {
  readonly resource: Resource
  readonly schemaUrl: string
  readonly scopeLogs: ReadonlyArray<ScopeLogs>
}

export interface LogsRequest {
  readonly resourceLogs: ReadonlyArray<ResourceLogs>
}

// ---------------------------------------------------------------------------------------------
// Options

export interface DecodeOptions {
  /** The request's Content-Type header; parameters such as `charset` are ignored. */
  readonly contentType: string | undefined
  /** The request's Content-Encoding header: absent, `identity` or `gzip`. */
  readonly contentEncoding?: string | undefined
  /** Largest body accepted, in bytes, both as received and once inflated. */
  readonly maxBytes: number
}

export type Encoding = "protobuf" | "json"

/** The encoding a Content-Type names, or undefined when it is not one OTLP/HTTP uses. */
export const encodingOf = (contentType: string | undefined): Encoding | undefined => {
  const mediaType = (contentType ?? "").split(";")[0]!.trim().toLowerCase()
  if (mediaType === "application/x-protobuf" || mediaType === "application/protobuf") return "protobuf"
  if (mediaType === "application/json") return "json"
  return undefined
}

// ---------------------------------------------------------------------------------------------
// Entry points

/** Decodes an ExportMetricsServiceRequest body. */
export const decodeMetrics = (
  body: Uint8Array,
  options: DecodeOptions
): Effect.Effect<MetricsRequest, OtlpDecodeError> => decodeWith(body, options, "metrics", normaliseMetrics)

/** Decodes an ExportLogsServiceRequest body. */
export const decodeLogs = (body: Uint8Array, options: DecodeOptions): Effect.Effect<LogsRequest, OtlpDecodeError> =>
  decodeWith(body, options, "logs", normaliseLogs)

/** Inflates a gzip body, failing with OtlpBodyTooLarge past `maxBytes` and OtlpUndecodable on corrupt input. */
export const gunzipLimited = (
  body: Uint8Array,
  maxBytes: number
): Effect.Effect<Uint8Array, OtlpUndecodable | OtlpBodyTooLarge> =>
  Effect.async<Uint8Array, OtlpUndecodable | OtlpBodyTooLarge>((resume) => {
    gunzip(body, { maxOutputLength: Math.max(1, maxBytes) }, (error, result) => {
      if (error === null) return resume(Effect.succeed(new Uint8Array(result.buffer, result.byteOffset, result.length)))
      if ((error as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE" || error instanceof RangeError) {
        return resume(Effect.fail(tooLarge(maxBytes, "once inflated")))
      }
      return resume(
        Effect.fail(new OtlpUndecodable({ reason: "gzip", message: `invalid gzip body: ${error.message}` }))
      )
    })
  })

// ---------------------------------------------------------------------------------------------
// Implementation

type Signal = "metrics" | "logs"

const requestTypeName: Record<Signal, string> = {
  metrics: "opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest",
  logs: "opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest"
}

let root: protobuf.Root | undefined
const requestType = (signal: Signal): protobuf.Type => {
  root ??= protobuf.Root.fromJSON(otlpDescriptor as protobuf.INamespace)
  return root.lookupType(requestTypeName[signal])
}

const tooLarge = (limit: number, when: string) =>
  new OtlpBodyTooLarge({ limit, message: `request body exceeds ${limit} bytes ${when}` })

const decodeWith = <A>(
  body: Uint8Array,
  options: DecodeOptions,
  signal: Signal,
  normalise: (tree: unknown) => A
): Effect.Effect<A, OtlpDecodeError> =>
  Effect.gen(function* () {
    const encoding = encodingOf(options.contentType)
    const contentEncoding = (options.contentEncoding ?? "").trim().toLowerCase()
    const gzipped = contentEncoding === "gzip" || contentEncoding === "x-gzip"
    if (encoding === undefined || !(gzipped || contentEncoding === "" || contentEncoding === "identity")) {
      return yield* new OtlpUnsupportedMediaType({
        contentType: options.contentType,
        contentEncoding: options.contentEncoding,
        message:
          encoding === undefined
            ? `unsupported Content-Type ${JSON.stringify(options.contentType ?? "")}: use application/x-protobuf or application/json`
            : `unsupported Content-Encoding ${JSON.stringify(options.contentEncoding)}: use gzip or none`
      })
    }
    if (body.length > options.maxBytes) return yield* tooLarge(options.maxBytes, "as received")
    const raw = gzipped ? yield* gunzipLimited(body, options.maxBytes) : body
    const tree = encoding === "protobuf" ? yield* decodeProtobuf(raw, signal) : yield* parseJson(raw)
    return yield* Effect.try({
      try: () => normalise(tree),
      catch: (error) =>
        new OtlpUndecodable({
          reason: "shape",
          message: `not an OTLP ${signal} request: ${error instanceof Error ? error.message : String(error)}`
        })
    })
  })

const decodeProtobuf = (bytes: Uint8Array, signal: Signal) =>
  Effect.try({
    try: () => {
      const type = requestType(signal)
      // longs as decimal strings (exact), enums as numbers, bytes left as Uint8Array, no defaults:
      // the same tree as the JSON mapping, apart from ids and bytes, which the normaliser handles.
      return type.toObject(type.decode(bytes), { longs: String, enums: Number, defaults: false })
    },
    catch: (error) =>
      new OtlpUndecodable({
        reason: "protobuf",
        message: `undecodable protobuf body: ${error instanceof Error ? error.message : String(error)}`
      })
  })

const parseJson = (bytes: Uint8Array) =>
  Effect.try({
    try: () => JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes)) as unknown,
    catch: (error) =>
      new OtlpUndecodable({
        reason: "json",
        message: `invalid JSON body: ${error instanceof Error ? error.message : String(error)}`
      })
  })

// --- the normaliser ---------------------------------------------------------------------------

class ShapeError extends Error {}

const fail = (path: string, expected: string, got: unknown): never => {
  throw new ShapeError(`${path}: expected ${expected}, got ${describe(got)}`)
}

const describe = (value: unknown): string =>
  value === null ? "null" : Array.isArray(value) ? "an array" : value instanceof Uint8Array ? "bytes" : typeof value

type Obj = Readonly<Record<string, unknown>>

const isObj = (value: unknown): value is Obj =>
  typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array)

const obj = (value: unknown, path: string): Obj => {
  if (value === undefined || value === null) return {}
  return isObj(value) ? value : fail(path, "an object", value)
}

const list = <A>(value: unknown, path: string, each: (item: unknown, path: string) => A): Array<A> => {
  if (value === undefined || value === null) return []
  if (!Array.isArray(value)) return fail(path, "an array", value)
  return value.map((item, i) => each(item, `${path}[${i}]`))
}

const str = (value: unknown, path: string): string => {
  if (value === undefined || value === null) return ""
  return typeof value === "string" ? value : fail(path, "a string", value)
}

const bool = (value: unknown, path: string): boolean => {
  if (value === undefined || value === null) return false
  return typeof value === "boolean" ? value : fail(path, "a boolean", value)
}

const DECIMAL = /^-?\d+$/

/** int64 / uint64 / fixed64 as a decimal string: JSON strings or numbers, protobufjs strings. */
const int64String = (value: unknown, path: string): string => {
  if (value === undefined || value === null) return "0"
  if (typeof value === "string" && DECIMAL.test(value)) return BigInt(value).toString()
  if (typeof value === "number" && Number.isFinite(value)) return BigInt(Math.trunc(value)).toString()
  return fail(path, "an integer", value)
}

const int64 = (value: unknown, path: string): number => Number(int64String(value, path))

/** int32 / uint32 / enums given as numbers. */
const int32 = (value: unknown, path: string): number => {
  if (value === undefined || value === null) return 0
  if (typeof value === "number" && Number.isInteger(value)) return value
  if (typeof value === "string" && DECIMAL.test(value)) return Number(value)
  return fail(path, "an integer", value)
}

/** double: numbers, the proto3 JSON strings "NaN" / "Infinity" / "-Infinity", numeric strings; null is NaN. */
const double = (value: unknown, path: string): number => {
  if (value === null) return Number.NaN
  if (typeof value === "number") return value
  if (typeof value === "string") {
    if (value === "NaN") return Number.NaN
    if (value === "Infinity") return Number.POSITIVE_INFINITY
    if (value === "-Infinity") return Number.NEGATIVE_INFINITY
    const n = Number(value)
    if (value.trim() !== "" && !Number.isNaN(n)) return n
  }
  return fail(path, "a number", value)
}

const optionalDouble = (value: unknown, path: string): number | undefined =>
  value === undefined ? undefined : double(value, path)

/** Enums: numbers (the OTLP JSON mapping and protobufjs) or their proto names. */
const enumValue = (value: unknown, path: string, names: ReadonlyArray<string>): number => {
  if (typeof value === "string" && !DECIMAL.test(value)) {
    const index = names.indexOf(value)
    return index >= 0 ? index : fail(path, `one of ${names.join(", ")}`, value)
  }
  return int32(value, path)
}

const TEMPORALITY = [
  "AGGREGATION_TEMPORALITY_UNSPECIFIED",
  "AGGREGATION_TEMPORALITY_DELTA",
  "AGGREGATION_TEMPORALITY_CUMULATIVE"
]

const temporality = (value: unknown, path: string): Temporality => {
  const n = enumValue(value, path, TEMPORALITY)
  return n === 1 ? "delta" : n === 2 ? "cumulative" : "unspecified"
}

const SEVERITY = [
  "SEVERITY_NUMBER_UNSPECIFIED",
  ...["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"].flatMap((level) =>
    ["", "2", "3", "4"].map((n) => `SEVERITY_NUMBER_${level}${n}`)
  )
]

const HEX = /^[0-9a-fA-F]*$/

/** Trace and span ids: bytes from protobuf, hex strings in the JSON mapping. */
const idHex = (value: unknown, path: string): string => {
  if (value === undefined || value === null) return ""
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.length).toString("hex")
  if (typeof value === "string" && HEX.test(value) && value.length % 2 === 0) return value.toLowerCase()
  return fail(path, "a hex id", value)
}

/** AnyValue.bytesValue: bytes from protobuf, base64 in the JSON mapping. */
const bytesValue = (value: unknown, path: string): Uint8Array => {
  if (value instanceof Uint8Array) return new Uint8Array(value)
  if (typeof value === "string") return new Uint8Array(Buffer.from(value, "base64"))
  return fail(path, "bytes", value)
}

const anyValue = (value: unknown, path: string): Value => {
  const v = obj(value, path)
  if (v.stringValue !== undefined) return str(v.stringValue, `${path}.stringValue`)
  if (v.boolValue !== undefined) return bool(v.boolValue, `${path}.boolValue`)
  if (v.intValue !== undefined) return int64(v.intValue, `${path}.intValue`)
  if (v.doubleValue !== undefined) return double(v.doubleValue, `${path}.doubleValue`)
  if (v.arrayValue !== undefined) {
    return list(obj(v.arrayValue, `${path}.arrayValue`).values, `${path}.arrayValue.values`, anyValue)
  }
  if (v.kvlistValue !== undefined) {
    return attributes(obj(v.kvlistValue, `${path}.kvlistValue`).values, `${path}.kvlistValue.values`)
  }
  if (v.bytesValue !== undefined) return bytesValue(v.bytesValue, `${path}.bytesValue`)
  return null
}

const attributes = (value: unknown, path: string): Attributes => {
  const out: Record<string, Value> = {}
  list(value, path, (item, itemPath) => {
    const kv = obj(item, itemPath)
    out[str(kv.key, `${itemPath}.key`)] = anyValue(kv.value, `${itemPath}.value`)
  })
  return out
}

const resource = (value: unknown, path: string): Resource => {
  const r = obj(value, path)
  return {
    attributes: attributes(r.attributes, `${path}.attributes`),
    droppedAttributesCount: int32(r.droppedAttributesCount, `${path}.droppedAttributesCount`)
  }
}

const scope = (value: unknown, path: string): Scope => {
  const s = obj(value, path)
  return {
    name: str(s.name, `${path}.name`),
    version: str(s.version, `${path}.version`),
    attributes: attributes(s.attributes, `${path}.attributes`)
  }
}

const numberDataPoint = (value: unknown, path: string): NumberDataPoint => {
  const p = obj(value, path)
  const common = {
    attributes: attributes(p.attributes, `${path}.attributes`),
    startTimeUnixNano: int64String(p.startTimeUnixNano, `${path}.startTimeUnixNano`),
    timeUnixNano: int64String(p.timeUnixNano, `${path}.timeUnixNano`),
    flags: int32(p.flags, `${path}.flags`)
  }
  if (p.asInt !== undefined && p.asInt !== null) {
    return { ...common, value: int64(p.asInt, `${path}.asInt`), valueType: "int" }
  }
  if ("asDouble" in p) return { ...common, value: double(p.asDouble, `${path}.asDouble`), valueType: "double" }
  return { ...common, value: null, valueType: "none" }
}

const histogramDataPoint = (value: unknown, path: string): HistogramDataPoint => {
  const p = obj(value, path)
  return {
    attributes: attributes(p.attributes, `${path}.attributes`),
    startTimeUnixNano: int64String(p.startTimeUnixNano, `${path}.startTimeUnixNano`),
    timeUnixNano: int64String(p.timeUnixNano, `${path}.timeUnixNano`),
    count: int64(p.count, `${path}.count`),
    sum: optionalDouble(p.sum, `${path}.sum`),
    bucketCounts: list(p.bucketCounts, `${path}.bucketCounts`, int64),
    explicitBounds: list(p.explicitBounds, `${path}.explicitBounds`, double),
    min: optionalDouble(p.min, `${path}.min`),
    max: optionalDouble(p.max, `${path}.max`),
    flags: int32(p.flags, `${path}.flags`)
  }
}

const metricData = (m: Obj, path: string): MetricData => {
  if (m.sum !== undefined && m.sum !== null) {
    const s = obj(m.sum, `${path}.sum`)
    return {
      type: "sum",
      aggregationTemporality: temporality(s.aggregationTemporality, `${path}.sum.aggregationTemporality`),
      isMonotonic: bool(s.isMonotonic, `${path}.sum.isMonotonic`),
      dataPoints: list(s.dataPoints, `${path}.sum.dataPoints`, numberDataPoint)
    }
  }
  if (m.gauge !== undefined && m.gauge !== null) {
    const g = obj(m.gauge, `${path}.gauge`)
    return { type: "gauge", dataPoints: list(g.dataPoints, `${path}.gauge.dataPoints`, numberDataPoint) }
  }
  if (m.histogram !== undefined && m.histogram !== null) {
    const h = obj(m.histogram, `${path}.histogram`)
    return {
      type: "histogram",
      aggregationTemporality: temporality(h.aggregationTemporality, `${path}.histogram.aggregationTemporality`),
      dataPoints: list(h.dataPoints, `${path}.histogram.dataPoints`, histogramDataPoint)
    }
  }
  if (m.exponentialHistogram !== undefined) return { type: "unsupported", kind: "exponentialHistogram" }
  if (m.summary !== undefined) return { type: "unsupported", kind: "summary" }
  return { type: "unsupported", kind: "none" }
}

const metric = (value: unknown, path: string): Metric => {
  const m = obj(value, path)
  return {
    name: str(m.name, `${path}.name`),
    description: str(m.description, `${path}.description`),
    unit: str(m.unit, `${path}.unit`),
    data: metricData(m, path)
  }
}

const normaliseMetrics = (tree: unknown): MetricsRequest => {
  if (!isObj(tree)) return fail("request", "an object", tree)
  return {
    resourceMetrics: list(tree.resourceMetrics, "resourceMetrics", (item, path) => {
      const rm = obj(item, path)
      return {
        resource: resource(rm.resource, `${path}.resource`),
        schemaUrl: str(rm.schemaUrl, `${path}.schemaUrl`),
        scopeMetrics: list(rm.scopeMetrics, `${path}.scopeMetrics`, (item, path) => {
          const sm = obj(item, path)
          return {
            scope: scope(sm.scope, `${path}.scope`),
            schemaUrl: str(sm.schemaUrl, `${path}.schemaUrl`),
            metrics: list(sm.metrics, `${path}.metrics`, metric)
          }
        })
      }
    })
  }
}

const logRecord = (value: unknown, path: string): LogRecord => {
  const r = obj(value, path)
  const eventName = str(r.eventName, `${path}.eventName`)
  return {
    timeUnixNano: int64String(r.timeUnixNano, `${path}.timeUnixNano`),
    observedTimeUnixNano: int64String(r.observedTimeUnixNano, `${path}.observedTimeUnixNano`),
    severityNumber: enumValue(r.severityNumber, `${path}.severityNumber`, SEVERITY),
    severityText: str(r.severityText, `${path}.severityText`),
    body: r.body === undefined || r.body === null ? undefined : anyValue(r.body, `${path}.body`),
    attributes: attributes(r.attributes, `${path}.attributes`),
    droppedAttributesCount: int32(r.droppedAttributesCount, `${path}.droppedAttributesCount`),
    flags: int32(r.flags, `${path}.flags`),
    traceId: idHex(r.traceId, `${path}.traceId`),
    spanId: idHex(r.spanId, `${path}.spanId`),
    eventName: eventName === "" ? undefined : eventName
  }
}

const normaliseLogs = (tree: unknown): LogsRequest => {
  if (!isObj(tree)) return fail("request", "an object", tree)
  return {
    resourceLogs: list(tree.resourceLogs, "resourceLogs", (item, path) => {
      const rl = obj(item, path)
      return {
        resource: resource(rl.resource, `${path}.resource`),
        schemaUrl: str(rl.schemaUrl, `${path}.schemaUrl`),
        scopeLogs: list(rl.scopeLogs, `${path}.scopeLogs`, (item, path) => {
          const sl = obj(item, path)
          return {
            scope: scope(sl.scope, `${path}.scope`),
            schemaUrl: str(sl.schemaUrl, `${path}.schemaUrl`),
            logRecords: list(sl.logRecords, `${path}.logRecords`, logRecord)
          }
        })
      }
    })
  }
}
