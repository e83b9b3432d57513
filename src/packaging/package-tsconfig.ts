/**
 * Reads a package's own tsconfig.json for the TypeScript build, so that esbuild never opens a
 * tsconfig itself: esbuild follows `extends` to any file the server can read and quotes it in its
 * errors. Here `extends` is followed only to files inside the package, `baseUrl` and `paths` must
 * stay inside it, and the result is handed to esbuild as raw options. Must never read, nor quote in
 * an error, a file outside the package.
 */
import { lstat, readFile, realpath } from 'node:fs/promises';
import path from 'node:path';

import { NimbusError } from '../core/errors.js';

/** What esbuild gets as `tsconfigRaw`: compiler options with `baseUrl` made absolute. */
interface PackageTsconfig {
  compilerOptions?: Record<string, unknown>;
}

/** Longest `extends` chain followed; a cycle or a deeper chain is refused. */
const MAX_EXTENDS_DEPTH = 8;
/** A tsconfig larger than this is refused before it is parsed. */
const MAX_TSCONFIG_BYTES = 1024 * 1024;

/**
 * The package's tsconfig.json (at its root) with its `extends` chain merged, or `{}` when it has
 * none. Throws BUILD_FAILED naming the field when the file reaches outside the package.
 */
export async function readPackageTsconfig(root: string, source: string): Promise<PackageTsconfig> {
  const file = path.join(root, 'tsconfig.json');
  const info = await lstat(file).catch(() => undefined);
  if (!info) return {};
  if (!info.isFile()) throw tsconfigError(source, 'tsconfig.json must be a regular file in the package');
  const merged = await readConfig(root, file, source, []);
  const options = merged.compilerOptions;
  if (options === undefined) return {};
  checkPathsInside(root, options, source);
  return { compilerOptions: options };
}

interface ConfigLayer {
  compilerOptions?: Record<string, unknown>;
}

