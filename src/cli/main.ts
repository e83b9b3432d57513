#!/usr/bin/env node
/**
 * The `nimbus` command line: assembles the commands and turns every failure into one `error:` line
 * on stderr and an exit code (1 failed, 2 bad usage or settings, 130 interrupted). Client commands
 * talk to the server only over its HTTP API; this module must never import server code itself.
 */
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { ApiError } from './api/client.js';
import { CliError, USAGE_EXIT_CODE } from './cli-error.js';
import { addConnectionOptions, addJsonOption } from './client-options.js';
import { registerAccessKeysCommand } from './commands/access-keys.js';
import { registerDeadLettersCommand } from './commands/dead-letters.js';
import { registerDeployCommand } from './commands/deploy.js';
import { registerDoctorCommand } from './commands/doctor.js';
import { registerExecutionsCommand } from './commands/executions.js';
import { registerFunctionsCommand } from './commands/functions.js';
import { registerInvokeCommand } from './commands/invoke.js';
import { registerLayersCommand } from './commands/layers.js';
import { registerLoginCommand } from './commands/login.js';
import { registerLogsCommand } from './commands/logs.js';
import { registerServerCommand } from './commands/server.js';
import { registerSettingsCommand } from './commands/settings.js';
import { registerTriggersCommand } from './commands/triggers.js';
import { registerAliasesCommand, registerVersionsCommand } from './commands/versions.js';

function buildProgram(): Command {
  const program = new Command('nimbus')
    .description('Nimbus: deploy and invoke sandboxed Python and Node.js functions')
    .version(readVersion(), '-V, --version')
    // Set before any subcommand exists: commander copies these settings into each one it creates.
    .exitOverride()
    // Global options are read before the command name only, so a command's own option of the same
    // name (e.g. `invoke --json`) and option values that look like flags are never taken from it.
    .enablePositionalOptions()
    .showSuggestionAfterError();
  addJsonOption(addConnectionOptions(program));

  registerServerCommand(program);
  registerLoginCommand(program);
  registerDeployCommand(program);
  registerInvokeCommand(program);
  registerFunctionsCommand(program);
  registerExecutionsCommand(program);
  registerTriggersCommand(program);
  registerVersionsCommand(program);
  registerAliasesCommand(program);
  registerLayersCommand(program);
  registerDeadLettersCommand(program);
  registerAccessKeysCommand(program);
  registerLogsCommand(program);
  registerDoctorCommand(program);
  registerSettingsCommand(program);
  return program;
}

/** Prints `err` for a person and returns the exit code. */
function report(err: unknown): number {
  // Commander has already printed its message (or the help or version).
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : USAGE_EXIT_CODE;
  if (err instanceof ApiError) {
    printError(`${err.message} (${err.code})`, err.hint);
    return 1;
  }
  if (err instanceof CliError) {
    printError(err.message, err.hint);
    return err.exitCode;
  }
  const e = err instanceof Error ? err : new Error(String(err));
  // Errors from platform code run in-process (server, doctor, deploy's packer) carry a stable code.
  const code = (e as { code?: unknown }).code;
  printError(e.name === 'NimbusError' && typeof code === 'string' ? `${e.message} (${code})` : e.message);
  if (process.env.NIMBUS_DEBUG) console.error(e.stack);
  return 1;
}

function printError(message: string, hint?: string): void {
  console.error(`error: ${message}`);
  if (hint) console.error(`hint: ${hint}`);
}

/** The package version, from package.json next to src/ (tsx) or two levels above dist/src/cli (built). */
function readVersion(): string {
  for (const candidate of ['../../../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(candidate, import.meta.url), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'nimbus' && pkg.version) return pkg.version;
    } catch {
      // Not at this level; try the next.
    }
  }
  return 'unknown';
}

// `nimbus ... | head` closes stdout early; that is the reader's choice, not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  process.exitCode = report(err);
}
