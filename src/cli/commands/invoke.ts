/**
 * `nimbus invoke`: calls a function once with an event and prints its result. The event is checked
 * to be JSON before anything is sent; a function failure is shown on stderr with exit code 1.
 * It must never mix diagnostics into stdout, which holds only the result, for pipes.
 */
import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { text } from 'node:stream/consumers';
import { usageError } from '../cli-error.js';
import { addConnectionOptions, clientFor } from '../client-options.js';

interface InvokeOptions {
  data?: string;
  file?: string;
  json?: boolean;
  async?: boolean;
  qualifier?: string;
}

export function registerInvokeCommand(program: Command): void {
  const cmd = program
    .command('invoke')
    .description('invoke a function and print its result')
    .argument('<name>', 'function name')
    .option('-d, --data <json>', 'the event, as JSON text (default: {})')
    .option('-f, --file <path>', 'read the event from a JSON file ("-" reads stdin)')
    .option('--json', 'print the result as the raw JSON the API returned (strings stay quoted)')
    .option('--async', 'queue the call and print its execution id instead of waiting for the result')
    .option('-q, --qualifier <q>', 'run a version (1, 2, …), an alias (e.g. production) or $LATEST')
    .action(async (name: string, opts: InvokeOptions, command: Command) => {
      const event = await readEvent(opts);
      if (opts.async) {
        const { executionId } = await clientFor(command).functions.invokeAsync(name, event, opts.qualifier);
        console.log(opts.json ? JSON.stringify({ executionId }) : executionId);
        console.error(`queued; follow it with \`nimbus executions get ${executionId}\``);
        return;
      }
      const outcome = await clientFor(command).functions.invoke(name, event, opts.qualifier);
      if (outcome.executionId) {
        const served = opts.qualifier !== undefined && outcome.version ? ` (version ${outcome.version})` : '';
        console.error(`execution ${outcome.executionId}${served}`);
      }
      if (!outcome.ok) {
        const { type, message, stack } = outcome.error;
        console.error(`${type}: ${message}`);
        if (stack) console.error(stack.trimEnd());
        process.exitCode = 1;
        return;
      }
      if (opts.json) {
        if (outcome.body) console.log(outcome.body.replace(/\n$/, ''));
      } else if (typeof outcome.result === 'string') {
        console.log(outcome.result);
      } else if (outcome.result !== undefined) {
        console.log(JSON.stringify(outcome.result, null, 2));
      }
    });
  addConnectionOptions(cmd);
}

/** The event as JSON text, validated here so a typo costs no request (and no execution record). */
async function readEvent(opts: InvokeOptions): Promise<string> {
  if (opts.data !== undefined && opts.file !== undefined)
    throw usageError('give the event with --data or --file, not both');
  if (opts.data !== undefined) return checkJson(opts.data, '--data');
  if (opts.file === undefined) return '{}';
  let content: string;
  try {
    content = opts.file === '-' ? await text(process.stdin) : await readFile(opts.file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw usageError(`cannot read --file ${opts.file}: ${reason}`);
  }
  return checkJson(content, opts.file === '-' ? 'the event on stdin' : `--file ${opts.file}`);
}

function checkJson(text: string, source: string): string {
  try {
    JSON.parse(text);
  } catch (err) {
    throw usageError(
      `${source} is not valid JSON: ${(err as Error).message}`,
      `e.g. --data '{"name": "World"}'`,
    );
  }
  return text;
}
