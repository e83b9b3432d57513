/**
 * `nimbus executions [function]`, `executions list [function]` and `executions get <id> [--wait]`:
 * the record of past invocations, newest first. Read-only; it must never change a record.
 */
import { Option, type Command } from 'commander';
import { EXECUTION_STATUSES, type ExecutionStatus } from '../../core/execution.js';
import { addConnectionOptions, addJsonOption, clientFor, wantsJson } from '../client-options.js';
import { parsePositiveInt } from '../option-parsers.js';
import { executionDetail, executionsTable } from '../views.js';

const STATUSES = EXECUTION_STATUSES;
/** Statuses after which an execution still changes; `get --wait` polls past them. */
const UNFINISHED: readonly ExecutionStatus[] = ['queued', 'running', 'retrying'];
const WAIT_POLL_MS = 200;

interface ListOptions {
  status?: ExecutionStatus;
  limit?: number;
}

export function registerExecutionsCommand(program: Command): void {
  const executions = listCommand(program.command('executions'))
    .description('list recent executions, of one function or all (also: executions list|get)')
    // `help` would otherwise shadow a function named help; `nimbus executions --help` still works.
    .helpCommand(false);

  listCommand(executions.command('list')).description('list recent executions, of one function or all');

  const get = executions
    .command('get')
    .description('show one execution: status, timing, input, output and error')
    .argument('<id>', 'execution id')
    .option('--wait', 'wait until the execution has ended (an async call: after its last attempt)')
    .action(async (id: string, opts: { wait?: boolean }, cmd: Command) => {
      const client = clientFor(cmd);
      let execution = await client.executions.get(id);
      while (opts.wait && UNFINISHED.includes(execution.status)) {
        await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS));
        execution = await client.executions.get(id);
      }
      console.log(wantsJson(cmd) ? JSON.stringify(execution, null, 2) : executionDetail(execution));
    });
  addJsonOption(addConnectionOptions(get));
}

function listCommand(cmd: Command): Command {
  cmd
    .argument('[function]', 'only executions of this function')
    .addOption(new Option('--status <status>', 'only executions with this status').choices(STATUSES))
    .option('--limit <n>', 'at most this many (newest first)', parsePositiveInt)
    .action(async (functionName: string | undefined, _opts: unknown, command: Command) => {
      // Merged with the parent's so `executions --limit 5 list` works like `executions list --limit 5`.
      const opts = command.optsWithGlobals<ListOptions>();
      const body = await clientFor(command).executions.list({
        functionName,
        status: opts.status,
        limit: opts.limit,
      });
      if (wantsJson(command)) return console.log(JSON.stringify(body, null, 2));
      if (body.executions.length === 0) return console.error('no executions found');
      console.log(executionsTable(body.executions, functionName === undefined));
    });
  return addJsonOption(addConnectionOptions(cmd));
}
