export * from "./HttpClient.js"
export * from "./SyncClient.js"
