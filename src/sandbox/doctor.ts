/**
 * Chooses the sandbox driver for this host and reports what isolation it really enforces.
 * `auto` tries bubblewrap for real (one throw-away sandbox) and falls back to plain processes.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.js';
import type { IsolationReport, SandboxDriver } from '../core/ports.js';
import { BWRAP, BubblewrapSandbox, SETPRIV, systemMountArgs } from './bubblewrap.js';
import { detectCgroups } from './cgroups.js';
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

/** `probe`: report what the driver would enforce without changing the host (no namespaces, no firewall table). */
export function createSandboxDriver(config: Config, probe = false): SandboxDriver {
  const cgroups = detectCgroups();
  const stateDir = join(config.dataDir, 'sandbox');
  if (config.sandbox === 'process') {
    return new ProcessSandbox(cgroups, config.sandboxUid, 'sandbox set to "process"');
  }
  const problem = bubblewrapProblem(config.sandboxUid);
  if (problem === undefined) {
    const network = createNetworkIsolation(
      { subnet: config.sandboxSubnet, egressAllow: config.egressAllow },
      probe,
    );
    return new BubblewrapSandbox({ cgroups, sandboxUid: config.sandboxUid, stateDir, network });
  }
  if (config.sandbox === 'bubblewrap') throw new Error(`sandbox is set to bubblewrap, but ${problem}`);
  return new ProcessSandbox(cgroups, config.sandboxUid, problem);
}

/** What `nimbus doctor` prints: the isolation the configured driver enforces on this host. */
export async function probeIsolation(config: Config): Promise<IsolationReport> {
  return createSandboxDriver(config, true).isolation();
}
