/**
 * The bare `node:http` baseline, run as its own process: reads the request body, then answers
 * `{"message":"Hello, World!"}` as JSON. Listens on 127.0.0.1 on a free port and prints
 * `listening on http://127.0.0.1:PORT`; exits on SIGTERM or SIGINT.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const handler = async (): Promise<{ message: string }> => ({ message: 'Hello, World!' });

const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    void handler().then((result) => {
      const body = JSON.stringify(result);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
});
server.keepAliveTimeout = 60_000;

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  console.log(`listening on http://127.0.0.1:${port}`);
});

const stop = (): void => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 1000).unref();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
