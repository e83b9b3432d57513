// Lambda response streaming: `awslambda` is a global of the runtime, as on Lambda.
/* global awslambda */
import { setTimeout as sleep } from 'node:timers/promises';

export const handler = awslambda.streamifyResponse(async (event, responseStream, context) => {
  responseStream = awslambda.HttpResponseStream.from(responseStream, {
    statusCode: 200,
    headers: { 'content-type': 'text/plain' },
  });
  for (let i = 1; i <= 3; i++) {
    responseStream.write(`chunk ${i} of ${context.awsRequestId}\n`);
    await sleep(500);
  }
  responseStream.end();
});
