/**
 * `nimbus server`: runs the Nimbus server in this process until SIGINT or SIGTERM, then closes it.
 * The only client-side command that loads server code, and only when it runs. It must never print
 * the admin key except the one time the server generated it.
 */
import type { Command } from 'commander';
import { join } from 'node:path';
import { CliError } from '../cli-error.js';
import { settingFlags } from '../../config.js';
import { loadServerSettings } from '../server-settings.js';

type ServerOptions = Record<string, string | undefined> & { config?: string };

/** How long a finished shutdown may take to let the process exit by itself before it is forced. */
const EXIT_GRACE_MS = 2000;

export function registerServerCommand(program: Command): void {
  const server = program
    .command('server')
    .description('start the Nimbus server in this process (settings: see `nimbus settings`)')
    .option('--config <file>', 'JSON file of settings (default: $NIMBUS_CONFIG)');
  // One flag per setting, from the settings schema, so the flags and README's table always agree.
  for (const { flag, doc } of settingFlags()) server.option(`${flag} <value>`, doc);
  server.action(async (opts: ServerOptions) => {
    const { config: configFile, ...flags } = opts;
    const config = await loadServerSettings(flags, configFile);
    const { startServer } = await import('../../server.js');
    const server = await startServer(config).catch((err: unknown) => {
      throw explainStartFailure(err, config.host, config.port);
    });
    console.log(`Nimbus listening on ${server.url}`);
    if (server.adminKeyGenerated) {
      console.log(`admin key (shown once, also in ${join(config.dataDir, 'admin.key')}): ${server.adminKey}`);
    }

    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    // A second signal means the user will not wait for in-flight work to finish.
    const force = (again: NodeJS.Signals): void => {
      console.error(`received ${again} again: exiting without waiting`);
      process.exit(1);
    };
    process.once('SIGINT', force);
    process.once('SIGTERM', force);
    console.error(`received ${signal}: shutting down (press Ctrl-C again to force)`);
    await server.close();
    console.error('Nimbus stopped');
    // Should a handle outlive close(), exit anyway; unref'd, so a clean exit is not delayed.
    setTimeout(() => process.exit(process.exitCode ?? 0), EXIT_GRACE_MS).unref();
  });
}

function explainStartFailure(err: unknown, host: string, port: number): unknown {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code === 'EADDRINUSE') {
    return new CliError(
      `cannot listen on ${host}:${port}: the port is already in use`,
      1,
      'stop the other process, or pick another port with --port or NIMBUS_PORT',
    );
  }
  if (code === 'EACCES') {
    return new CliError(
      `cannot listen on ${host}:${port}: permission denied`,
      1,
      'ports below 1024 need privileges; pick another with --port',
    );
  }
  if (code === 'EADDRNOTAVAIL') {
    return new CliError(
      `cannot listen on ${host}:${port}: no such address on this machine`,
      1,
      'check --host',
    );
  }
  return err;
}
