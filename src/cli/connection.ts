/**
 * Where the CLI finds the server and its API key: flag, then environment (NIMBUS_URL, NIMBUS_KEY),
 * then the CLI config file written by `nimbus login`, then the local server's data directory (the
 * URL the running server recorded in `server.url`, and `admin.key`).
 * It must never send a key to a server the key was not meant for, and never contacts the server.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { CliError, usageError } from './cli-error.js';

const DEFAULT_URL = 'http://127.0.0.1:8080';

export interface Connection {
  /** Base URL without a trailing slash. */
  url: string;
  key: string | undefined;
  /** Where the key came from, so an authentication failure can say what to fix. */
  keySource: string | undefined;
  /** Set when a key saved for another URL was withheld, so an authentication failure can say why. */
  savedKeyUrl?: string | undefined;
}

interface ConnectionFlags {
  url?: string | undefined;
  key?: string | undefined;
}

/** What `nimbus login` stores. */
interface CliConfig {
  url?: string | undefined;
  key?: string | undefined;
}

export function cliConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  // The XDG spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
  const xdg = env.XDG_CONFIG_HOME;
  const base = xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.config');
  return join(base, 'nimbus', 'config.json');
}

export function resolveConnection(
  flags: ConnectionFlags,
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
): Connection {
  // Read lazily so a broken config file does not block a command that names everything on the command line.
  let fileConfig: CliConfig | undefined;
  const file = (): CliConfig => (fileConfig ??= readCliConfig(cliConfigPath(env)));

  const localDataDir = resolve(cwd, env.NIMBUS_DATA_DIR || '.nimbus');
  let url: string;
  if (flags.url !== undefined) url = normalizeUrl(flags.url, '--url');
  else if (env.NIMBUS_URL) url = normalizeUrl(env.NIMBUS_URL, 'NIMBUS_URL');
  else if (file().url !== undefined) url = normalizeUrl(file().url ?? '', `"url" in ${cliConfigPath(env)}`);
  else url = recordedUrl(localDataDir) ?? DEFAULT_URL;

  if (flags.key !== undefined) return { url, key: flags.key.trim(), keySource: '--key' };
  if (env.NIMBUS_KEY) return { url, key: env.NIMBUS_KEY.trim(), keySource: 'NIMBUS_KEY' };

  // The stored key belongs to the stored URL: sending it to another server would leak it.
  const stored = file();
  const storedUrl = stored.url === undefined ? undefined : normalizeUrl(stored.url, 'config file');
  if (stored.key && (storedUrl === undefined || storedUrl === url)) {
    return { url, key: stored.key.trim(), keySource: cliConfigPath(env) };
  }

  // The local admin key is only for the local server; a remote one must get its key explicitly.
  if (isLoopback(url)) {
    const keyFile = join(localDataDir, 'admin.key');
    const key = readKeyFile(keyFile);
    if (key) return { url, key, keySource: keyFile };
  }
  return { url, key: undefined, keySource: undefined, savedKeyUrl: stored.key ? storedUrl : undefined };
}

/** Reads the CLI config file; a missing file is an empty config, a malformed one an error naming the file. */
function readCliConfig(path: string): CliConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new CliError(`cannot read the CLI config file ${path}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw usageError(
      `the CLI config file ${path} is not valid JSON: ${(err as Error).message}`,
      'fix it, or delete it and run `nimbus login --url URL --key KEY`',
    );
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw usageError(`the CLI config file ${path} must hold a JSON object like {"url": "...", "key": "..."}`);
  }
  const { url, key } = parsed as Record<string, unknown>;
  for (const [name, value] of [
    ['url', url],
    ['key', key],
  ] as const) {
    if (value !== undefined && typeof value !== 'string') {
      throw usageError(`"${name}" in the CLI config file ${path} must be a string`);
    }
  }
  return { url: url as string | undefined, key: key as string | undefined };
}

/**
 * Writes the CLI config file readable by its owner only. Goes through a temporary file so a crash
 * never leaves a half-written file, and so an existing file with looser permissions is replaced.
 */
export function writeCliConfig(path: string, config: CliConfig): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new CliError(`cannot write the CLI config file ${path}: ${(err as Error).message}`);
  }
}

/** Checks that `raw` is an http(s) URL and drops trailing slashes so paths can be appended. */
export function normalizeUrl(raw: string, source: string): string {
  const trimmed = raw.trim();
  let parsed: URL;
  try {
    parsed = new URL(trimmed);
  } catch {
    throw usageError(`${source} is not a valid URL: '${raw}'`, 'use e.g. http://127.0.0.1:8080');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw usageError(`${source} must be an http:// or https:// URL, got '${raw}'`);
  }
  if (parsed.search || parsed.hash) throw usageError(`${source} must not have a query or fragment: '${raw}'`);
  return parsed.href.replace(/\/+$/, '');
}

function isLoopback(url: string): boolean {
  const host = new URL(url).hostname;
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The URL the server running on the local `dataDir` recorded (src/data-dir-lock.ts writes it). */
function recordedUrl(dataDir: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(join(dataDir, 'server.url'), 'utf8').trim();
  } catch {
    return undefined;
  }
  try {
    const url = normalizeUrl(text, 'server.url');
    // A server listening on every address is reached locally on loopback.
    return url.replace(/^(https?:\/\/)(0\.0\.0\.0|\[::\])(?=[:/]|$)/, '$1127.0.0.1');
  } catch {
    return undefined;
  }
}

function readKeyFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim() || undefined;
  } catch {
    // An absent or unreadable key file just means "no key"; the server's 401 then explains.
    return undefined;
  }
}
