/**
 * Chooses the sandbox driver for this host and reports what isolation it really enforces.
 * `auto` tries bubblewrap for real (one throw-away sandbox) and refuses to run functions without
 * it: plain processes (`none`) are used only when the operator names them.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.js';
import type { IsolationReport, SandboxDriver } from '../core/ports.js';
import { BWRAP, BubblewrapSandbox, SETPRIV, systemMountArgs } from './bubblewrap.js';
import { detectCgroups } from './cgroups.js';
import { HostRuntimes, hostRuntimeDirs } from './host-runtimes.js';
import { createNetworkIsolation } from './network.js';
import { ProcessSandbox } from './process-sandbox.js';

/** Runs `true` in a minimal sandbox the way the driver will (dropping to the sandbox user as root); returns why it failed, if it did. */
function bubblewrapProblem(sandboxUid: number): string | undefined {
  if (!existsSync(BWRAP)) return 'bubblewrap is not installed (Debian: apt-get install bubblewrap)';
  const asRoot = process.getuid?.() === 0;
  if (asRoot && !existsSync(SETPRIV)) return 'setpriv is not installed (Debian: apt-get install util-linux)';
  const drop = asRoot
    ? [SETPRIV, `--reuid=${sandboxUid}`, `--regid=${sandboxUid}`, '--clear-groups', '--']
    : [];
  const result = spawnSync(
    BWRAP,
    [
      ...(asRoot ? [] : ['--unshare-user']),
      '--unshare-pid',
      ...systemMountArgs(),
      ...['--proc', '/proc', '--dev', '/dev', '--'],
      ...drop,
      '/usr/bin/true',
    ],
    { encoding: 'utf8', timeout: 5000 },
  );
  if (result.status === 0) return undefined;
  return `bubblewrap cannot create a sandbox here: ${(result.stderr || result.error?.message || 'unknown error').trim()}`;
}

/** Raised when functions cannot be isolated and the operator has not asked for `--sandbox none`. */
class NoIsolationError extends Error {}

/** `probe`: report what the driver would enforce without changing the host (no namespaces, no firewall table). */
export function createSandboxDriver(config: Config, probe = false): SandboxDriver {
  const cgroups = detectCgroups();
  const stateDir = join(config.dataDir, 'sandbox');
  const { runtimeDir, slotsDir } = hostRuntimeDirs(config.dataDir);
  const runtimes = new HostRuntimes(runtimeDir, slotsDir);
  if (config.sandbox === 'none' || config.sandbox === 'process') {
    return new ProcessSandbox(cgroups, config.sandboxUids, `sandbox set to "${config.sandbox}"`, runtimes);
  }
  const problem = bubblewrapProblem(config.sandboxUids.first);
  if (problem === undefined) {
    const network = createNetworkIsolation(
      { subnet: config.sandboxSubnet, egressAllow: config.egressAllow },
      probe,
    );
    return new BubblewrapSandbox({ cgroups, sandboxUids: config.sandboxUids, stateDir, network, runtimes });
  }
  throw new NoIsolationError(
    `functions cannot be isolated on this host: ${problem}. Fix that, or start with --sandbox none ` +
      '(NIMBUS_SANDBOX=none) to run functions as plain processes without isolation, only if you trust every function.',
  );
}

/** What `nimbus doctor` prints: the isolation the configured driver enforces on this host (never throws for lack of it). */
export async function probeIsolation(config: Config): Promise<IsolationReport> {
  try {
    return createSandboxDriver(config, true).isolation();
  } catch (err) {
    if (!(err instanceof NoIsolationError)) throw err;
    return {
      driver: 'unavailable (the server refuses to start)',
      namespaces: false,
      readOnlyCode: false,
      unprivilegedUser: false,
      memoryLimit: 'none',
      processLimit: 'none',
      cpuShares: 'none',
      seccomp: [],
      nestedUserNamespaces: 'allowed',
      uidSeparation: 'none',
      cpuQuota: 'none',
      freezer: 'none',
      cgroupNesting: { placement: 'none', parents: [] },
      network: { ownNamespace: false, egress: 'none', deniedRanges: [], allowed: [] },
      warnings: [err.message],
    };
  }
}
