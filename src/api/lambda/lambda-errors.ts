/**
 * Errors of the Lambda-compatible API in Lambda's shape: the status, an `x-amzn-ErrorType` header
 * and `{"Type", "message", "__type"}`, so AWS SDKs and the CLI raise their usual exceptions. The one
 * table below maps Nimbus's error codes to Lambda's exception names; nothing else does.
 */
import type { FastifyReply } from 'fastify';
import { lambdaFunctionArn, type ArnScope } from '../../core/arn.js';
import { NimbusError, type ErrorCode } from '../../core/errors.js';

/** An error that only the Lambda API knows (signatures, permissions). */
export class LambdaApiError extends Error {
  constructor(
    readonly type: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'LambdaApiError';
  }
}

const EXCEPTION_OF: Record<ErrorCode, [string, number]> = {
  VALIDATION_FAILED: ['InvalidParameterValueException', 400],
  INVALID_JSON: ['InvalidRequestContentException', 400],
  INVALID_ARCHIVE: ['InvalidParameterValueException', 400],
  BUILD_FAILED: ['InvalidParameterValueException', 400],
  UNAUTHORIZED: ['UnrecognizedClientException', 403],
  SIGNED_URL_EXPIRED: ['InvalidSignatureException', 403],
  FUNCTION_NOT_FOUND: ['ResourceNotFoundException', 404],
  EXECUTION_NOT_FOUND: ['ResourceNotFoundException', 404],
  TRIGGER_NOT_FOUND: ['ResourceNotFoundException', 404],
  DEAD_LETTER_NOT_FOUND: ['ResourceNotFoundException', 404],
  ACCESS_KEY_NOT_FOUND: ['ResourceNotFoundException', 404],
  LAYER_VERSION_NOT_FOUND: ['ResourceNotFoundException', 404],
  VERSION_NOT_FOUND: ['ResourceNotFoundException', 404],
  ALIAS_NOT_FOUND: ['ResourceNotFoundException', 404],
  ALIAS_EXISTS: ['ResourceConflictException', 409],
  VERSION_IN_USE: ['ResourceConflictException', 409],
  CODE_CHANGED: ['PreconditionFailedException', 412],
  ROUTE_NOT_FOUND: ['ResourceNotFoundException', 404],
  METHOD_NOT_ALLOWED: ['InvalidParameterValueException', 405],
  FUNCTION_EXISTS: ['ResourceConflictException', 409],
  TRIGGER_EXISTS: ['ResourceConflictException', 409],
  PAYLOAD_TOO_LARGE: ['RequestTooLargeException', 413],
  UNSUPPORTED_MEDIA_TYPE: ['UnsupportedMediaTypeException', 415],
  TOO_MANY_REQUESTS: ['TooManyRequestsException', 429],
  INSUFFICIENT_STORAGE: ['CodeStorageExceededException', 400],
  INTERNAL: ['ServiceException', 500],
  FUNCTION_ERROR: ['ServiceException', 500],
  FUNCTION_CRASHED: ['ServiceException', 500],
  FUNCTION_OUT_OF_MEMORY: ['ServiceException', 500],
  FUNCTION_TIMEOUT: ['ServiceException', 500],
  FUNCTION_CHANGED: ['ResourceConflictException', 409],
  SANDBOX_UNAVAILABLE: ['ServiceException', 500],
  SERVER_BUSY: ['ServiceException', 503],
};

/**
 * Any failure as a Lambda exception; unexpected ones become ServiceException. A missing function,
 * version or alias is named by its ARN in the server's region and account, as Lambda says it
 * (`Function not found: arn:aws:lambda:…:function:NAME[:QUALIFIER]`), then Nimbus's hint.
 */
export function toLambdaError(err: unknown, scope: ArnScope): LambdaApiError | undefined {
  if (err instanceof LambdaApiError) return err;
  if (err instanceof NimbusError) {
    const [type, status] = EXCEPTION_OF[err.code];
    const name = err.details?.function;
    if (type === 'ResourceNotFoundException' && typeof name === 'string') {
      const qualifier = err.details?.qualifier;
      const arn = lambdaFunctionArn(scope, name, typeof qualifier === 'string' ? qualifier : undefined);
      return new LambdaApiError(type, status, `Function not found: ${arn} (${err.message})`);
    }
    return new LambdaApiError(type, status, err.message);
  }
  return undefined;
}

export function sendLambdaError(reply: FastifyReply, err: LambdaApiError): FastifyReply {
  return reply
    .code(err.status)
    .header('x-amzn-errortype', err.type)
    .header('x-amzn-requestid', reply.request.id)
    .type('application/json')
    .send({ Type: err.status >= 500 ? 'Service' : 'User', message: err.message, __type: err.type });
}

export const resourceNotFound = (message: string) =>
  new LambdaApiError('ResourceNotFoundException', 404, message);
export const invalidParameter = (message: string) =>
  new LambdaApiError('InvalidParameterValueException', 400, message);
export const accessDenied = (message: string) => new LambdaApiError('AccessDeniedException', 403, message);
