/**
 * Lambda's paging of list actions: `MaxItems` (1 to 10000) and an opaque `Marker`, here the
 * base64url key of the previous page's last item. Used by the function, version, alias and layer
 * listings.
 */
import { invalidParameter } from './lambda-errors.js';

/** Lambda's MaxItems: 1 to 10000, `fallback` when absent. */
export function maxItemsOf(value: string | undefined, fallback: number): number {
  const maxItems = value === undefined ? fallback : Number(value);
  if (!Number.isInteger(maxItems) || maxItems < 1 || maxItems > 10_000) {
    throw invalidParameter('MaxItems must be a whole number from 1 to 10000');
  }
  return maxItems;
}

/** One page of `items` after the opaque `marker` (the key of the previous page's last item). */
export function page<T>(
  items: T[],
  keyOf: (item: T) => string,
  marker: string | undefined,
  maxItems: number,
): { items: T[]; next?: string } {
  let start = 0;
  if (marker !== undefined) {
    const after = Buffer.from(marker, 'base64url').toString('utf8');
    start = items.findIndex((item) => keyOf(item) === after) + 1;
    if (start === 0) throw invalidParameter('Marker is not one this listing gave (or its item was deleted)');
  }
  const slice = items.slice(start, start + maxItems);
  const more = start + maxItems < items.length;
  return more
    ? { items: slice, next: Buffer.from(keyOf(slice[slice.length - 1]!)).toString('base64url') }
    : { items: slice };
}
