/**
 * The packages the Python runtime provides besides the standard library: boto3 and what it needs
 * to import, as Lambda's Python runtime does, and nothing else. The server links exactly these
 * from the host's Debian install into `<runtime>/python-packages` (symlinks into /usr, which every
 * sandbox mounts), and the bootstrap puts that directory on sys.path after the function's code and
 * layers, so a function's own packed boto3 wins and no other host package is importable.
 */
import { existsSync, mkdirSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';

/** Where Debian's python3-* packages live (for /usr/bin/python3). */
const HOST_DIST_PACKAGES = '/usr/lib/python3/dist-packages';

interface ProvidedPackage {
  /** Top-level module: a package directory, or `<name>.py`. */
  module: string;
  /** Distribution name, for its metadata (`importlib.metadata.version('boto3')`). */
  distribution: string;
  /** Lambda's set; the others are what Debian's botocore imports besides it (requests and its own). */
  lambda: boolean;
}

const pkg = (module: string, distribution: string, lambda: boolean): ProvidedPackage => ({
  module,
  distribution,
  lambda,
});

/** boto3 and its dependencies, Lambda's list first. */
const PROVIDED_PYTHON_PACKAGES: readonly ProvidedPackage[] = [
  pkg('boto3', 'boto3', true),
  pkg('botocore', 'botocore', true),
  pkg('s3transfer', 's3transfer', true),
  pkg('jmespath', 'jmespath', true),
  pkg('dateutil', 'python_dateutil', true),
  pkg('urllib3', 'urllib3', true),
  pkg('six', 'six', true),
  pkg('requests', 'requests', false),
  pkg('certifi', 'certifi', false),
  pkg('idna', 'idna', false),
  pkg('charset_normalizer', 'charset_normalizer', false),
  pkg('chardet', 'chardet', false),
];

interface ProvidedPythonPackages {
  /** Top-level modules linked. */
  linked: string[];
  /** Modules of Lambda's set the host lacks. */
  missing: string[];
}

function moduleEntry(source: string, module: string): string | undefined {
  if (existsSync(join(source, module))) return module;
  if (existsSync(join(source, `${module}.py`))) return `${module}.py`;
  return undefined;
}

function normalised(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '_');
}

/**
 * Makes `target` hold links to exactly the provided packages found in `source` (and their
 * metadata directories); returns what was linked and which of Lambda's set is missing.
 */
export function linkProvidedPythonPackages(
  target: string,
  source: string = HOST_DIST_PACKAGES,
): ProvidedPythonPackages {
  rmSync(target, { recursive: true, force: true });
  mkdirSync(target, { recursive: true, mode: 0o755 });
  const entries = existsSync(source) ? readdirSync(source) : [];
  const linked: string[] = [];
  const missing: string[] = [];
  for (const provided of PROVIDED_PYTHON_PACKAGES) {
    const entry = moduleEntry(source, provided.module);
    if (!entry) {
      if (provided.lambda) missing.push(provided.module);
      continue;
    }
    symlinkSync(join(source, entry), join(target, entry));
    linked.push(provided.module);
    // `boto3-1.26.27.egg-info`, `python_dateutil-2.8.2.egg-info`: the name ends at the first `-`.
    const distribution = normalised(provided.distribution);
    for (const meta of entries) {
      if (/\.(egg|dist)-info$/.test(meta) && normalised(meta.slice(0, meta.indexOf('-'))) === distribution)
        symlinkSync(join(source, meta), join(target, meta));
    }
  }
  return { linked, missing };
}

/** What to tell the operator when the host lacks part of the provided set, or undefined. */
export function providedPackagesWarning(result: ProvidedPythonPackages): string | undefined {
  if (result.missing.length === 0) return undefined;
  return (
    `the Python runtime provides boto3, but this host lacks ${result.missing.join(', ')} in ` +
    `${HOST_DIST_PACKAGES} (Debian: apt-get install python3-boto3): Python functions that import ` +
    'boto3 fail here unless they pack it'
  );
}

/** The warning for this host, checked without linking anything (for `nimbus doctor`). */
export function hostProvidedPackagesWarning(source: string = HOST_DIST_PACKAGES): string | undefined {
  const missing = PROVIDED_PYTHON_PACKAGES.filter((p) => p.lambda && !moduleEntry(source, p.module)).map(
    (p) => p.module,
  );
  return providedPackagesWarning({ linked: [], missing });
}
