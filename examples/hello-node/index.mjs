// A minimal Nimbus function: nimbus deploy ./examples/hello-node --name hello-node --runtime nodejs --handler index.handler
export const handler = async (event, context) => {
  console.log(`greeting ${event.name ?? 'World'}`);
  return { message: `Hello, ${event.name ?? 'World'}!`, requestId: context.awsRequestId };
};
