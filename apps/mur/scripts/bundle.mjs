// Bundles the `mur` command into one file, dist/mur.mjs, after `tsc` has built dist/.
//
// Why: `mur` runs often and briefly (AI tools call it from hooks), and most of its start-up
// was Node resolving and compiling the ~1,500 ES modules of Effect and its platform packages
// one file at a time: ~0.7 s for `mur --version`. One pre-linked file starts in ~0.2 s.
// The library entry (dist/lib.js, `import … from "mur"`) is not bundled.
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { build } from "esbuild"

const app = join(dirname(fileURLToPath(import.meta.url)), "..")

await build({
  entryPoints: [join(app, "dist", "bin.js")],
  outfile: join(app, "dist", "mur.mjs"),
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  // CommonJS dependencies bundled into an ES module still call `require` (Node built-ins,
  // and bin.js reads ../package.json for --version, which resolves from dist/ as before).
  banner: {
    js: 'import { createRequire as __murRequire } from "node:module"; const require = __murRequire(import.meta.url);'
  },
  // ws loads these native speed-ups if they are installed and does without them otherwise.
  external: ["bufferutil", "utf-8-validate"],
  legalComments: "none",
  logLevel: "warning"
})
