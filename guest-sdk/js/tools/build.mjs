// Builds a JavaScript plugin folder into a millrace component (run by build.sh):
//
//   node tools/build.mjs TOOLCHAIN WIT PLUGIN_DIR OUT.wasm
//
// 1. esbuild bundles plugin.js (and whatever it imports: its own modules, npm
//    packages in its node_modules, the SDK as "millrace") into one module, which is
//    imported natively to learn the kind of its default export, hence the world;
// 2. esbuild bundles an entry that binds that class to the world's export
//    (src/wit/<kind>.js), leaving the WIT imports ("millrace:plugin/…") to the
//    component;
// 3. componentize-qjs embeds it in QuickJS and snapshots the initialized engine
//    (module-level code runs at build time; the class is constructed at `init`, when
//    the configuration is known).
//
// Everything is written to a temporary folder, and only OUT outside it.

import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const sdk = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const WORLDS = {
  dofn: { world: "dofn-plugin", name: "dofn" },
  combine: { world: "combine-plugin", name: "combineFn" },
  window: { world: "window-plugin", name: "windowFn" },
  trigger: { world: "trigger-plugin", name: "trigger" },
};
const SDK_MODULES = { "": "src/index.js", "/testing": "src/testing.js", "/postcard": "src/postcard.js" };

class BuildError extends Error {}

function fail(...lines) {
  throw new BuildError(lines.join("\n"));
}

/** Resolves "millrace" to this SDK and leaves the WIT interfaces to the component. */
const millracePlugin = {
  name: "millrace",
  setup(build) {
    build.onResolve({ filter: /^millrace:/ }, (args) => ({ path: args.path, external: true }));
    build.onResolve({ filter: /^millrace(\/.*)?$/ }, (args) => {
      const file = SDK_MODULES[args.path.slice("millrace".length)];
      if (file === undefined) {
        return { errors: [{ text: `the millrace SDK has no module "${args.path}" (it has ${Object.keys(SDK_MODULES).map((m) => `"millrace${m}"`).join(", ")})` }] };
      }
      return { path: join(sdk, file) };
    });
  },
};

async function bundle(esbuild, pluginDir, contents, outfile) {
  try {
    await esbuild.build({
      stdin: { contents, resolveDir: pluginDir, sourcefile: "millrace-entry.js", loader: "js" },
      bundle: true,
      format: "esm",
      platform: "neutral",
      mainFields: ["module", "main"],
      conditions: ["import", "default"],
      target: "esnext",
      keepNames: true,
      outfile,
      plugins: [millracePlugin],
      logLevel: "silent",
    });
  } catch (error) {
    const messages = (error.errors ?? []).map((e) => {
      const at = e.location ? `${relative(pluginDir, resolve(pluginDir, e.location.file))}:${e.location.line}:${e.location.column + 1}: ` : "";
      return `${at}${e.text}`;
    });
    fail(...(messages.length > 0 ? messages : [String(error.message ?? error)]));
  }
}

async function main() {
  const [toolchain, wit, pluginDirArg, out] = process.argv.slice(2);
  const pluginDir = resolve(pluginDirArg);
  const entry = join(pluginDir, "plugin.js");
  const require = createRequire(join(toolchain, "package.json"));
  const esbuild = require("esbuild");
  const { componentize } = require("componentize-qjs");

  const stage = await mkdtemp(join(tmpdir(), "millrace-js-build-"));
  try {
    // 1. The kind, from the default export, imported natively.
    const native = join(stage, "native.mjs");
    await bundle(
      esbuild,
      pluginDir,
      `export { default } from ${JSON.stringify(entry)};\nexport { kindOf } from "millrace";\n`,
      native,
    );
    let module;
    try {
      module = await import(pathToFileURL(native).href);
    } catch (error) {
      fail(
        `importing plugin.js natively (to learn its kind) failed:`,
        ...String(error?.stack ?? error).split("\n").slice(0, 6),
      );
    }
    if (module.default === undefined) {
      fail(
        "plugin.js has no default export: make the plugin class its default export,",
        "    export default class MyPlugin extends DoFn { … }   (or CombineFn, WindowFn, Trigger)",
      );
    }
    let kind;
    try {
      kind = module.kindOf(module.default);
    } catch (error) {
      fail(`plugin.js's default export: ${error.message}`);
    }
    const { world, name } = WORLDS[kind];

    // 2. The component's module: the class bound to its world's export.
    const bundled = join(stage, "component.js");
    await bundle(
      esbuild,
      pluginDir,
      [
        `import Plugin from ${JSON.stringify(entry)};`,
        `import { bind } from ${JSON.stringify(join(sdk, "src/wit", `${kind}.js`))};`,
        `export const ${name} = bind(Plugin);`,
        "",
      ].join("\n"),
      bundled,
    );

    // 3. The component.
    const { readFile } = await import("node:fs/promises");
    let component;
    try {
      ({ component } = await componentize({
        witPath: wit,
        jsSource: await readFile(bundled, "utf8"),
        jsPath: bundled,
        moduleRoot: stage,
        world,
        sync: true,
      }));
    } catch (error) {
      fail("componentize-qjs failed:", ...String(error?.message ?? error).split("\n"));
    }
    await mkdir(dirname(resolve(out)), { recursive: true });
    await writeFile(out, component);
    const size = component.length >= 1 << 20 ? `${(component.length / (1 << 20)).toFixed(1)}M` : `${Math.ceil(component.length / 1024)}K`;
    console.log(`built ${out} (${kind}, world ${world}, ${size})`);
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

main().catch((error) => {
  const text = error instanceof BuildError ? error.message : String(error?.stack ?? error);
  for (const line of text.split("\n")) console.error(`build.sh: ${line}`);
  process.exit(1);
});
