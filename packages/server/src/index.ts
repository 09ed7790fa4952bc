export { createHandler, startServer, type MurHandler, type RunningServer } from "./App.js"
export { fileSecret } from "./Secret.js"
export type { ServerOptions } from "./ServerOptions.js"
export { Metrics } from "./Metrics.js"
