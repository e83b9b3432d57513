/**
 * Routes for the dead-letter list: asynchronous calls that finally failed (retries exhausted or
 * too old). List, read, replay as a new asynchronous call, delete. Thin: parse, call the engine.
 */
import type { FastifyInstance } from 'fastify';
import type { DeadLetter } from '../core/ports.js';
import type { ApiDeps } from './deps.js';
import { parseQuery } from './parse.js';
import { deadLetterListQuery } from './schemas.js';

/** The event is shown as JSON, as it was sent (it was checked to be JSON when it was queued). */
function deadLetterView(letter: DeadLetter): Record<string, unknown> {
  let payload: unknown = letter.payload;
  try {
    payload = JSON.parse(letter.payload);
  } catch {
    // Stored before the check existed, or by another writer: show the text.
  }
  return { ...letter, payload };
}

export function registerDeadLetterRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.get<{ Querystring: Record<string, string> }>('/v1/dead-letters', async (request) => {
    const query = parseQuery(request.query, deadLetterListQuery);
    const letters = await deps.dispatcher.listDeadLetters({
      functionName: query.function,
      limit: query.limit,
      before: query.before,
    });
    return { deadLetters: letters.map(deadLetterView) };
  });

  app.get<{ Params: { id: string } }>('/v1/dead-letters/:id', async (request) => {
    return deadLetterView(await deps.dispatcher.getDeadLetter(request.params.id));
  });

  app.post<{ Params: { id: string } }>('/v1/dead-letters/:id/replay', async (request, reply) => {
    const trigger = request.headers['x-nimbus-trigger'] === 'cli' ? 'cli' : 'api';
    const replayed = await deps.dispatcher.replay(request.params.id, trigger);
    return reply
      .code(202)
      .header('x-nimbus-execution-id', replayed.executionId)
      .send({ executionId: replayed.executionId, deadLetterId: request.params.id });
  });

  app.delete<{ Params: { id: string } }>('/v1/dead-letters/:id', async (request, reply) => {
    await deps.dispatcher.deleteDeadLetter(request.params.id);
    return reply.code(204).send();
  });
}
