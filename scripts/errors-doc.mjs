// Regenerates docs/errors.md from the error catalogue (packages/core/src/errors.ts).
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { build } from "esbuild";

const out = await build({
  entryPoints: ["packages/core/src/errors.ts"],
  bundle: true,
  format: "esm",
  platform: "node",
  write: false,
});
const { CATALOGUE } = await import(
  `data:text/javascript;base64,${Buffer.from(out.outputFiles[0].text).toString("base64")}`
);
const rows = Object.entries(CATALOGUE).map(
  ([code, i]) => `| \`${code}\` | ${i.exit} | ${i.http} | ${i.hint} |`,
);
writeFileSync(
  "docs/errors.md",
  `# Error codes

Every error and warning Lab reports carries one of these codes. Scripts classify by code,
never by message text. The CLI prints \`file:line:col: error CODE: message\` followed by
\`→ what to do\`; the API answers \`{"error": {"code", "message", "hint", …}}\` with the HTTP
status shown. Regenerate this page with \`node scripts/errors-doc.mjs\`.

| code | exit | HTTP | what to do |
|---|---|---|---|
${rows.join("\n")}

\`LAB_W_…\` codes are warnings: they are printed, never block an apply, and exit 0.
Exit codes: 0 ok, 1 error, 2 usage, 3 not found.
`,
);
// Biome formats Markdown tables; keep the file as `npm run lint` wants it.
execFileSync("node_modules/.bin/biome", ["format", "--write", "docs/errors.md"], { stdio: "ignore" });
