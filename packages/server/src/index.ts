export { createHandler, type MurHandler, type RunningServer, startServer } from "./App.js"
export { Metrics } from "./Metrics.js"
export { fileSecret } from "./Secret.js"
export type { ServerOptions } from "./ServerOptions.js"
