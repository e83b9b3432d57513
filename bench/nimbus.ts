/**
 * Nimbus under test: starts `nimbus server` as a child process on a free port with a temp data dir
 * and a random admin key, deploys the hello-world handler as a Node or Python function (zips made
 * with yazl, optionally with scaling settings such as instance concurrency), invokes it, reads execution records, `/v1/doctor` and (when the server has it)
 * `/v1/stats`, and stops the server together with any sandbox it leaves behind.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import type http from 'node:http';
import { join } from 'node:path';
import yazl from 'yazl';
import { keepAlive, request } from './http.js';
import { drain, makeTempDir, removeTempDir, startProcess, stopProcess, waitForOutput } from './procs.js';
import { descendants, killLeftovers } from './system.js';

export type Runtime = 'nodejs' | 'python3';

const SOURCES: Record<Runtime, { file: string; source: string; handler: string }> = {
  python3: {
    file: 'main.py',
    source: 'def handler(event, context):\n    return {"message": "Hello, World!"}\n',
    handler: 'main.handler',
  },
  nodejs: {
    file: 'index.mjs',
    source: "export const handler = async () => ({ message: 'Hello, World!' });\n",
    handler: 'index.handler',
  },
};

const zips = new Map<Runtime, Promise<Buffer>>();

/** The hello-world package for a runtime, as zip bytes (built once). */
function helloZip(runtime: Runtime): Promise<Buffer> {
  let zip = zips.get(runtime);
  if (!zip) {
    const { file, source } = SOURCES[runtime];
    zip = new Promise<Buffer>((resolve, reject) => {
      const zipfile = new yazl.ZipFile();
      const chunks: Buffer[] = [];
      zipfile.outputStream.on('data', (chunk: Buffer) => chunks.push(chunk));
      zipfile.outputStream.on('end', () => resolve(Buffer.concat(chunks)));
      zipfile.outputStream.on('error', reject);
      zipfile.addBuffer(Buffer.from(source), file, { mode: 0o100644, mtime: new Date(2020, 0, 1) });
      zipfile.end();
    });
    zips.set(runtime, zip);
  }
  return zip;
}

export function isHello(body: Buffer): boolean {
  try {
    return (JSON.parse(body.toString('utf8')) as { message?: unknown }).message === 'Hello, World!';
  } catch {
    return false;
  }
}

export interface Invocation {
  status: number;
  ok: boolean;
  ms: number;
  executionId: string | undefined;
  error?: string;
}

interface ExecutionRecord {
  id: string;
  status: string;
  coldStart: boolean;
  durationMs: number | null;
}

/** Scaling settings of POST /v1/functions; the server's defaults apply to those left out. */
export interface FunctionSettings {
  /** Calls one instance serves at once (server default 1). */
  concurrency?: number;
  minInstances?: number;
  maxInstances?: number;
}

const running = new Set<NimbusServer>();

export class NimbusServer {
  private constructor(
    readonly url: string,
    private readonly key: string,
    private readonly child: ReturnType<typeof startProcess>,
    private readonly dataDir: string,
    private readonly stderrTail: () => string,
  ) {}

