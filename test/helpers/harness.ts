/**
 * Test harness: starts a real Nimbus server (real SQLite, real sandboxes) on a free port with a
 * data dir of its own, and gives tests a small HTTP client for it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, type ConfigInput } from '../../src/config.js';
import { packDirectory } from '../../src/packaging/pack-directory.js';
import { startServer, type RunningServer } from '../../src/server.js';

/** The repository root (tests run from dist/test). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const FIXTURES = join(REPO_ROOT, 'test/fixtures');

/** Every sandbox driver runs the same behavioural suites (the Sandbox port's contract). */
export const SANDBOXES = ['bubblewrap', 'process'] as const;

export interface ApiResponse<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export class TestServer {
  constructor(
    readonly server: RunningServer,
    readonly dataDir: string,
    private readonly settings: ConfigInput,
  ) {}

  get url(): string {
    return this.server.url;
  }

  get key(): string {
    return this.server.adminKey;
  }

  async request<T = any>(
    method: string,
    path: string,
    options: {
      json?: unknown;
      body?: Buffer | string;
      headers?: Record<string, string>;
      auth?: string | null;
    } = {},
  ): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.auth !== null) headers.authorization = `Bearer ${options.auth ?? this.key}`;
    let body: Buffer | string | undefined = options.body;
    if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(this.url + path, { method, headers, body });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: leave as text
    }
    return { status: res.status, headers: res.headers, body: parsed as T, text };
  }

  /** Packs a fixture directory and creates a function from it. Fails the test on a non-201. */
  async deploy(
    name: string,
    fixture: string,
    runtime: 'python3' | 'nodejs',
    handler: string,
    extra: Record<string, unknown> = {},
  ): Promise<ApiResponse> {
    return this.deployZip(name, await packDirectory(join(FIXTURES, fixture)), runtime, handler, extra);
  }

  /** Creates a function from a zip (a hostile one, say). Fails the test on a non-201. */
  async deployZip(
    name: string,
    zip: Buffer,
    runtime: 'python3' | 'nodejs' = 'nodejs',
    handler = 'index.handler',
    extra: Record<string, unknown> = {},
  ): Promise<ApiResponse> {
    const res = await this.request('POST', '/v1/functions', {
      json: { name, runtime, handler, code: { zipBase64: zip.toString('base64') }, ...extra },
    });
    if (res.status !== 201) throw new Error(`deploy of ${name} failed: ${res.status} ${res.text}`);
    return res;
  }

  invoke<T = any>(name: string, event: unknown = {}): Promise<ApiResponse<T>> {
    return this.request<T>('POST', `/v1/functions/${name}/invoke`, { json: event });
  }

  /** The execution record of an invoke response. */
  async executionOf(res: { headers: Headers }): Promise<any> {
    return (await this.request('GET', `/v1/executions/${res.headers.get('x-nimbus-execution-id')}`)).body;
  }

  /** Stops the server, keeping the data dir (for restart tests). */
  async stop(): Promise<void> {
    await this.server.close();
  }

  /** Starts a new server on the same data dir. */
  async restart(): Promise<TestServer> {
    await this.stop();
    return startTestServer({ ...this.settings, dataDir: this.dataDir });
  }

  async close(): Promise<void> {
    await this.server.close();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** Polls `check` until it holds; fails the test with `what` after `ms`. */
export async function waitFor(check: () => Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export async function startTestServer(settings: ConfigInput = {}): Promise<TestServer> {
  const dataDir = (settings.dataDir as string | undefined) ?? mkdtempSync(join(tmpdir(), 'nimbus-test-'));
  const all: ConfigInput = { port: 0, logLevel: 'silent', flushIntervalMs: 10, ...settings, dataDir };
  const config = loadConfig(all, {}, undefined);
  const server = await startServer(config);
  return new TestServer(server, dataDir, all);
}
