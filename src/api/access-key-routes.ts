/**
 * Routes for access keys of the Lambda-compatible API (admin key only): create (the one answer
 * that shows the secret), list (never with secrets), delete (revokes at once).
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { accessKeyView } from '../engine/access-keys/access-key-service.js';
import type { ApiDeps } from './deps.js';
import { parseBody } from './parse.js';

export const createAccessKeyBody = z
  .object({
    allow: z.array(z.string()).optional(),
    description: z.string().optional(),
  })
  .strict();

export function registerAccessKeyRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.post('/v1/access-keys', async (request, reply) => {
    const body =
      Buffer.isBuffer(request.body) && request.body.length > 0
        ? parseBody(request.body, createAccessKeyBody)
        : {};
    const key = await deps.accessKeys.create(body);
    return reply.code(201).send({
      accessKeyId: key.id,
      secretAccessKey: key.secret,
      ...accessKeyView(key),
    });
  });

  app.get('/v1/access-keys', async () => ({ accessKeys: await deps.accessKeys.list() }));

  app.delete<{ Params: { id: string } }>('/v1/access-keys/:id', async (request, reply) => {
    await deps.accessKeys.delete(request.params.id);
    return reply.code(204).send();
  });
}