  /** Starts `nimbus server` (dist/src/cli/main.js under `root`), pinned to `cpu` when given. */
  static async start(
    root: string,
    options: { cpu?: number; env?: Record<string, string> } = {},
  ): Promise<NimbusServer> {
    const cli = join(root, 'dist', 'src', 'cli', 'main.js');
    if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first`);
    const dataDir = makeTempDir('nimbus-bench-');
    const key = randomBytes(24).toString('base64url');
    const env: NodeJS.ProcessEnv = {};
    for (const [name, value] of Object.entries(process.env))
      if (!name.startsWith('NIMBUS_')) env[name] = value;
    env.NIMBUS_ADMIN_KEY = key;
    // `nimbus server` has no --idle-timeout-sec flag (yet); the environment variable is the same setting.
    env.NIMBUS_IDLE_TIMEOUT_SEC = '600';
    Object.assign(env, options.env);
    const args = [cli, 'server', '--port', '0', '--data-dir', dataDir, '--log-level', 'warn'];
    const child = startProcess(process.execPath, args, { cpu: options.cpu, env });
    try {
      const match = await waitForOutput(child, /Nimbus listening on (http:\/\/127\.0\.0\.1:\d+)/, 30_000);
      const server = new NimbusServer(match[1] ?? '', key, child, dataDir, drain(child));
      running.add(server);
      return server;
    } catch (err) {
      await stopProcess(child);
      removeTempDir(dataDir);
      throw err;
    }
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get authorization(): string {
    return `Bearer ${this.key}`;
  }

  invokeUrl(name: string): string {
    return `${this.url}/v1/functions/${encodeURIComponent(name)}/invoke`;
  }

  private headers(): Record<string, string> {
    return { authorization: this.authorization, 'content-type': 'application/json' };
  }

  /** Creates the hello-world function (with `settings`, if given); resolves with the wall time of the deploy in ms. */
  async deploy(name: string, runtime: Runtime, settings: FunctionSettings = {}): Promise<number> {
    const zip = await helloZip(runtime);
    const res = await request(`${this.url}/v1/functions`, {
      method: 'POST',
      headers: this.headers(),
      body: JSON.stringify({
        name,
        runtime,
        handler: SOURCES[runtime].handler,
        code: { zipBase64: zip.toString('base64') },
        ...settings,
      }),
      timeoutMs: 60_000,
    });
    if (res.status !== 201) {
      throw new Error(`deploying ${name} failed: ${res.status} ${res.body.toString('utf8').slice(0, 500)}`);
    }
    return res.ms;
  }

  async invoke(name: string, agent: http.Agent = keepAlive): Promise<Invocation> {
    try {
      const res = await request(this.invokeUrl(name), {
        method: 'POST',
        headers: this.headers(),
        body: '{}',
        agent,
        timeoutMs: 60_000,
      });
      const id = res.headers['x-nimbus-execution-id'];
      const ok = res.status === 200 && isHello(res.body);
      return {
        status: res.status,
        ok,
        ms: res.ms,
        executionId: typeof id === 'string' ? id : undefined,
        ...(ok ? {} : { error: res.body.toString('utf8').slice(0, 300) }),
      };
    } catch (err) {
      return { status: 0, ok: false, ms: Number.NaN, executionId: undefined, error: (err as Error).message };
    }
  }

  /** GET a JSON route; undefined when it does not exist (404) or fails. */
  async getJson(path: string): Promise<unknown> {
    try {
      const res = await request(`${this.url}${path}`, { headers: this.headers(), timeoutMs: 30_000 });
      if (res.status !== 200) return undefined;
      return JSON.parse(res.body.toString('utf8')) as unknown;
    } catch {
      return undefined;
    }
  }

  async execution(id: string): Promise<ExecutionRecord | undefined> {
    const record = (await this.getJson(`/v1/executions/${encodeURIComponent(id)}`)) as
      ExecutionRecord | undefined;
    return record && typeof record.coldStart === 'boolean' ? record : undefined;
  }

  async remove(name: string): Promise<void> {
    await request(`${this.url}/v1/functions/${encodeURIComponent(name)}`, {
      method: 'DELETE',
      headers: { authorization: this.authorization },
      timeoutMs: 30_000,
    }).catch(() => undefined);
  }

  /** Stops the server (SIGTERM, then SIGKILL), then any of its sandboxes still alive, and removes the data dir. */
  async stop(): Promise<void> {
    if (!running.delete(this)) return;
    const tree = this.child.pid === undefined ? [] : descendants(this.child.pid);
    await stopProcess(this.child, 10_000);
    const killed = await killLeftovers(tree);
    if (killed > 0) console.error(`bench: killed ${killed} sandbox processes the server left behind`);
    removeTempDir(this.dataDir);
  }

  /** The last lines the server wrote to stderr (for error reports). */
  get errors(): string {
    return this.stderrTail();
  }
}

export async function stopAllNimbus(): Promise<void> {
  await Promise.all([...running].map((server) => server.stop()));
}
