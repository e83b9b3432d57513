/**
 * Hostile uploads to the Lambda API and large bodies everywhere, against a real server: a request
 * whose credential the headers already disprove (none, an unknown key id, another region, a stale
 * date, an unsigned payload with a body) is answered before a single body byte is sent, and 12
 * parallel unauthenticated 60 MB uploads do not grow the server by their size; a payload hash that
 * is not the body's is refused; real signed clients still work; and the server-wide bound on large
 * bodies in flight answers 503 with Retry-After on every door, and admits again once one is done.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import {
  CreateFunctionCommand,
  GetFunctionConfigurationCommand,
  ListFunctionsCommand,
} from '@aws-sdk/client-lambda';
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { startTestServer, waitFor, type TestServer } from '../helpers/harness.js';
import { createAccessKey, lambdaClient, type AccessKey } from '../helpers/lambda-client.js';
import { rawZip } from '../helpers/raw-zip.js';

const REGION = 'eu-west-3';
const MB = 1024 * 1024;
/** The server's cap on large bodies in flight, low so a few requests reach it. */
const CAP_MB = 8;
const CREATE_PATH = '/2015-03-31/functions';

interface Answer {
  status: number;
  headers: IncomingMessage['headers'];
  body: any;
}

/** Reads a whole answer (JSON when it parses). */
function answerOf(res: IncomingMessage): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (chunk: Buffer) => chunks.push(chunk));
    res.on('error', reject);
    res.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // not JSON
      }
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
    });
  });
}

/** A request whose headers go out at once; the body is the caller's to write (or not). */
function openRequest(
  server: TestServer,
  method: string,
  path: string,
  headers: Record<string, string>,
): { req: ClientRequest; answer: Promise<Answer> } {
  const url = new URL(server.url);
  const req = httpRequest({ host: url.hostname, port: url.port, method, path, headers, agent: false });
  req.on('error', () => {}); // the server may close while we write: the answer is what counts
  req.flushHeaders();
  const answer = new Promise<Answer>((resolve, reject) => {
    req.on('response', (res) => answerOf(res).then(resolve, reject));
    req.on('close', () => reject(new Error(`${method} ${path}: connection closed without an answer`)));
  });
  return { req, answer };
}

/**
 * Sends only the headers of a request declaring `length` body bytes and waits for the answer:
 * it can only come before the body, since none is ever sent.
 */
