export * from "./HttpClient.js"
