/**
 * Routes for execution records and their logs, read through the ExecutionReader: an execution id
 * just handed out is readable at once.
 */
import type { FastifyInstance } from 'fastify';
import { executionNotFound } from '../core/errors.js';
import { renderExecutionLog } from '../engine/executions/report-lines.js';
import type { ApiDeps } from './deps.js';
import { parseQuery } from './parse.js';
import { executionListQuery } from './schemas.js';

export function registerExecutionRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.get<{ Querystring: Record<string, string> }>('/v1/executions', async (request) => {
    const query = parseQuery(request.query, executionListQuery);
    const executions = await deps.executions.list({
      functionName: query.function,
      status: query.status,
      limit: query.limit,
      before: query.before,
    });
    return { executions };
  });

  app.get<{ Params: { id: string } }>('/v1/executions/:id', async (request) => {
    const execution = await deps.executions.get(request.params.id);
    if (!execution) throw executionNotFound(request.params.id);
    return execution;
  });

  app.get<{ Params: { id: string } }>('/v1/executions/:id/logs', async (request) => {
    const execution = await deps.executions.get(request.params.id);
    if (!execution) throw executionNotFound(request.params.id);
    // As Lambda's log stream shows it: START, the lines, END and REPORT (rendered from the record).
    const lines = renderExecutionLog(execution, await deps.executions.logs(execution.id));
    return {
      executionId: execution.id,
      lines: lines.map(({ seq, time, stream, message }) => ({ seq, time, stream, message })),
    };
  });
}
