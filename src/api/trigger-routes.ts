/**
 * Routes for triggers: create and list a function's triggers, read, change and delete one, show a
 * timer's next firing times, and make a new key for a `key` HTTP trigger. Thin: parse, call the
 * TriggerService, shape the answer. A trigger's secret is shown only when it is made.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { NimbusError } from '../core/errors.js';
import type { TriggerRecord } from '../core/trigger.js';
import { nextFirings, parseSchedule } from '../engine/triggers/schedule.js';
import type { ApiDeps } from './deps.js';
import { parseBody, parseQuery } from './parse.js';
import { createTriggerBody, signTriggerBody, triggerNextQuery, updateTriggerBody } from './schemas.js';
import { EXPIRES_PARAM, SIGNATURE_PARAM, signRequest } from './trigger-auth.js';

/** Next firings shown with every timer trigger. */
const NEXT_SHOWN = 3;

/** A trigger as the API shows it: settings flattened, the secret left out. */
function triggerView(t: TriggerRecord): Record<string, unknown> {
  const { type, ...settings } = t.config;
  const view: Record<string, unknown> = {
    id: t.id,
    functionName: t.functionName,
    type,
    enabled: t.enabled,
    ...settings,
  };
  if (t.config.type === 'http') {
    view.path = `/fn/${t.functionName}/`;
    view.hasKey = t.secret !== null;
  } else {
    view.lastTick = t.lastTick;
    view.nextFirings = t.enabled
      ? nextFirings(parseSchedule(t.config.schedule, t.config.timezone), NEXT_SHOWN).map((d) =>
          d.toISOString(),
        )
      : [];
  }
  view.createdAt = t.createdAt;
  view.updatedAt = t.updatedAt;
  return view;
}

/** The view plus the secret, for the one answer that may show it. */
function withKey(t: TriggerRecord): Record<string, unknown> {
  return t.secret === null ? triggerView(t) : { ...triggerView(t), key: t.secret };
}

export function registerTriggerRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.post<{ Params: { name: string } }>('/v1/functions/:name/triggers', async (request, reply) => {
    const body = parseBody(request.body, createTriggerBody);
    const trigger = await deps.triggers.create(request.params.name, body);
    return reply.code(201).send(withKey(trigger));
  });

  app.get<{ Params: { name: string } }>('/v1/functions/:name/triggers', async (request) => ({
    triggers: (await deps.triggers.list(request.params.name)).map(triggerView),
  }));

  app.get('/v1/triggers', async () => ({ triggers: (await deps.triggers.list()).map(triggerView) }));

  app.get<{ Params: { id: string } }>('/v1/triggers/:id', async (request) =>
    triggerView(await deps.triggers.get(request.params.id)),
  );

  app.patch<{ Params: { id: string } }>('/v1/triggers/:id', async (request) => {
    const current = await deps.triggers.get(request.params.id);
    // `type` may be left out of a change: it is the trigger's own. The body is parsed once.
    let body = parseBody(request.body, z.unknown());
    if (body && typeof body === 'object' && !Array.isArray(body) && !('type' in body)) {
      body = { ...body, type: current.config.type };
    }
    const patch = parseBody(body, updateTriggerBody);
    return triggerView(await deps.triggers.update(current.id, patch));
  });

  app.delete<{ Params: { id: string } }>('/v1/triggers/:id', async (request, reply) => {
    await deps.triggers.delete(request.params.id);
    return reply.code(204).send();
  });

  app.get<{ Params: { id: string }; Querystring: Record<string, string> }>(
    '/v1/triggers/:id/next',
    async (request) => {
      const { count } = parseQuery(request.query, triggerNextQuery);
      const trigger = await deps.triggers.get(request.params.id);
      if (trigger.config.type !== 'timer') {
        throw new NimbusError(
          'VALIDATION_FAILED',
          `trigger ${trigger.id} is an HTTP trigger: only timer triggers have firing times`,
        );
      }
      const next = await deps.triggers.next(trigger.id, count);
      return {
        triggerId: trigger.id,
        schedule: trigger.config.schedule,
        timezone: trigger.config.timezone,
        enabled: trigger.enabled,
        next: next.map((d) => d.toISOString()),
      };
    },
  );

  app.post<{ Params: { id: string } }>('/v1/triggers/:id/rotate-key', async (request) =>
    withKey(await deps.triggers.rotateSecret(request.params.id)),
  );

  // A URL that calls a `key` trigger without its key, for one method and path, until it expires.
  app.post<{ Params: { id: string } }>('/v1/triggers/:id/sign', async (request) => {
    const body = parseBody(request.body, signTriggerBody);
    const trigger = await deps.triggers.get(request.params.id);
    if (trigger.config.type !== 'http' || trigger.config.auth !== 'key' || trigger.secret === null) {
      throw new NimbusError(
        'VALIDATION_FAILED',
        `trigger ${trigger.id} has no key to sign with: only HTTP triggers with auth 'key' have one`,
      );
    }
    // Normalised as a client will send it, so the signature covers exactly the bytes that arrive.
    const parsed = new URL(body.path, 'http://nimbus.invalid');
    const query = parsed.search.slice(1);
    const pathAndQuery = query === '' ? parsed.pathname : `${parsed.pathname}?${query}`;
    const expires = Math.floor(Date.now() / 1000) + body.expiresInSec;
    const signature = signRequest(trigger.secret, body.method, pathAndQuery, expires);
    const origin = `${request.protocol}://${request.headers.host ?? 'localhost'}`;
    const fnPath = `/fn/${encodeURIComponent(trigger.functionName)}${parsed.pathname}`;
    const signing = `${EXPIRES_PARAM}=${expires}&${SIGNATURE_PARAM}=${signature}`;
    return {
      url: `${origin}${fnPath}?${query === '' ? '' : `${query}&`}${signing}`,
      method: body.method,
      path: pathAndQuery,
      expiresAt: new Date(expires * 1000).toISOString(),
    };
  });
}
