/**
 * The `stackTrace` of Lambda's error document, from the stack text a runtime reported: Node's
 * stack lines as they are, Python's traceback as one entry per frame (`  File "…", line N, in f`
 * with its source line), the way Lambda's Python runtime lists them.
 */
import type { Runtime } from '../../core/function.js';

const PYTHON_TRACEBACK_HEAD = 'Traceback (most recent call last):';

/** The error document's `stackTrace` entries of a runtime's stack text (none when it has none). */
export function lambdaStackTrace(runtime: Runtime, stack: string | undefined): string[] {
  if (!stack) return [];
  const lines = stack.split('\n');
  if (runtime !== 'python3') return lines.filter((line) => line.length > 0);
  const entries: string[] = [];
  for (const line of lines) {
    if (line === PYTHON_TRACEBACK_HEAD || line.length === 0) continue;
    if (line.startsWith('  File ') || entries.length === 0) entries.push(`${line}\n`);
    else entries[entries.length - 1] += `${line}\n`;
  }
  return entries;
}
