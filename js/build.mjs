// Builds the front end into ling_notebook/static/ (`npm run build`), or the folder given as argument:
//   app.js, app.css  the renderer bundle (js/app.ts), sent to a page once, on request
//   math.js          Temml (js/math.ts), sent with the renderer, imported when a formula is first shown
//   widget.js        the stub every reply ships as its anywidget ESM (js/widget.ts); it carries the
//                    renderer's content hash, so a page never reuses a renderer from another build.
//   batch.js, batch.css  the batch progress view (js/batch.ts): small, no Markdown, its own ESM
// and, without an argument, the prebuilt JupyterLab / Notebook 7 extension (js/keeper.ts) into
// ling_notebook/labextension/: esbuild compiles it to js/labextension/lib/index.js, then
// @jupyter/builder (JupyterLab's own, against the core metadata of @jupyterlab/core-meta) makes the
// federated bundle, with JupyterLab's packages taken from the page instead of bundled.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { build } from "esbuild";

const outdir = process.argv[2] ?? "ling_notebook/static";
const common = { bundle: true, minify: true, format: "esm", target: "es2020", logLevel: "warning" };

// markdown-it-texmath falls back to `require("katex")` when given no engine; js/formulas.ts gives it one.
await build({ ...common, entryPoints: { app: "js/app.ts", math: "js/math.ts" }, outdir, external: ["katex"] });
const hash = createHash("sha256");
for (const name of ["app.js", "app.css", "math.js"]) hash.update(await readFile(`${outdir}/${name}`));
await build({
  ...common,
  entryPoints: { widget: "js/widget.ts" },
  outdir,
  define: { LING_RENDERER_HASH: JSON.stringify(hash.digest("hex").slice(0, 16)) },
});
await build({ ...common, entryPoints: ["js/batch.ts", "js/batch.css"], outdir });

if (process.argv[2] === undefined) {
  await build({
    ...common,
    minify: false,
    entryPoints: ["js/keeper.ts"],
    outfile: "js/labextension/lib/index.js",
    external: ["@jupyterlab/*", "@lumino/*"],
  });
  const require = createRequire(import.meta.url);
  const builder = require.resolve("@jupyter/builder/lib/build-labextension.js");
  const core = require.resolve("@jupyterlab/core-meta/core.package.json");
  execFileSync(process.execPath, [builder, "--core-package-file", core, "js/labextension"], { stdio: "inherit" });
}
