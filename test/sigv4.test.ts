/**
 * SigV4 verification as a unit: vectors from AWS's Signature Version 4 test suite, then the
 * checks Nimbus adds (clock skew, region, unknown keys, tampered bodies, unsigned payloads,
 * malformed headers), and the header-only check that runs before a body is read.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { checkCredential, verifySignature, type SignedRequest } from '../src/api/lambda/sigv4.js';

const SUITE_KEY = { id: 'AKIDEXAMPLE', secret: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const SUITE_NOW = new Date('2015-08-30T12:36:00Z');
const secretOf = async (id: string) => (id === SUITE_KEY.id ? SUITE_KEY.secret : undefined);

function suiteRequest(url: string, signature: string): SignedRequest {
  return {
    method: 'GET',
    url,
    rawHeaders: [
      'Host',
      'example.amazonaws.com',
      'X-Amz-Date',
      '20150830T123600Z',
      'Authorization',
      `AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=${signature}`,
    ],
    body: Buffer.alloc(0),
  };
}

/** A request signed as the AWS SDK signs it, for the Lambda service. */
async function signed(body: string, date = new Date()): Promise<SignedRequest> {
  const signer = new SignatureV4({
    credentials: { accessKeyId: SUITE_KEY.id, secretAccessKey: SUITE_KEY.secret },
    region: 'eu-north-1',
    service: 'lambda',
    sha256: Hash.bind(null, 'sha256'),
  });
  const request = await signer.sign(
    new HttpRequest({
      method: 'POST',
      hostname: 'localhost',
      path: '/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-north-1%3A000000000000%3Afunction%3Afn/invocations',
      query: { Qualifier: '$LATEST' },
      headers: {
        host: 'localhost:8080',
        'content-type': 'application/json',
        'x-amz-invocation-type': 'Event',
      },
      body,
    }),
    { signingDate: date },
  );
  const rawHeaders = Object.entries(request.headers).flat();
  return {
    method: 'POST',
    url: `${request.path}?Qualifier=%24LATEST`,
    rawHeaders,
    body: Buffer.from(body),
  };
}

/** rawHeaders with `name` set to `value` (replacing any it had). */
function withHeader(raw: string[], name: string, value: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() !== name) out.push(raw[i]!, raw[i + 1]!);
  }
  return [...out, name, value];
}

