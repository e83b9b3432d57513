/**
 * The Lambda-compatible API under /2015-03-31/functions (and InvokeWithResponseStream under
 * /2021-11-15): routes that answer in Lambda's shapes, so the AWS CLI and SDKs work against Nimbus
 * with `--endpoint-url`. Every route but the Runtime Interface Emulator's and the code links needs
 * a SigV4 signature by a Nimbus access key that allows the action (lambda-scope.ts,
 * lambda-auth.ts). The routes live by resource: functions-routes.ts, version-alias-routes.ts,
 * invoke-routes.ts (and layer-routes.ts, registered by app.ts); this module puts them in one
 * scope and answers the actions Nimbus does not serve.
 */
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../deps.js';
import { LAMBDA_API_VERSION } from '../platform-paths.js';
import { registerFunctionRoutes } from './functions-routes.js';
import { registerInvokeRoutes, registerStreamInvokeRoutes } from './invoke-routes.js';
import { LambdaApiError, sendLambdaError } from './lambda-errors.js';
import { lambdaScope } from './lambda-scope.js';
import { registerVersionAliasRoutes } from './version-alias-routes.js';

/** Registers the Lambda function, version, alias and invoke actions. */
export function registerLambdaRoutes(app: FastifyInstance, deps: ApiDeps): void {
  registerStreamInvokeRoutes(app, deps);
  void app.register(
    async (scope) => {
      lambdaScope(scope, deps);
      registerFunctionRoutes(scope, deps);
      registerVersionAliasRoutes(scope, deps);
      registerInvokeRoutes(scope, deps);

      // Lambda actions Nimbus does not serve (yet): permissions, event sources, concurrency, URLs...
      scope.setNotFoundHandler((request, reply) =>
        sendLambdaError(
          reply,
          new LambdaApiError(
            'UnknownOperationException',
            404,
            `Nimbus does not serve ${request.method} ${request.url.split('?')[0]}: it implements CreateFunction, GetFunction, GetFunctionConfiguration, ListFunctions, UpdateFunctionCode, UpdateFunctionConfiguration, DeleteFunction, Invoke, InvokeWithResponseStream, PublishVersion, ListVersionsByFunction, CreateAlias, GetAlias, UpdateAlias, ListAliases and DeleteAlias`,
          ),
        ),
      );
    },
    { prefix: LAMBDA_API_VERSION },
  );
}
