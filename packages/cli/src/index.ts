export * from "./CommandLine.js"
