/**
 * Who may call the Lambda API: SigV4 signatures by Nimbus access keys (checked against the
 * server's region), the verified caller of a request, and the key's grants (`invoke:<fn>`,
 * `manage:<fn>`) as Lambda's AccessDeniedException. The scope hooks in lambda-scope.ts call the
 * signature checks; every route handler names its target through `target` or `authorize`.
 */
import type { FastifyRequest } from 'fastify';
import { lambdaFunctionArn, type ArnScope } from '../../core/arn.js';
import { keyAllows, type AccessAction, type AccessKeyRecord } from '../../core/access-key.js';
import type { ApiDeps } from '../deps.js';
import { parseFunctionRef, type FunctionRef } from './function-configuration.js';
import { LambdaApiError, accessDenied, invalidParameter } from './lambda-errors.js';
import { checkCredential, verifySignature, type SignatureCheck } from './sigv4.js';

/**
 * Who signed a request, and the server's region and account (for ARNs). Requests must be signed
 * for the server's region (`--region`), as Lambda's endpoint in a region accepts only that region.
 */
export interface LambdaCaller {
  key: AccessKeyRecord;
  scope: ArnScope;
}

/** A request that names a function (and maybe an alias) in its path, with Lambda's query parameters. */
export type FnRequest = FastifyRequest<{
  Params: { name: string; alias?: string };
  Querystring: Record<string, string | undefined>;
}>;

const callers = new WeakMap<FastifyRequest, LambdaCaller>();

/** The verified caller of a signed request (set by the scope's preHandler hook). */
export function callerOf(request: FastifyRequest): LambdaCaller {
  const caller = callers.get(request);
  if (!caller) throw new LambdaApiError('ServiceException', 500, 'the request was not authenticated');
  return caller;
}

/** What a Lambda API signature must match: service `lambda`, the server's region, a Nimbus access key. */
function signatureCheck(deps: ApiDeps, found?: (key: AccessKeyRecord | undefined) => void): SignatureCheck {
  return {
    service: 'lambda',
    region: deps.arnScope.region,
    secretOf: async (id) => {
      const key = await deps.accessKeys.find(id);
      found?.(key);
      return key?.secret;
    },
  };
}

/**
 * The checks the headers allow (credential shape, region, date, key id, a signed payload), before
 * a body byte is read: an unauthenticated upload is refused without being buffered.
 */
export async function precheckSignature(request: FastifyRequest, deps: ApiDeps): Promise<void> {
  await checkCredential(request.raw.rawHeaders, signatureCheck(deps));
}

/** Verifies the request's SigV4 signature and remembers who signed it. */
export async function authenticate(request: FastifyRequest, deps: ApiDeps): Promise<LambdaCaller> {
  const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
  let key: AccessKeyRecord | undefined;
  await verifySignature(
    { method: request.method, url: request.raw.url ?? '/', rawHeaders: request.raw.rawHeaders, body },
    signatureCheck(deps, (found) => (key = found)),
  );
  const caller = { key: key!, scope: deps.arnScope };
  callers.set(request, caller);
  return caller;
}

const ACTION_NAMES: Record<string, string> = {
  invoke: 'lambda:InvokeFunction',
  manage: 'lambda:*',
};

/** AccessDeniedException unless the caller's key allows `action` on the function. */
export function authorize(caller: LambdaCaller, action: AccessAction, name?: string): void {
  if (keyAllows(caller.key, action, name)) return;
  const resource = name === undefined ? '*' : lambdaFunctionArn(caller.scope, name);
  throw accessDenied(
    `User: ${caller.key.id} is not authorized to perform: ${ACTION_NAMES[action]} on resource: ${resource} (the key allows ${caller.key.allow?.join(', ')})`,
  );
}

/** The function (and qualifier) a request names, checked against the caller's key. */
export function target(request: FnRequest, action: AccessAction): FunctionRef {
  const ref = parseFunctionRef(request.params.name, request.query.Qualifier);
  authorize(callerOf(request), action, ref.name);
  return ref;
}

/** A function named without a qualifier, as the version and alias actions take it. */
export function unqualifiedTarget(request: FnRequest, action: string): FunctionRef {
  const ref = target(request, 'manage');
  if (ref.qualifier !== undefined) {
    throw invalidParameter(
      `${action} takes an unqualified function name, not '${ref.name}:${ref.qualifier}'`,
    );
  }
  return ref;
}
