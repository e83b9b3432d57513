/**
 * The URL prefixes the platform serves itself: its REST API and the AWS Lambda-compatible API.
 * Requests under them are never handed to a function, whatever their Host header says.
 */

/** Nimbus's own REST API. */
const NIMBUS_API_PREFIX = '/v1/';
/** Lambda's functions API version: SigV4, Lambda's error shape. */
export const LAMBDA_API_VERSION = '/2015-03-31';
/** The API version of InvokeWithResponseStream, Lambda's one action under its own prefix. */
export const LAMBDA_STREAM_API_VERSION = '/2021-11-15';
/** The API version of Lambda's layer actions. */
export const LAMBDA_LAYERS_API_VERSION = '/2018-10-31';
export const LAMBDA_LAYERS_PREFIX = `${LAMBDA_LAYERS_API_VERSION}/`;

/** True for requests to the Lambda API (SigV4, Lambda's error shape), under either version. */
export function isLambdaApiUrl(url: string): boolean {
  return url.startsWith(`${LAMBDA_API_VERSION}/`) || url.startsWith(`${LAMBDA_STREAM_API_VERSION}/`);
}

/** True for paths the platform answers itself (a normalised path, without the query). */
export function isPlatformPath(path: string): boolean {
  return (
    path === '/v1' ||
    path.startsWith(NIMBUS_API_PREFIX) ||
    isLambdaApiUrl(path) ||
    path.startsWith(LAMBDA_LAYERS_PREFIX)
  );
}
