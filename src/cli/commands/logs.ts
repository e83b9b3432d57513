/**
 * `nimbus logs <execution-id | function>`: prints an execution's log, or a function's recent log
 * across executions; with --follow keeps printing new lines until Ctrl-C. The argument is tried as
 * an execution id first. It must never leave the terminal mid-line or print a stack on Ctrl-C.
 */
import type { Command } from 'commander';
import { ApiError, isAbort, type ApiClient, type ExecutionLogs } from '../api/client.js';
import { addConnectionOptions, addJsonOption, clientFor, wantsJson } from '../client-options.js';
import { parseNonNegativeInt } from '../option-parsers.js';
import { executionLogLine, functionLogLine } from '../views.js';

interface LogsOptions {
  follow?: boolean;
  tail?: number;
}

/** The shell's convention for "ended by Ctrl-C". */
const INTERRUPTED_EXIT_CODE = 130;

export function registerLogsCommand(program: Command): void {
  const cmd = program
    .command('logs')
    .description("print an execution's log, or a function's recent log across its executions")
    .argument('<target>', 'execution id, or function name')
    .option('-f, --follow', 'keep printing new lines until Ctrl-C')
    .option('-n, --tail <lines>', 'start with only the last N lines', parseNonNegativeInt)
    .action(async (target: string, opts: LogsOptions, command: Command) => {
      const client = clientFor(command);
      const json = wantsJson(command);
      const controller = new AbortController();
      const interrupt = (): void => controller.abort();
      process.once('SIGINT', interrupt);
      try {
        const logs = await client.executions.findLogs(target);
        if (logs) await printExecutionLogs(client, target, logs, opts, json, controller.signal);
        else await printFunctionLogs(client, target, opts, json, controller.signal);
      } catch (err) {
        if (!(isAbort(err) && controller.signal.aborted)) throw err;
        process.exitCode = INTERRUPTED_EXIT_CODE;
      } finally {
        process.off('SIGINT', interrupt);
      }
    });
  addJsonOption(addConnectionOptions(cmd));
}

async function printExecutionLogs(
  client: ApiClient,
  id: string,
  logs: ExecutionLogs,
  opts: LogsOptions,
  json: boolean,
  signal: AbortSignal,
): Promise<void> {
  const lines =
    opts.tail === undefined ? logs.lines : logs.lines.slice(Math.max(0, logs.lines.length - opts.tail));
  if (json && !opts.follow) return console.log(JSON.stringify({ ...logs, lines }, null, 2));
  // Following prints line by line, so JSON output becomes one object per line (NDJSON).
  for (const line of lines) console.log(json ? JSON.stringify(line) : executionLogLine(line));
  if (!opts.follow) return;
  const lastSeq = logs.lines.reduce((max, line) => Math.max(max, line.seq), -1);
  for await (const line of client.executions.followLogs(id, lastSeq, signal)) {
    console.log(json ? JSON.stringify(line) : executionLogLine(line));
  }
}

async function printFunctionLogs(
  client: ApiClient,
  name: string,
  opts: LogsOptions,
  json: boolean,
  signal: AbortSignal,
): Promise<void> {
  try {
    for await (const line of client.functionLogs.lines(name, {
      tail: opts.tail,
      follow: opts.follow === true,
      signal,
    })) {
      console.log(json ? JSON.stringify(line) : functionLogLine(line));
    }
  } catch (err) {
    if (err instanceof ApiError && err.code === 'FUNCTION_NOT_FOUND') {
      throw new ApiError(
        err.status,
        err.code,
        `no execution or function named '${name}'`,
        err.details,
        'list them with `nimbus executions` or `nimbus functions list`',
      );
    }
    throw err;
  }
  if (opts.follow && !signal.aborted) console.error('the server closed the log stream');
}
