/** Parses request bodies and query strings against zod schemas, with messages that say what to fix. */
import type { z } from 'zod';
import { NimbusError } from '../core/errors.js';
import { zodToNimbus } from './errors.js';

/** Bodies arrive as raw bytes (see app.ts); JSON is parsed here so errors are ours. */
export function parseBody<T extends z.ZodType>(body: unknown, schema: T): z.output<T> {
  let value: unknown = body;
  if (Buffer.isBuffer(body)) {
    if (body.length === 0) throw new NimbusError('VALIDATION_FAILED', 'the request needs a JSON body');
    try {
      value = JSON.parse(body.toString('utf8'));
    } catch (err) {
      throw new NimbusError('INVALID_JSON', `the request body is not valid JSON: ${(err as Error).message}`);
    }
  }
  const result = schema.safeParse(value);
  if (!result.success) throw zodToNimbus(result.error, 'body');
  return result.data;
}

export function parseQuery<T extends z.ZodType>(query: unknown, schema: T): z.output<T> {
  const result = schema.safeParse(query ?? {});
  if (!result.success) throw zodToNimbus(result.error, 'query');
  return result.data;
}
