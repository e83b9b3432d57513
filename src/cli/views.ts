/**
 * How the CLI shows API objects to people: tables for listings, aligned fields for one record, one
 * line per log line. Pure string building; it must never print or call the server, and never fail
 * on a field the server left out (it shows `-` instead).
 */
import { TEXT_TRUNCATED_MARKER, type Execution, type LogLine } from '../core/execution.js';
import type { IsolationReport } from '../core/ports.js';
import type { Destination } from '../core/function.js';
import type { DeadLetterView, ExecutionLogLine, FunctionView } from './api/client.js';
import { renderFields, renderTable } from './table.js';

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

export function functionsTable(functions: readonly FunctionView[]): string {
  return renderTable(
    ['NAME', 'RUNTIME', 'HANDLER', 'MEMORY', 'TIMEOUT', 'CODE', 'UPDATED'],
    functions.map((fn) => [
      fn.name,
      fn.runtime,
      fn.handler,
      fn.memoryMb === undefined ? '-' : `${fn.memoryMb} MB`,
      fn.timeoutSec === undefined ? '-' : `${fn.timeoutSec} s`,
      typeof fn.codeSize === 'number' ? formatBytes(fn.codeSize) : '-',
      fn.updatedAt ?? '-',
    ]),
  );
}

export function functionDetail(fn: FunctionView): string {
  const env = fn.env ? Object.entries(fn.env).map(([k, v]) => `${k}=${v}`) : (fn.envKeys ?? []);
  return renderFields([
    ['name', fn.name],
    ['runtime', fn.runtime],
    ['handler', fn.handler],
    ['memory', `${fn.memoryMb} MB`],
    ['timeout', `${fn.timeoutSec} s`],
    ['concurrency', String(fn.concurrency)],
    ['instances', `${fn.minInstances} to ${fn.maxInstances}`],
    ['env', env.length > 0 ? env.join('\n') : '-'],
    ['description', fn.description || '-'],
    ['network', fn.network],
    ['layers', fn.layers.length > 0 ? fn.layers.map((l) => `${l.layerName}:${l.version}`).join('\n') : '-'],
    ['async', fn.async ? `${fn.async.maxRetries} retries, max event age ${fn.async.maxEventAgeSec} s` : '-'],
    ['on success', destinationText(fn.async?.onSuccess)],
    ['on failure', destinationText(fn.async?.onFailure)],
    [
      'code',
      `sha256 ${fn.codeSha256}${typeof fn.codeSize === 'number' ? ` (${formatBytes(fn.codeSize)})` : ''}`,
    ],
    ['version', fn.version],
    ['created', fn.createdAt],
    ['updated', fn.updatedAt],
  ]);
}

/** With `withFunction`, a FUNCTION column is added, for listings that span every function. */
export function executionsTable(executions: readonly Execution[], withFunction: boolean): string {
  const headers = ['ID', 'STATUS', 'DURATION', 'START', 'TRIGGER', 'TYPE', 'ATTEMPTS', 'STARTED'];
  const rows = executions.map((e) => [
    e.id,
    e.status,
    durationText(e.durationMs),
    e.coldStart ? 'cold' : 'warm',
    e.trigger,
    e.invocationType ?? 'sync',
    String(e.attempts ?? 1),
    e.startedAt,
  ]);
  if (!withFunction) return renderTable(headers, rows);
  return renderTable(
    [...headers.slice(0, 1), 'FUNCTION', ...headers.slice(1)],
    rows.map((row, i) => [...row.slice(0, 1), executions[i]?.functionName ?? '-', ...row.slice(1)]),
  );
}

/** The REPORT line's figures: the call's own time, init time on a cold start, memory used of the size. */
function reportText(e: Execution): string | undefined {
  // Records written before these figures existed (or by an older server) have none.
  if (e.callDurationMs === null || e.callDurationMs === undefined) return undefined;
  const parts = [`${e.callDurationMs.toFixed(2)} ms call`];
  if (e.initDurationMs !== null && e.initDurationMs !== undefined)
    parts.push(`${e.initDurationMs.toFixed(2)} ms init`);
  if (e.memorySizeMb !== null && e.memorySizeMb !== undefined) {
    const used =
      e.maxMemoryUsedMb === null || e.maxMemoryUsedMb === undefined ? '?' : String(e.maxMemoryUsedMb);
    parts.push(`${used} of ${e.memorySizeMb} MB memory used`);
  }
  return parts.join(', ');
}

