/**
 * The two baselines that serve the same hello-world handler without Nimbus: a bare `node:http`
 * server (bench/servers/node-http-hello.ts in a child process) and Cloudflare's `workerd` (the npm
 * package's binary, with a capnp config and an ES module worker written to a temp dir).
 */
import { existsSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { waitUntilUp } from './http.js';
import { drain, makeTempDir, removeTempDir, startProcess, stopProcess, waitForOutput } from './procs.js';

export interface RunningTarget {
  url: string;
  pid: number | undefined;
  stop(): Promise<void>;
}

export async function startNodeHttp(distBench: string, cpu?: number): Promise<RunningTarget> {
  const script = join(distBench, 'servers', 'node-http-hello.js');
  const child = startProcess(process.execPath, [script], { cpu, env: { PATH: process.env.PATH ?? '' } });
  try {
    const match = await waitForOutput(child, /listening on (http:\/\/127\.0\.0\.1:\d+)/, 10_000);
    drain(child);
    return { url: `${match[1]}/`, pid: child.pid, stop: () => stopProcess(child) };
  } catch (err) {
    await stopProcess(child);
    throw err;
  }
}

/**
 * The workerd binary of the npm package, if installed (or WORKERD_BIN): `npm run bench` installs it
 * under bench/.workerd, apart from the project's node_modules (an install there would reify the
 * project's tree and can drop native builds such as better-sqlite3's).
 */
export function findWorkerd(root: string): string | undefined {
  const candidates = [
    process.env.WORKERD_BIN,
    ...[join(root, 'bench', '.workerd', 'node_modules'), join(root, 'node_modules')].flatMap((modules) => [
      join(modules, '@cloudflare', 'workerd-linux-64', 'bin', 'workerd'),
      join(modules, '@cloudflare', 'workerd-linux-arm64', 'bin', 'workerd'),
      join(modules, 'workerd', 'bin', 'workerd'),
    ]),
  ];
  return candidates.find((c): c is string => !!c && existsSync(c));
}

const WORKER = `export default {
  async fetch(request) {
    await request.text();
    return Response.json({ message: 'Hello, World!' });
  },
};
`;

function capnpConfig(port: number): string {
  return `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [(name = "main", worker = .helloWorker)],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")],
);

const helloWorker :Workerd.Worker = (
  modules = [(name = "worker", esModule = embed "worker.js")],
  compatibilityDate = "2024-09-23",
);
`;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function startWorkerd(binary: string, cpu?: number): Promise<RunningTarget> {
  const dir = makeTempDir('nimbus-bench-workerd-');
  writeFileSync(join(dir, 'worker.js'), WORKER);
  const port = await freePort();
  writeFileSync(join(dir, 'config.capnp'), capnpConfig(port));
  const child = startProcess(binary, ['serve', join(dir, 'config.capnp')], {
    cpu,
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: dir },
  });
  const stderrTail = drain(child);
  const url = `http://127.0.0.1:${port}/`;
  const stop = async (): Promise<void> => {
    await stopProcess(child);
    removeTempDir(dir);
  };
  let onExit: (code: number | null) => void = () => undefined;
  const exitedEarly = new Promise<never>((_, reject) => {
    onExit = (code) => reject(new Error(`workerd exited (${code}): ${stderrTail().trim()}`));
    child.once('exit', onExit);
  });
  exitedEarly.catch(() => undefined);
  try {
    await Promise.race([waitUntilUp(url, 20_000), exitedEarly]);
    return { url, pid: child.pid, stop };
  } catch (err) {
    await stop();
    throw err;
  } finally {
    child.off('exit', onExit);
  }
}