async function readConfig(root: string, file: string, source: string, chain: string[]): Promise<ConfigLayer> {
  const shown = path.relative(root, file);
  if (chain.length >= MAX_EXTENDS_DEPTH || chain.includes(file)) {
    throw tsconfigError(
      source,
      `${chain.map((f) => path.relative(root, f)).join(' -> ')} -> ${shown}: "extends" loops`,
    );
  }
  const text = await readInsideFile(root, file, source, shown);
  let parsed: unknown;
  try {
    parsed = JSON.parse(jsoncToJson(text));
  } catch (err) {
    throw tsconfigError(source, `${shown} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw tsconfigError(source, `${shown} must hold a JSON object`);
  }
  const config = parsed as { extends?: unknown; compilerOptions?: unknown };
  const dir = path.dirname(file);
  let base: ConfigLayer = {};
  if (config.extends !== undefined) {
    const bases = Array.isArray(config.extends) ? config.extends : [config.extends];
    for (const spec of bases) {
      if (typeof spec !== 'string' || spec === '') {
        throw tsconfigError(
          source,
          `"extends" in ${shown} must be a path (or a list of paths) inside the package`,
        );
      }
      const target = await extendsTarget(root, dir, spec, source, shown);
      base = mergeLayers(base, await readConfig(root, target, source, [...chain, file]));
    }
  }
  if (config.compilerOptions === undefined) return base;
  if (typeof config.compilerOptions !== 'object' || config.compilerOptions === null) {
    throw tsconfigError(source, `"compilerOptions" in ${shown} must be an object`);
  }
  const own = { ...(config.compilerOptions as Record<string, unknown>) };
  // As tsc does, a base's relative baseUrl is relative to the file that sets it; `paths` without a
  // baseUrl are relative to the file that sets them.
  if (typeof own.baseUrl === 'string') own.baseUrl = path.resolve(dir, own.baseUrl);
  else if (own.paths !== undefined) own.baseUrl = dir;
  return mergeLayers(base, { compilerOptions: own });
}

/**
 * Where an `extends` points: a relative path inside the package, or a package in the package's own
 * node_modules. An absolute path, or one that climbs out, is refused before anything is opened, so
 * the answer never tells whether a host file exists.
 */
async function extendsTarget(
  root: string,
  dir: string,
  spec: string,
  source: string,
  shown: string,
): Promise<string> {
  const outside = () =>
    tsconfigError(
      source,
      `"extends": "${spec}" in ${shown} points outside the package; extend only tsconfig files inside the package`,
    );
  let candidates: string[];
  if (path.isAbsolute(spec) || spec.includes('\0')) throw outside();
  if (/^\.\.?(\/|$)/.test(spec)) {
    const wanted = path.resolve(dir, spec);
    candidates = wanted.endsWith('.json')
      ? [wanted]
      : [wanted, `${wanted}.json`, path.join(wanted, 'tsconfig.json')];
  } else {
    const wanted = path.resolve(root, 'node_modules', spec);
    if (!isInside(path.join(root, 'node_modules'), wanted)) throw outside();
    candidates = wanted.endsWith('.json') ? [wanted] : [`${wanted}.json`, path.join(wanted, 'tsconfig.json')];
  }
  for (const candidate of candidates) {
    if (!isInside(root, candidate)) throw outside();
  }
  for (const candidate of candidates) {
    const real = await realpath(candidate).catch(() => undefined);
    if (real === undefined) continue;
    if (!isInside(root, real)) throw outside();
    if ((await lstat(real)).isFile()) return real;
  }
  throw tsconfigError(source, `"extends": "${spec}" in ${shown} names no tsconfig file in the package`);
}

async function readInsideFile(root: string, file: string, source: string, shown: string): Promise<string> {
  const real = await realpath(file).catch(() => undefined);
  if (real === undefined || !isInside(root, real)) {
    throw tsconfigError(source, `${shown} is a link to a file outside the package`);
  }
  const info = await lstat(real);
  if (info.size > MAX_TSCONFIG_BYTES) throw tsconfigError(source, `${shown} is larger than 1 MB`);
  return readFile(real, 'utf8');
}

function mergeLayers(base: ConfigLayer, over: ConfigLayer): ConfigLayer {
  if (base.compilerOptions === undefined) return over;
  if (over.compilerOptions === undefined) return base;
  return { compilerOptions: { ...base.compilerOptions, ...over.compilerOptions } };
}

/** `baseUrl` and every `paths` target must stay inside the package. */
function checkPathsInside(root: string, options: Record<string, unknown>, source: string): void {
  const baseUrl = options.baseUrl;
  if (baseUrl !== undefined) {
    if (typeof baseUrl !== 'string' || !isInside(root, baseUrl)) {
      throw tsconfigError(source, '"compilerOptions.baseUrl" points outside the package');
    }
  }
  const paths = options.paths;
  if (paths === undefined) return;
  if (typeof paths !== 'object' || paths === null || Array.isArray(paths)) {
    throw tsconfigError(source, '"compilerOptions.paths" must be an object of lists of paths');
  }
  const base = typeof baseUrl === 'string' ? baseUrl : root;
  for (const [pattern, targets] of Object.entries(paths)) {
    if (!Array.isArray(targets)) {
      throw tsconfigError(source, `"compilerOptions.paths" entry "${pattern}" must be a list of paths`);
    }
    for (const target of targets) {
      if (
        typeof target !== 'string' ||
        path.isAbsolute(target) ||
        !isInside(root, path.resolve(base, target))
      ) {
        throw tsconfigError(
          source,
          `"compilerOptions.paths" entry "${pattern}" points outside the package; map only to files inside it`,
        );
      }
    }
  }
}

/** tsconfig files are JSON with comments and trailing commas: strips both, leaving strings intact. */
function jsoncToJson(text: string): string {
  return dropTrailingCommas(dropComments(text));
}

/** Calls `visit` for each stretch of `text` outside string literals; strings are copied as they are. */
function outsideStrings(text: string, visit: (part: string) => string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const quote = text.indexOf('"', i);
    if (quote === -1) return out + visit(text.slice(i));
    out += visit(text.slice(i, quote));
    let j = quote + 1;
    while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
    out += text.slice(quote, j + 1);
    i = j + 1;
  }
  return out;
}

function dropComments(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      i = end === -1 ? text.length : end + 2;
      out += ' ';
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

function dropTrailingCommas(text: string): string {
  return outsideStrings(text, (part) => part.replace(/,(\s*[}\]])/g, '$1'));
}

function tsconfigError(source: string, detail: string): NimbusError {
  return new NimbusError('BUILD_FAILED', `TypeScript build of ${source} failed: ${detail}`);
}

export function isInside(root: string, candidate: string): boolean {
  const rel = path.relative(root, candidate);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}
