/**
 * Handler strings as Lambda's runtimes read them, and the deploy-time check that the handler's
 * module can be found in the package. Pure: the package is seen only through a directory lister.
 *
 * Node (Lambda's Node.js runtime interface client): the module root is everything before the last
 * path segment; in that segment the module is up to the FIRST dot and the rest is a dotted path into
 * its exports (`lib/app.handlers.main` is `handlers.main` of `lib/app`). Python (Lambda's Python
 * client): the module is everything before the LAST dot, `/` read as `.` (`src/app.handler` is
 * `handler` of module `src.app`).
 */
import type { Runtime } from './function.js';

/** A Node handler split as Lambda's Node runtime splits it. */
interface NodeHandlerParts {
  /** The directory part, as written (`lib/`, or `` at the top). */
  moduleRoot: string;
  /** The module name inside `moduleRoot`, without extension (`app`). */
  module: string;
  /** The dotted path into the module's exports (`handler`, `handlers.main`). */
  exportPath: string;
}

/** Why a Node handler string can never load, in the words of Lambda's runtime; undefined if it is well formed. */
function malformedNodeHandler(handler: string): string | undefined {
  if (handler.includes('..')) {
    return `'${handler}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`;
  }
  return splitNodeHandler(handler)
    ? undefined
    : `Bad handler '${handler}': expected module.function, e.g. index.handler`;
}

/**
 * Splits a Node handler the way Lambda's Node runtime does, or returns undefined when the last
 * path segment has no dot (Lambda's `Runtime.MalformedHandlerName`).
 */
export function splitNodeHandler(handler: string): NodeHandlerParts | undefined {
  const base = baseName(handler);
  const moduleRoot = handler.substring(0, handler.indexOf(base));
  const dot = base.indexOf('.');
  if (dot < 0) return undefined;
  return { moduleRoot, module: base.slice(0, dot), exportPath: base.slice(dot + 1) };
}

/** A Python handler split as Lambda's Python runtime splits it: the module's dotted name and the function. */
function splitPythonHandler(handler: string): { module: string; functionName: string } | undefined {
  const dot = handler.lastIndexOf('.');
  if (dot < 0) return undefined;
  const module = handler.slice(0, dot).replaceAll('/', '.');
  const functionName = handler.slice(dot + 1);
  if (functionName === '' || module.split('.').some((part) => part === '')) return undefined;
  return { module, functionName };
}

/**
 * Lists one directory of the package (`''` is its top): entry names, directories with a trailing
 * `/`; undefined when there is no such directory. Paths never leave the package (no `..`).
 */
export type ListPackageDirectory = (dir: string) => readonly string[] | undefined;

/** Node module files the runtime tries, in its order, plus the TypeScript sources Nimbus builds at deploy. */
const NODE_MODULE_EXTENSIONS = ['', '.js', '.mjs', '.cjs', '.ts', '.mts', '.cts'];

/**
 * Why the handler's module cannot be found in the package, naming the handler and the files
 * looked for; undefined when it can be (or when only the running function could tell, e.g. a
 * module under an absolute path such as `/opt/...`). Callers skip this check for functions with
 * layers, whose modules may come from `/opt` or the layers' paths (Lambda checks nothing at deploy).
 */
export function missingHandlerModule(
  runtime: Runtime,
  handler: string,
  listDirectory: ListPackageDirectory,
): string | undefined {
  return runtime === 'nodejs'
    ? missingNodeModule(handler, listDirectory)
    : missingPythonModule(handler, listDirectory);
}

function missingNodeModule(handler: string, listDirectory: ListPackageDirectory): string | undefined {
  const malformed = malformedNodeHandler(handler);
  if (malformed) return `handler '${handler}' is invalid: ${malformed}`;
  const parts = splitNodeHandler(handler)!;
  if (isAbsolutePath(parts.moduleRoot)) return undefined;
  const path = normalizePath(`${parts.moduleRoot}/${parts.module}`);
  if (path === '.' || path.startsWith('../')) return undefined;
  if (NODE_MODULE_EXTENSIONS.some((ext) => exists(listDirectory, path + ext))) return undefined;
  // Lambda's last resort is Node's own resolution of the bare name from the package and module root.
  const roots = new Set(['', normalizePath(parts.moduleRoot)].map((d) => (d === '.' ? '' : d)));
  for (const root of roots) {
    for (let dir: string | undefined = root; dir !== undefined; dir = parentOf(dir)) {
      const candidate = `${dir === '' ? '' : `${dir}/`}node_modules/${parts.module}`;
      if (['', '.js'].some((ext) => exists(listDirectory, candidate + ext))) return undefined;
    }
  }
  return (
    `handler '${handler}' names module '${path}', which is not in the package: looked for ` +
    `${path}.js, ${path}.mjs, ${path}.cjs, ${path}.ts (or a file or directory named ${path}, ` +
    `or node_modules/${parts.module}); put the module there or change the handler`
  );
}

function missingPythonModule(handler: string, listDirectory: ListPackageDirectory): string | undefined {
  const parts = splitPythonHandler(handler);
  if (!parts) {
    return `handler '${handler}' is invalid: use module.function, e.g. main.handler (def handler in main.py), or pkg.module.handler`;
  }
  const path = parts.module.split('.').join('/');
  const dir = parentOf(path) ?? '';
  const name = baseName(path);
  const entries = listDirectory(dir) ?? [];
  const found =
    entries.includes(`${name}.py`) ||
    entries.includes(`${name}.pyc`) ||
    entries.includes(`${name}.so`) ||
    entries.some((e) => e.startsWith(`${name}.`) && e.endsWith('.so') && !e.endsWith('/')) ||
    (listDirectory(path)?.some((e) => e === '__init__.py' || e === '__init__.pyc') ?? false);
  if (found) return undefined;
  return (
    `handler '${handler}' names module '${parts.module}', which is not in the package: looked for ` +
    `${path}.py, ${path}/__init__.py and ${path}.*.so; put the module there or change the handler`
  );
}

/** True when the package has a file or directory at `path`. */
function exists(listDirectory: ListPackageDirectory, path: string): boolean {
  const name = baseName(path);
  const entries = listDirectory(parentOf(path) ?? '');
  return entries !== undefined && (entries.includes(name) || entries.includes(`${name}/`));
}

/** The directory above `path` (`''` for a top-level entry), or undefined for the top itself. */
function parentOf(path: string): string | undefined {
  if (path === '') return undefined;
  const slash = path.lastIndexOf('/');
  return slash < 0 ? '' : path.slice(0, slash);
}

/** The last segment of a path, trailing slashes ignored (as Node's `path.basename`). */
function baseName(path: string): string {
  const trimmed = path.replace(/\/+$/, '');
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}

function isAbsolutePath(path: string): boolean {
  return path.startsWith('/');
}

/** A relative path with `.` and empty segments removed and `..` applied (`.` for the top; may start with `../`). */
function normalizePath(path: string): string {
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..' && out.length > 0 && out[out.length - 1] !== '..') out.pop();
    else out.push(part);
  }
  return out.length === 0 ? '.' : out.join('/');
}
