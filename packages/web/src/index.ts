/**
 * The dashboard's built assets (index.html, app.js, app.css), made by scripts/build-web.mjs at
 * `npm run build` into dist/web. The server only serves them: nothing is built at run time.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The folder holding the built dashboard, or undefined when it was not built. */
export function webDistDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  // Bundled, this code sits in dist/lab.js or dist/chunks/; from source, in packages/web/src.
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = env.LAB_WEB_DIST
    ? [env.LAB_WEB_DIST]
    : [join(here, "web"), join(here, "..", "web"), join(here, "..", "..", "..", "dist", "web")];
  return candidates.find((d) => existsSync(join(d, "index.html")));
}
