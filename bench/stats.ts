/**
 * Small statistics helpers for the benchmark: median, percentiles (linear interpolation between
 * closest ranks, as numpy's default), and rounding for display.
 */

/** The q-th percentile (0..100) of the values, interpolating between the closest ranks; NaN when empty. */
function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (Math.min(100, Math.max(0, q)) / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const low = sorted[lo] ?? Number.NaN;
  const high = sorted[hi] ?? low;
  return low + (high - low) * (rank - lo);
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

export interface Summary {
  n: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export function summarize(values: readonly number[]): Summary {
  const n = values.length;
  const mean = n === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / n;
  return {
    n,
    min: n === 0 ? Number.NaN : Math.min(...values),
    p50: percentile(values, 50),
    p90: percentile(values, 90),
    p99: percentile(values, 99),
    max: n === 0 ? Number.NaN : Math.max(...values),
    mean,
  };
}

/** Rounds to the given number of decimals, keeping NaN (serialised as null in JSON). */
export function round(value: number, decimals = 2): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}
