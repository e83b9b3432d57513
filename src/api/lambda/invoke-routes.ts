/**
 * Lambda's Invoke (POST /2015-03-31/functions/NAME/invocations), the Runtime Interface Emulator's
 * unsigned route for the `--rie-function`, and InvokeWithResponseStream under its own API version
 * (/2021-11-15). The work is lambda-invoke.ts's and lambda-invoke-stream.ts's; these routes check
 * the caller's `invoke` grant and the body limit.
 */
import type { FastifyInstance } from 'fastify';
import { LIMITS } from '../../core/function.js';
import type { ApiDeps } from '../deps.js';
import { LAMBDA_STREAM_API_VERSION } from '../platform-paths.js';
import { authenticate, target, type FnRequest } from './lambda-auth.js';
import { LambdaApiError } from './lambda-errors.js';
import { invokeFunction } from './lambda-invoke.js';
import { invokeWithResponseStream } from './lambda-invoke-stream.js';
import { lambdaScope } from './lambda-scope.js';

const FUNCTIONS = '/functions';
/** The Runtime Interface Emulator's route, below `/functions` (its one function is called `function`). */
const RIE_PATH = '/function/invocations';
const MB = 1024 * 1024;
/** Invoke's body limit: 6 MB and room for the request around it (invokeFunction checks the event's own). */
const INVOKE_OPTIONS = { bodyLimit: LIMITS.syncPayloadBytes + MB, config: { bodyLimitText: '6 MB' } };

/** Adds Invoke and the RIE route to `scope`, a Lambda scope (see lambda-scope.ts) at LAMBDA_API_VERSION. */
export function registerInvokeRoutes(scope: FastifyInstance, deps: ApiDeps): void {
  // Invoke. The body limit is checked by invokeFunction, which knows the invocation type.
  scope.post(`${FUNCTIONS}/:name/invocations`, INVOKE_OPTIONS, async (request: FnRequest, reply) => {
    const ref = target(request, 'invoke');
    return invokeFunction(deps, request, reply, ref.name, ref.qualifier);
  });

  // The Runtime Interface Emulator's route: unsigned, for the function chosen with --rie-function.
  // A signed request to the same path is an ordinary Invoke of a function named "function".
  scope.post(
    `${FUNCTIONS}${RIE_PATH}`,
    { ...INVOKE_OPTIONS, config: { ...INVOKE_OPTIONS.config, unsigned: true, signedWhenAuthorized: true } },
    async (request: FnRequest, reply) => {
      if (request.headers.authorization !== undefined) {
        await authenticate(request, deps);
        const ref = target(request, 'invoke');
        return invokeFunction(deps, request, reply, ref.name, ref.qualifier);
      }
      if (deps.rieFunction === undefined) {
        throw new LambdaApiError(
          'ResourceNotFoundException',
          404,
          'the Runtime Interface Emulator route is off: start the server with --rie-function NAME (or NIMBUS_RIE_FUNCTION=NAME) to serve NAME here without a signature',
        );
      }
      return invokeFunction(deps, request, reply, deps.rieFunction);
    },
  );
}

/** Registers InvokeWithResponseStream, with Invoke's checks and grants, in its own Lambda scope. */
export function registerStreamInvokeRoutes(app: FastifyInstance, deps: ApiDeps): void {
  void app.register(
    async (scope) => {
      lambdaScope(scope, deps);
      scope.post(
        `${FUNCTIONS}/:name/response-streaming-invocations`,
        INVOKE_OPTIONS,
        async (request: FnRequest, reply) => {
          const ref = target(request, 'invoke');
          return invokeWithResponseStream(deps, request, reply, ref.name, ref.qualifier);
        },
      );
    },
    { prefix: LAMBDA_STREAM_API_VERSION },
  );
}