export function executionDetail(e: Execution): string {
  const fields: [string, string][] = [
    ['id', e.id],
    ['function', `${e.functionName}${e.version ? ` (${e.version})` : ''}`],
    ['status', `${e.status}${e.outcome && e.outcome !== e.status ? ` (${e.outcome})` : ''}`],
    ['trigger', e.trigger],
    [
      'invocation',
      `${e.invocationType ?? 'sync'}, ${e.attempts ?? 1} ${e.attempts === 1 ? 'attempt' : 'attempts'}`,
    ],
    ['started', e.startedAt],
    ['duration', `${durationText(e.durationMs)}, ${e.coldStart ? 'cold' : 'warm'} start`],
  ];
  if (e.instanceId) fields.push(['instance', e.instanceId]);
  const report = reportText(e);
  if (report) fields.push(['report', report]);
  fields.push(['input', recordText(e.input, e.inputTruncated)]);
  fields.push(['output', recordText(e.output, e.outputTruncated)]);
  if (e.error) {
    fields.push([
      'error',
      `${e.error.type}: ${e.error.message}${e.error.stack ? `\n${e.error.stack.trimEnd()}` : ''}`,
    ]);
  }
  return renderFields(fields);
}

export function deadLettersTable(letters: readonly DeadLetterView[]): string {
  return renderTable(
    ['ID', 'FUNCTION', 'CONDITION', 'ATTEMPTS', 'ERROR', 'FAILED', 'REPLAYED'],
    letters.map((d) => [
      d.id,
      d.functionName,
      d.condition,
      String(d.attempts),
      d.error ? oneLine(`${d.error.type}: ${d.error.message}`, 60) : '-',
      d.failedAt,
      d.replayExecutionId ?? '-',
    ]),
  );
}

export function deadLetterDetail(d: DeadLetterView): string {
  const fields: [string, string][] = [
    ['id', d.id],
    ['function', d.functionName],
    ['condition', d.condition],
    ['attempts', String(d.attempts)],
    ['trigger', d.trigger],
    ['queued', d.enqueuedAt],
    ['failed', d.failedAt],
    ['payload', JSON.stringify(d.payload)],
  ];
  if (d.error) {
    fields.push([
      'error',
      `${d.error.type}: ${d.error.message}${d.error.stack ? `\n${d.error.stack.trimEnd()}` : ''}`,
    ]);
  }
  fields.push(['replayed', d.replayedAt ? `${d.replayedAt} as execution ${d.replayExecutionId}` : 'no']);
  return renderFields(fields);
}

function destinationText(d: Destination | null | undefined): string {
  if (!d) return '-';
  return d.type === 'function' ? `function ${d.name}` : d.url;
}

function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ');
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/**
 * One log line as the terminal shows it. The runtimes join the lines of one entry (a traceback, a
 * multi-line logging record) with carriage returns, as Lambda's do; they are shown as indented
 * line breaks, so no printed text can start a line that looks like one of the platform's.
 */
export function executionLogLine(line: ExecutionLogLine): string {
  const message = line.message.split('\r').map(safeText).join('\n    ');
  return `${safeText(line.time)} ${safeText(line.stream)} ${message}`;
}

/**
 * Text a function printed, made safe for a terminal: control characters (ANSI escapes, cursor
 * moves, bells, line breaks, C1 controls) are shown escaped (`\x1b`, `\u009b`) instead of being
 * obeyed, so a log cannot rewrite the screen or forge lines. Tabs are kept.
 */
