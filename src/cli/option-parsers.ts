/**
 * Parsers for option values, run by commander while it reads the command line so a bad value is
 * reported (with the option's name) before any request is made. They must never touch the network.
 */
import { InvalidArgumentError } from 'commander';

export function parsePositiveInt(value: string): number {
  const n = Number(value.trim());
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1) {
    throw new InvalidArgumentError('expected a whole number of at least 1.');
  }
  return n;
}

export function parseNonNegativeInt(value: string): number {
  const n = Number(value.trim());
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) {
    throw new InvalidArgumentError('expected a whole number of at least 0.');
  }
  return n;
}

/** Accumulates a repeatable option's values in the order given. */
export function collectList(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Accumulates repeated `--env KEY=VALUE` into one map; the value may itself contain `=` or be empty. */
export function collectEnv(
  pair: string,
  previous: Record<string, string> | undefined,
): Record<string, string> {
  const eq = pair.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`expected KEY=VALUE, got '${pair}'.`);
  return { ...previous, [pair.slice(0, eq)]: pair.slice(eq + 1) };
}
