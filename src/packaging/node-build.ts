/**
 * Deploy-time compilation of TypeScript Node.js handlers into one ESM bundle inside the package.
 * The build runs on the host, outside any sandbox, over code a user uploaded: it must never read a
 * file from outside the package into the bundle, never write outside `<codeDir>/.nimbus-build`, and
 * never fail a deploy over type errors (esbuild strips types without checking them).
 */
import { lstat, mkdir, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import path from 'node:path';
import * as esbuild from 'esbuild';

import { NimbusError } from '../core/errors.js';
import { splitNodeHandler } from '../core/handler.js';
import { isInside, readPackageTsconfig } from './package-tsconfig.js';

/** Build output directory inside the package; the unpacked package never keeps its own copy of it. */
const BUILD_DIR = '.nimbus-build';

const JS_EXTENSIONS = ['.js', '.mjs', '.cjs'];
const TS_EXTENSIONS = ['.ts', '.mts', '.cts'];
/** Marks the plugin's own nested resolve calls so that they are not intercepted a second time. */
const NESTED = { nimbusNestedResolve: true };

/**
 * Builds the handler's module if it is TypeScript. Returns the entry to load instead, relative to
 * `codeDir` (`.nimbus-build/<module>.mjs`), or null when the module is JavaScript and runs as is.
 */
export async function buildNodeHandler(codeDir: string, handler: string): Promise<{ entry: string } | null> {
  const parts = splitNodeHandler(handler);
  // A handler that names no module in the package (malformed, `..`, an absolute path such as a
  // layer's) has nothing to build: the deploy-time check or the runtime reports it.
  if (!parts || handler.includes('..') || path.posix.isAbsolute(parts.moduleRoot)) return null;
  const module = path.posix.join(parts.moduleRoot, parts.module);
  if (module === '' || module.split(/[/\\]/).includes('..')) return null;
  const root = await realpath(codeDir);
  // Lambda's runtime loads `<module>` itself first (a file, or a directory's package), then .js/.mjs/.cjs.
  for (const ext of ['', ...JS_EXTENSIONS]) {
    if (await exists(path.join(root, module + ext))) return null;
  }
  let source: string | undefined;
  for (const ext of TS_EXTENSIONS) {
    if (await isFile(path.join(root, module + ext))) {
      source = module + ext;
      break;
    }
  }
  if (source === undefined) return null;

  const entryReal = await realpath(path.join(root, source));
  if (!isInside(root, entryReal)) {
    throw buildFailed(source, `${source} is a link to a file outside the package`);
  }
  const outRel = `${BUILD_DIR}/${module}.mjs`;
  const buildDir = path.join(root, BUILD_DIR);
  // esbuild is handed the package's tsconfig as raw options, checked here: it then opens no
  // tsconfig.json or jsconfig.json itself (neither the root's `extends` nor nested ones).
  const tsconfigRaw = await readPackageTsconfig(root, source);

  let result: esbuild.BuildResult<{ write: false; metafile: true }>;
  try {
    result = await esbuild.build({
      entryPoints: [entryReal],
      outfile: path.join(root, ...outRel.split('/')),
      absWorkingDir: root,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      sourcemap: 'inline',
      logLevel: 'silent',
      write: false,
      metafile: true,
      tsconfigRaw,
      banner: { js: banner(outRel, source) },
      // Free uses of these names are pointed at the banner's definitions. The banner cannot declare the
      // names themselves: a module that declares its own `__dirname` (the usual ESM idiom) would then
      // fail to load with a duplicate declaration, and esbuild renames user bindings only for `require`.
      define: {
        __dirname: '__nimbus_dirname',
        __filename: '__nimbus_filename',
        'import.meta.url': '__nimbus_url',
      },
      plugins: [confineToPackage(root)],
    });
  } catch (err) {
    throw buildFailed(source, firstError(err, root));
  }

  // Second line of defence behind the plugin: every file that went into the bundle is in the package.
  for (const input of Object.keys(result.metafile.inputs)) {
    if (!isInside(root, path.resolve(root, input))) {
      throw buildFailed(source, `the build read ${input}, which is outside the package`);
    }
  }

  // A `.nimbus-build` link or file shipped in the archive is discarded (rm removes a link, never
  // what it points to). A directory stays: it holds what the package's other handlers were built
  // to (functions with the same code share the unpacked package); links in it stay inside the
  // package, as the unpacker checked.
  const existing = await lstat(buildDir).catch(() => undefined);
  if (existing && !existing.isDirectory()) await rm(buildDir, { force: true });
  await mkdir(buildDir, { recursive: true, mode: 0o755 });
  for (const file of result.outputFiles) {
    if (!isInside(buildDir, file.path)) {
      throw buildFailed(source, `the build produced ${file.path}, which is outside ${BUILD_DIR}`);
    }
    await mkdir(path.dirname(file.path), { recursive: true, mode: 0o755 });
    // This handler's earlier output, or one shipped in the archive, is replaced.
    await rm(file.path, { recursive: true, force: true });
    await writeFile(file.path, file.contents, { mode: 0o644, flag: 'wx' });
  }
  return { entry: outRel };
}

/**
 * Defines `require`, `__filename`, `__dirname` and `import.meta.url` as if the source file itself were
 * running, so relative file reads and requires behave as they did before bundling.
 */
function banner(outRel: string, source: string): string {
  const fromOutput = path.posix.relative(path.posix.dirname(outRel), source);
  return [
    "import { createRequire as __nimbusCreateRequire } from 'node:module';",
    "import { fileURLToPath as __nimbusFileURLToPath } from 'node:url';",
    "import { dirname as __nimbusDirname } from 'node:path';",
    `const __nimbus_url = new URL(${JSON.stringify(fromOutput)}, import.meta.url).href;`,
    'const __nimbus_filename = __nimbusFileURLToPath(__nimbus_url);',
    'const __nimbus_dirname = __nimbusDirname(__nimbus_filename);',
    // esbuild renames any user binding named `require`, so declaring it here cannot collide.
    'const require = __nimbusCreateRequire(__nimbus_url);',
  ].join('\n');
}

/** Refuses every import that does not resolve to a file inside the package; Node builtins stay external. */
function confineToPackage(root: string): esbuild.Plugin {
  return {
    name: 'nimbus-confine-to-package',
    setup(build) {
      build.onResolve({ filter: /.*/ }, async (args) => {
        if (args.pluginData === NESTED) return undefined;
        if (args.kind !== 'entry-point' && isBuiltin(args.path)) return { path: args.path, external: true };

        const pathLike = path.isAbsolute(args.path) || /^\.\.?(\/|$)/.test(args.path);
        if (pathLike) {
          // Checked before resolving, so the answer never tells whether some host file exists.
          const wanted = args.resolveDir === '' ? undefined : path.resolve(args.resolveDir, args.path);
          if (wanted === undefined || !isInside(root, wanted)) return refuse(args.path, outsidePackage);
        }

        const resolved = await build.resolve(args.path, {
          kind: args.kind,
          importer: args.importer,
          namespace: args.namespace,
          resolveDir: args.resolveDir,
          with: args.with,
          pluginData: NESTED,
        });
        if (resolved.errors.length > 0) {
          // A bare name that is missing and one found only in some node_modules above the package get
          // the same answer, for the same reason as above.
          return pathLike ? { errors: resolved.errors } : refuse(args.path, notInPackage);
        }
        if (resolved.external || resolved.namespace !== 'file') {
          return refuse(args.path, 'only files inside the package can be bundled');
        }
        const real = await realpath(resolved.path).catch(() => resolved.path);
        if (!isInside(root, real)) return refuse(args.path, pathLike ? outsidePackage : notInPackage);
        return { path: real, sideEffects: resolved.sideEffects, suffix: resolved.suffix };
      });
      // Behind onResolve: whatever path reaches a load (another plugin's, esbuild's own), a file
      // whose real path is outside the package is never read.
      build.onLoad({ filter: /.*/ }, async (args) => {
        const real = await realpath(args.path).catch(() => undefined);
        if (args.namespace === 'file' && real !== undefined && isInside(root, real)) return undefined;
        return { errors: [{ text: `cannot load a file outside the package` }] };
      });
    },
  };
}

const outsidePackage = 'it points outside the package; a function may only bundle its own files';
const notInPackage =
  "it is not in the package; install dependencies into the package's own node_modules before deploying";

function refuse(specifier: string, why: string): esbuild.OnResolveResult {
  return { errors: [{ text: `cannot import '${specifier}': ${why}` }] };
}

/**
 * The first build error, as the deployer should see it. esbuild reads package.json files in the
 * directories above the package (for `type`, `sideEffects`…) and quotes them when they are not valid
 * JSON: an error located outside the package is replaced by one that names and quotes nothing.
 */
function firstError(err: unknown, root: string): string {
  const errors = (err as { errors?: esbuild.Message[] } | null)?.errors;
  if (!Array.isArray(errors)) {
    // Not esbuild's answer (an I/O error…): its message may hold a host path, so it is not echoed.
    return 'the build could not run';
  }
  const first = errors.find((e) => locatedInside(root, e.location)) ?? errors[0];
  if (first === undefined) return 'the build failed without a message';
  if (!locatedInside(root, first.location)) {
    return 'a file outside the package (in a directory above it) could not be read; nothing outside the package may take part in the build';
  }
  const loc = first.location;
  // esbuild columns are 0-based; editors count from 1.
  return loc ? `${loc.file}:${loc.line}:${loc.column + 1}: ${first.text}` : first.text;
}

/** True when a message has no location, or one in a file inside the package (paths are relative to it). */
function locatedInside(root: string, location: esbuild.Location | null): boolean {
  return location === null || location.file === '' || isInside(root, path.resolve(root, location.file));
}

function buildFailed(source: string, detail: string): NimbusError {
  return new NimbusError('BUILD_FAILED', `TypeScript build of ${source} failed: ${detail}`);
}

async function exists(file: string): Promise<boolean> {
  return (await stat(file).catch(() => undefined)) !== undefined;
}

async function isFile(file: string): Promise<boolean> {
  const info = await stat(file).catch(() => undefined);
  return info?.isFile() ?? false;
}
