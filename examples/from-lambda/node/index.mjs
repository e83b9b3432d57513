// The function the Lambda console writes for a new Node.js function, with a log line: it runs on
// Nimbus as it is (handler index.handler).
export const handler = async (event, context) => {
  console.log('event', JSON.stringify(event), 'in', context.invokedFunctionArn);
  return {
    statusCode: 200,
    body: JSON.stringify('Hello from Lambda!'),
    region: process.env.AWS_REGION,
    requestId: context.awsRequestId,
  };
};
