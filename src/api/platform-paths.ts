/**
 * The URL prefixes the platform serves itself: its REST API and the AWS Lambda-compatible API.
 * Requests under them are never handed to a function, whatever their Host header says.
 */

/** Nimbus's own REST API. */
const NIMBUS_API_PREFIX = '/v1/';
/** Lambda's functions API (2015-03-31): SigV4, Lambda's error shape. */
const LAMBDA_API_PREFIX = '/2015-03-31/';
/** InvokeWithResponseStream, Lambda's one action under its own version prefix. */
const LAMBDA_STREAM_API_PREFIX = '/2021-11-15/';
/** Lambda's layers API (2018-10-31). */
const LAMBDA_LAYERS_PREFIX = '/2018-10-31/';

/** True for requests to the Lambda API (SigV4, Lambda's error shape), under either version. */
function isLambdaApiUrl(url: string): boolean {
  return url.startsWith(LAMBDA_API_PREFIX) || url.startsWith(LAMBDA_STREAM_API_PREFIX);
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