function safeText(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100
      ? `\\x${code.toString(16).padStart(2, '0')}`
      : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** Function logs interleave executions, so each line names its execution (short form). */
export function functionLogLine(line: LogLine): string {
  return `${String(line.executionId).slice(0, 8)} ${executionLogLine(line)}`;
}

const ENFORCEMENT: Record<string, string> = {
  'cgroup-v2': 'enforced by cgroup v2',
  'cgroup-v1': 'enforced by cgroup v1',
  rlimit: 'approximate: rlimit on address space, per process',
  none: 'NOT ENFORCED',
};

const NETWORK_EGRESS: Record<IsolationReport['network']['egress'], string> = {
  filtered: "internet for functions with network 'internet' (denied destinations dropped)",
  none: 'NONE (loopback only, whatever the function asks)',
  host: "the host's network, UNFILTERED",
};

export function isolationReport(report: IsolationReport): string {
  const yesNo = (on: boolean): string => (on ? 'yes' : 'NO');
  const fields = renderFields([
    ['namespaces', yesNo(report.namespaces)],
    ['read-only code', yesNo(report.readOnlyCode)],
    ['unprivileged user', yesNo(report.unprivilegedUser)],
    ['memory limit', ENFORCEMENT[report.memoryLimit] ?? report.memoryLimit],
    ['process limit', ENFORCEMENT[report.processLimit] ?? report.processLimit],
    ['cpu shares', ENFORCEMENT[report.cpuShares] ?? report.cpuShares],
    ['seccomp filter', report.seccomp.length > 0 ? `yes, denies ${report.seccomp.join(', ')}` : 'NO'],
    ['nested user namespaces', report.nestedUserNamespaces === 'denied' ? 'denied' : 'ALLOWED'],
    [
      'uid per instance',
      report.uidSeparation === 'none'
        ? 'NO (all functions share one user)'
        : `yes, from ${report.uidSeparation.first}-${report.uidSeparation.last}`,
    ],
    ['cpu quota', ENFORCEMENT[report.cpuQuota] ?? report.cpuQuota],
    ['idle freezing', ENFORCEMENT[report.freezer] ?? report.freezer],
    ['cgroups', cgroupPlacement(report.cgroupNesting)],
    ['own network namespace', yesNo(report.network.ownNamespace)],
    ['egress', NETWORK_EGRESS[report.network.egress]],
    ['denied destinations', report.network.deniedRanges.join(', ') || '-'],
    ['allowed destinations', report.network.allowed.join(', ') || '-'],
  ]);
  const warnings =
    report.warnings.length > 0 ? ['warnings:', ...report.warnings.map((w) => `  - ${w}`)] : ['no warnings'];
  return [`sandbox driver: ${report.driver}`, '', indent(fields), '', ...warnings].join('\n');
}

function cgroupPlacement(nesting: IsolationReport['cgroupNesting']): string {
  if (nesting.placement === 'none') return 'none';
  const where = nesting.placement === 'nested' ? "inside the server's own cgroup" : 'at the hierarchy root';
  return `${where}: ${nesting.parents.join(', ')}`;
}

function durationText(ms: number | null | undefined): string {
  return typeof ms === 'number' ? `${ms} ms` : '-';
}

function recordText(text: string | null | undefined, truncated: boolean | undefined): string {
  if (text === null || text === undefined) return '-';
  // The server marks cut text itself; only say so when its marker is missing.
  return truncated && !text.endsWith(TEXT_TRUNCATED_MARKER) ? `${text} ${TEXT_TRUNCATED_MARKER}` : text;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');
}

/** The data dir's disk usage by part, against its budget (`nimbus doctor`). */
export function dataDirUsageView(
  dataDir: string,
  usage: {
    packagesBytes: number;
    codeBytes: number;
    databaseBytes: number;
    totalBytes: number;
    budgetBytes: number;
  },
): string {
  const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  const share = usage.budgetBytes > 0 ? Math.round((usage.totalBytes / usage.budgetBytes) * 100) : 0;
  return [
    `data dir ${dataDir}:`,
    `  packages (unpacked code)  ${mb(usage.packagesBytes)}`,
    `  code archives             ${mb(usage.codeBytes)}`,
    `  database and logs         ${mb(usage.databaseBytes)}`,
    `  total                     ${mb(usage.totalBytes)} of ${mb(usage.budgetBytes)} budget (${share}%, setting diskBudgetMb)`,
  ].join('\n');
}