describe('SigV4 verification', () => {
  const cases = [
    {
      name: 'get-vanilla',
      url: '/',
      signature: '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
    },
    {
      name: 'get-vanilla-query-order-key-case',
      url: '/?Param2=value2&Param1=value1',
      signature: 'b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500',
    },
  ];
  for (const c of cases) {
    it(`accepts the AWS test suite's ${c.name}`, async () => {
      const id = await verifySignature(suiteRequest(c.url, c.signature), {
        service: 'service',
        secretOf,
        now: SUITE_NOW,
      });
      assert.equal(id, 'AKIDEXAMPLE');
    });
  }

  it('rejects a changed signature, path or query', async () => {
    const good = cases[0]!;
    const flipped = good.signature.replace(/^5/, '6');
    for (const [url, signature] of [
      ['/', flipped],
      ['/other', good.signature],
      ['/?x=1', good.signature],
    ] as const) {
      await assert.rejects(
        verifySignature(suiteRequest(url, signature), { service: 'service', secretOf, now: SUITE_NOW }),
        { type: 'InvalidSignatureException', status: 403 },
      );
    }
  });

  it('accepts what the AWS SDK signs (ARN path, query, body) and rejects a changed body', async () => {
    const request = await signed('{"a":1}');
    assert.equal(await verifySignature(request, { service: 'lambda', secretOf }), SUITE_KEY.id);
    await assert.rejects(
      verifySignature({ ...request, body: Buffer.from('{"a":2}') }, { service: 'lambda', secretOf }),
      { type: 'InvalidSignatureException' },
    );
    await assert.rejects(verifySignature(request, { service: 's3', secretOf }), {
      type: 'InvalidSignatureException',
    });
  });

  it('rejects requests more than 15 minutes from the server clock', async () => {
    const now = new Date();
    const early = await signed('{}', new Date(now.getTime() - 16 * 60_000));
    await assert.rejects(verifySignature(early, { service: 'lambda', secretOf, now }), (err: Error) => {
      assert.equal((err as { type?: string }).type, 'InvalidSignatureException');
      assert.match(err.message, /Signature expired/);
      return true;
    });
    const slightlyLate = await signed('{}', new Date(now.getTime() + 14 * 60_000));
    assert.equal(await verifySignature(slightlyLate, { service: 'lambda', secretOf, now }), SUITE_KEY.id);
  });

  it("checks the credential scope's region when the server names one", async () => {
    const request = await signed('{}');
    assert.equal(
      await verifySignature(request, { service: 'lambda', region: 'eu-north-1', secretOf }),
      SUITE_KEY.id,
    );
    await assert.rejects(verifySignature(request, { service: 'lambda', region: 'us-east-1', secretOf }), {
      type: 'InvalidSignatureException',
      message: /region 'eu-north-1', but this server is in region 'us-east-1'/,
    });
  });

  it('checks from the headers alone, before any body: shape, region, date, key, UNSIGNED-PAYLOAD', async () => {
    const request = await signed('{"a":1}');
    const check = { service: 'lambda', region: 'eu-north-1', secretOf };
    const credential = await checkCredential(request.rawHeaders, check);
    assert.equal(credential.accessKeyId, SUITE_KEY.id);
    assert.ok(!JSON.stringify({ ...credential, secret: undefined }).includes(SUITE_KEY.secret));
    await assert.rejects(checkCredential(request.rawHeaders, { ...check, region: 'us-east-1' }), {
      type: 'InvalidSignatureException',
    });
    await assert.rejects(checkCredential(request.rawHeaders, { ...check, secretOf: async () => undefined }), {
      type: 'UnrecognizedClientException',
    });
    const later = new Date(Date.now() + 16 * 60_000);
    await assert.rejects(checkCredential(request.rawHeaders, { ...check, now: later }), {
      message: /Signature expired/,
    });
    const unsigned = withHeader(request.rawHeaders, 'x-amz-content-sha256', 'UNSIGNED-PAYLOAD');
    for (const body of [
      ['content-length', '7'],
      ['transfer-encoding', 'chunked'],
    ]) {
      await assert.rejects(checkCredential([...unsigned, ...body], check), {
        type: 'InvalidSignatureException',
        message: /payload must be signed/,
      });
    }
    assert.equal(
      (await checkCredential([...unsigned, 'content-length', '0'], check)).accessKeyId,
      SUITE_KEY.id,
    );
    // Once read, the body settles it, whatever the headers said.
    await assert.rejects(verifySignature({ ...request, rawHeaders: unsigned }, check), {
      message: /payload must be signed/,
    });
  });

  it('names unknown keys, missing and malformed Authorization headers', async () => {
    const request = await signed('{}');
    await assert.rejects(verifySignature(request, { service: 'lambda', secretOf: async () => undefined }), {
      type: 'UnrecognizedClientException',
    });
    const without = { ...request, rawHeaders: request.rawHeaders.slice() };
    const at = without.rawHeaders.findIndex((h) => h.toLowerCase() === 'authorization');
    without.rawHeaders.splice(at, 2);
    await assert.rejects(verifySignature(without, { service: 'lambda', secretOf }), {
      type: 'MissingAuthenticationTokenException',
    });
    const bearer = { ...without, rawHeaders: [...without.rawHeaders, 'Authorization', 'Bearer abc'] };
    await assert.rejects(verifySignature(bearer, { service: 'lambda', secretOf }), {
      type: 'IncompleteSignatureException',
    });
  });
});