async function answerBeforeBody(
  server: TestServer,
  method: string,
  path: string,
  headers: Record<string, string>,
  length: number,
): Promise<Answer> {
  const { req, answer } = openRequest(server, method, path, { ...headers, 'content-length': String(length) });
  let timer: NodeJS.Timeout | undefined;
  const noAnswer = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${method} ${path}: no answer within 5 s while the body was held back`)),
      5_000,
    );
  });
  try {
    return await Promise.race([answer, noAnswer]);
  } finally {
    clearTimeout(timer);
    req.destroy();
  }
}

/**
 * SigV4 headers as the AWS SDK signs them (for `body`, or with the given payload hash header),
 * by `key`, for `region`, at `date`.
 */
async function signedHeaders(
  server: TestServer,
  key: AccessKey,
  options: {
    method?: string;
    path?: string;
    body?: Buffer;
    region?: string;
    date?: Date;
    payloadHash?: string;
  } = {},
): Promise<Record<string, string>> {
  const url = new URL(server.url);
  const signer = new SignatureV4({
    credentials: key,
    region: options.region ?? REGION,
    service: 'lambda',
    sha256: Hash.bind(null, 'sha256'),
  });
  const headers: Record<string, string> = { host: url.host, 'content-type': 'application/json' };
  if (options.payloadHash !== undefined) headers['x-amz-content-sha256'] = options.payloadHash;
  const signed = await signer.sign(
    new HttpRequest({
      method: options.method ?? 'POST',
      hostname: url.hostname,
      port: Number(url.port),
      path: options.path ?? CREATE_PATH,
      headers,
      body: options.body,
    }),
    { signingDate: options.date ?? new Date() },
  );
  return signed.headers as Record<string, string>;
}

function assertLambdaError(answer: Answer, status: number, type: string, message?: RegExp): void {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  assert.equal(answer.headers['x-amzn-errortype'], type);
  assert.equal(answer.body.__type, type);
  if (message) assert.match(answer.body.message, message);
}

describe('hostile: bodies on the Lambda API and everywhere', () => {
  let server: TestServer;
  let key: AccessKey;
  const unknownKey: AccessKey = { accessKeyId: 'NKIAUNKNOWNUNKNOWN00', secretAccessKey: 'z'.repeat(40) };

  before(async () => {
    server = await startTestServer({ region: REGION, maxInflightBodyMb: CAP_MB, prewarmPerRuntime: 0 });
    key = await createAccessKey(server);
  });
  after(() => server?.close());

  describe('credentials are checked before the body is read', () => {
    const SIXTY_MB = 60 * MB;

    it('refuses an unsigned 60 MB upload with 403 before the body is sent, and closes the connection', async () => {
      const answer = await answerBeforeBody(server, 'POST', CREATE_PATH, {}, SIXTY_MB);
      assertLambdaError(answer, 403, 'MissingAuthenticationTokenException', /not signed/);
      assert.equal(answer.headers.connection, 'close');
    });

    it('refuses an unknown access key id before the body', async () => {
      const headers = await signedHeaders(server, unknownKey, { payloadHash: 'a'.repeat(64) });
      const answer = await answerBeforeBody(server, 'POST', CREATE_PATH, headers, SIXTY_MB);
      assertLambdaError(answer, 403, 'UnrecognizedClientException', /no such access key/);
    });

    it('refuses a credential for another region before the body, naming the server region', async () => {
      const headers = await signedHeaders(server, key, { region: 'us-west-2', payloadHash: 'a'.repeat(64) });
      const answer = await answerBeforeBody(server, 'POST', CREATE_PATH, headers, SIXTY_MB);
      assertLambdaError(answer, 403, 'InvalidSignatureException', /region 'us-west-2'.*sign for 'eu-west-3'/);
    });

    it('refuses a stale date (20 minutes old) before the body', async () => {
      const date = new Date(Date.now() - 20 * 60_000);
      const headers = await signedHeaders(server, key, { date, payloadHash: 'a'.repeat(64) });
      const answer = await answerBeforeBody(server, 'POST', CREATE_PATH, headers, SIXTY_MB);
      assertLambdaError(answer, 403, 'InvalidSignatureException', /Signature expired/);
    });

    it('refuses UNSIGNED-PAYLOAD on a request with a body, declared or chunked, before the body', async () => {
      const headers = await signedHeaders(server, key, { payloadHash: 'UNSIGNED-PAYLOAD' });
      const declared = await answerBeforeBody(server, 'POST', CREATE_PATH, headers, SIXTY_MB);
      assertLambdaError(declared, 403, 'InvalidSignatureException', /payload must be signed/);

      const { req, answer } = openRequest(server, 'POST', CREATE_PATH, {
        ...headers,
        'transfer-encoding': 'chunked',
      });
      try {
        assertLambdaError(await answer, 403, 'InvalidSignatureException', /payload must be signed/);
      } finally {
        req.destroy();
      }
    });

    it('accepts UNSIGNED-PAYLOAD on a request without a body', async () => {
      const headers = await signedHeaders(server, key, {
        method: 'GET',
        path: `${CREATE_PATH}/`,
        payloadHash: 'UNSIGNED-PAYLOAD',
      });
      const answer = await answerBeforeBody(server, 'GET', `${CREATE_PATH}/`, headers, 0);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.deepEqual(answer.body.Functions, []);
    });

    it('refuses a payload hash that is not the SHA-256 of the body', async () => {
      const signedBody = Buffer.from('{"FunctionName":"signed"}');
      const sentBody = Buffer.from('{"FunctionName":"swapped"}');
      const headers = await signedHeaders(server, key, {
        body: signedBody,
        payloadHash: createHash('sha256').update(signedBody).digest('hex'),
      });
      const { req, answer } = openRequest(server, 'POST', CREATE_PATH, {
        ...headers,
        'content-length': String(sentBody.length),
      });
      req.end(sentBody);
      assertLambdaError(
        await answer,
        403,
        'InvalidSignatureException',
        /does not match the SHA-256 of the body/,
      );
    });

    it('does not grow the server by the bodies of 12 parallel unauthenticated 60 MB uploads', async () => {
      const chunk = Buffer.alloc(MB, 0x61);
      const upload = async (): Promise<{ answer: Answer; sent: number }> => {
        const { req, answer } = openRequest(server, 'POST', CREATE_PATH, {
          'content-type': 'application/json',
          'content-length': String(SIXTY_MB),
        });
        let sent = 0;
        let answered = false;
        void answer.then(
          () => (answered = true),
          () => (answered = true),
        );
        // Write as a client would, with backpressure, until the server answers or the body is out.
        while (!answered && !req.destroyed && sent < SIXTY_MB) {
          const drained = req.write(chunk);
          sent += chunk.length;
          if (!drained) {
            await Promise.race([
              new Promise((resolve) => req.once('drain', resolve)),
              new Promise((resolve) => req.once('close', resolve)),
              answer.catch(() => undefined),
            ]);
          }
        }
        try {
          return { answer: await answer, sent };
        } finally {
          req.destroy();
        }
      };
      global.gc?.();
      const before = process.memoryUsage().rss;
      const results = await Promise.all(Array.from({ length: 12 }, upload));
      const growth = process.memoryUsage().rss - before;
      for (const { answer } of results) assertLambdaError(answer, 403, 'MissingAuthenticationTokenException');
      // Buffered, the bodies would be 720 MB; refused from their headers, they are never taken in.
      assert.ok(growth < 150 * MB, `the server grew by ${Math.round(growth / MB)} MB`);
    });
  });

  describe('signed clients', () => {
    it('the AWS SDK signing for the server region creates (a 2 MB zip) and lists functions', async () => {
      const client = lambdaClient(server, key, REGION);
      // Random bytes do not compress: the request body is over 1 MB, so it goes through the budget.
      const filler = Buffer.alloc(2 * MB);
      for (let i = 0; i < filler.length; i += 4) filler.writeUInt32LE((Math.random() * 2 ** 32) >>> 0, i);
      const zip = rawZip([
        { name: 'index.js', data: 'exports.handler = async () => "ok";\n' },
        { name: 'filler.bin', data: filler },
      ]);
      const created = await client.send(
        new CreateFunctionCommand({
          FunctionName: 'signed-big',
          Runtime: 'nodejs20.x',
          Handler: 'index.handler',
          Role: 'arn:aws:iam::000000000000:role/any',
          Code: { ZipFile: zip },
        }),
      );
      assert.equal(created.FunctionName, 'signed-big');
      assert.match(created.FunctionArn ?? '', /^arn:aws:lambda:eu-west-3:/);
      const listed = await client.send(new ListFunctionsCommand({}));
      assert.deepEqual(
        listed.Functions?.map((f) => f.FunctionName),
        ['signed-big'],
      );
    });

    it('the AWS SDK signing for another region gets InvalidSignatureException naming the server region', async () => {
      const client = lambdaClient(server, key, 'ap-northeast-1');
      await assert.rejects(client.send(new GetFunctionConfigurationCommand({ FunctionName: 'signed-big' })), {
        name: 'InvalidSignatureException',
        message: /sign for 'eu-west-3'/,
      });
    });
  });

  describe('the bound on large bodies in flight', () => {
    const HELD = 5 * MB;
    const event = (size: number) => {
      const body = Buffer.alloc(size, 0x61);
      body.write('{"a":"', 0);
      body.write('"}', size - 2);
      return body;
    };

    /** A REST upload (admin key, 5 MB declared) whose body is started but not finished. */
    async function holdBudget(): Promise<ClientRequest> {
      const { req, answer } = openRequest(server, 'POST', '/v1/functions', {
        authorization: `Bearer ${server.key}`,
        'content-type': 'application/json',
        'content-length': String(HELD),
      });
      answer.catch(() => {}); // it is cut off, never answered
      req.write('{"name":');
      // Let the server admit it and start reading.
      await new Promise((resolve) => setTimeout(resolve, 200));
      return req;
    }

    it('answers 503 with Retry-After on every door while the cap is taken, and admits again after', async () => {
      await server.deployZip(
        'budget-fn',
        rawZip([{ name: 'index.js', data: 'exports.handler = async () => 1;' }]),
      );
      const made = await server.request('POST', '/v1/functions/budget-fn/triggers', {
        json: { type: 'http', auth: 'anonymous', style: 'lambda' },
      });
      assert.equal(made.status, 201, made.text);

      const holder = await holdBudget();
      const doors: [string, string, Record<string, string>][] = [
        ['REST API', '/v1/functions', { authorization: `Bearer ${server.key}` }],
        ['invoke front door', '/v1/functions/none/invoke', { authorization: `Bearer ${server.key}` }],
        ['HTTP trigger', '/fn/budget-fn/', {}],
        ['Lambda API', CREATE_PATH, await signedHeaders(server, key, { payloadHash: 'a'.repeat(64) })],
      ];
      for (const [door, path, headers] of doors) {
        const answer = await answerBeforeBody(
          server,
          'POST',
          path,
          { 'content-type': 'application/json', ...headers },
          HELD,
        );
        assert.equal(answer.status, 503, `${door}: ${JSON.stringify(answer.body)}`);
        assert.equal(answer.headers['retry-after'], '1', door);
        assert.match(JSON.stringify(answer.body), /max-inflight-body-mb/, door);
      }
      const lambda = await answerBeforeBody(server, 'POST', CREATE_PATH, doors[3]![2], HELD);
      assertLambdaError(lambda, 503, 'ServiceException', /retry in 1 s/);

      // Small bodies are not counted: they pass while the cap is taken.
      assert.equal((await server.request('POST', '/v1/functions/none/invoke', { json: {} })).status, 404);

      holder.destroy();
      // Once the held upload is gone, a 5 MB event is admitted, read and answered (no such function).
      await waitFor(async () => {
        const res = await server.request('POST', '/v1/functions/none/invoke', { body: event(HELD) });
        return res.status === 404;
      }, 'the budget to be released');
      const trigger = await fetch(`${server.url}/fn/budget-fn/`, { method: 'POST', body: event(HELD) });
      await trigger.arrayBuffer();
      assert.notEqual(trigger.status, 503);
    });
  });
});
