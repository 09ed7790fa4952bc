import { Context } from "effect"

/** Where an act came from; provided per request by the server, absent for in-process calls. */
export class RequestInfo extends Context.Tag("@mur/core/RequestInfo")<
  RequestInfo,
  { readonly requestId: string; readonly ip: string | null; readonly userAgent: string | null }
>() {}
