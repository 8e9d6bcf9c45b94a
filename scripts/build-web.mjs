// Builds the dashboard into dist/web: index.html, app.js (Preact + uPlot, minified) and app.css.
// `lab server` serves these files as they are; nothing is compiled at run time.
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";

const OUT = "dist/web";
rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });

await build({
  entryPoints: { app: "packages/web/src/app/main.tsx" },
  outdir: OUT,
  bundle: true,
  platform: "browser",
  target: ["chrome110", "firefox110", "safari16"],
  format: "esm",
  jsx: "automatic",
  jsxImportSource: "preact",
  minify: true,
  sourcemap: "linked",
  legalComments: "none",
  // uPlot's stylesheet is imported by the app and lands in app.css beside the app's own.
  loader: { ".css": "css" },
  logLevel: "warning",
});
copyFileSync("packages/web/src/app/index.html", join(OUT, "index.html"));
