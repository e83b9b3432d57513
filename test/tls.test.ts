/**
 * HTTPS served directly (--tls-cert/--tls-key): the API, the invoke front door and HTTP triggers
 * answer over TLS with the operator's certificate, plain HTTP gets no answer, the CLI talks to the
 * server through its recorded https URL when it trusts the certificate (NODE_EXTRA_CA_CERTS, as
 * README shows), and mismatched or half-given settings are refused at start with a clear message.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config.js';
import { packDirectory } from '../src/packaging/pack-directory.js';
import { startServer } from '../src/server.js';
import { runCli } from './helpers/cli.js';
import { FIXTURES, startTestServer, type TestServer } from './helpers/harness.js';

/** A self-signed certificate for 127.0.0.1 and localhost, made with openssl as README shows. */
function makeCertificate(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}

/** One HTTPS request trusting `ca`; the status and body. */
function httpsRequest(
  url: string,
  ca: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: init.method ?? 'GET', headers: init.headers, ca }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

describe('TLS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-tls-'));
  const { cert, key } = makeCertificate(dir, 'server');
  const other = makeCertificate(dir, 'other');
  let nimbus: TestServer;
  let ca: string;

  before(async () => {
    ca = readFileSync(cert, 'utf8');
    nimbus = await startTestServer({ tlsCert: cert, tlsKey: key });
    const zip = await packDirectory(join(FIXTURES, 'node-ok'));
    const deployed = await httpsRequest(`${nimbus.url}/v1/functions`, ca, {
      method: 'POST',
      headers: { authorization: `Bearer ${nimbus.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        name: 'secure-hello',
        runtime: 'nodejs',
        handler: 'index.handler',
        code: { zipBase64: zip.toString('base64') },
      }),
    });
    assert.equal(deployed.status, 201, deployed.body);
  });

  after(async () => {
    await nimbus?.close();
  });

  it('serves the API, invoke and HTTP triggers over HTTPS only', async () => {
    assert.match(nimbus.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const auth = { authorization: `Bearer ${nimbus.key}` };
    const health = await httpsRequest(`${nimbus.url}/v1/health`, ca);
    assert.equal(health.status, 200, health.body);
    const invoke = await httpsRequest(`${nimbus.url}/v1/functions/secure-hello/invoke`, ca, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(invoke.status, 200, invoke.body);
    assert.deepEqual(JSON.parse(invoke.body), { statusCode: 200, body: 'ok' });
    const trigger = await httpsRequest(`${nimbus.url}/v1/functions/secure-hello/triggers`, ca, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'http', auth: 'anonymous', style: 'lambda' }),
    });
    assert.equal(trigger.status, 201, trigger.body);
    const viaTrigger = await httpsRequest(`${nimbus.url}/fn/secure-hello/`, ca);
    assert.deepEqual(viaTrigger, { status: 200, body: 'ok' });

    // Plain HTTP to the same port gets no HTTP answer; an untrusted certificate is refused.
    const plain = await fetch(nimbus.url.replace('https:', 'http:') + '/v1/health').then(
      (res) => res.status,
      () => 'refused',
    );
    assert.notEqual(plain, 200);
    await assert.rejects(fetch(`${nimbus.url}/v1/health`), /fetch failed/);
  });

  it('lets the CLI reach the server at its recorded https URL when it trusts the certificate', async () => {
    const env = {
      PATH: process.env.PATH,
      HOME: dir,
      XDG_CONFIG_HOME: dir,
      NIMBUS_DATA_DIR: nimbus.dataDir,
      NIMBUS_KEY: nimbus.key,
      NODE_EXTRA_CA_CERTS: cert,
    };
    const out = await runCli(env, ['invoke', 'secure-hello', '--data', '{}']);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /"ok"/);
    const untrusted = await runCli({ ...env, NODE_EXTRA_CA_CERTS: other.cert }, ['invoke', 'secure-hello']);
    assert.notEqual(untrusted.code, 0);
    assert.match(untrusted.stderr, /https:\/\/127\.0\.0\.1/);
  });

  it('refuses half-given, unreadable or mismatched TLS settings at start, naming them', async () => {
    const start = (settings: Record<string, unknown>) =>
      startServer(
        loadConfig(
          {
            port: 0,
            logLevel: 'silent',
            dataDir: mkdtempSync(join(tmpdir(), 'nimbus-tls-data-')),
            ...settings,
          },
          {},
          undefined,
        ),
      );
    await assert.rejects(start({ tlsCert: cert }), /--tls-cert and --tls-key .* go together/);
    await assert.rejects(start({ tlsCert: cert, tlsKey: join(dir, 'missing.key') }), /cannot read --tls-key/);
    await assert.rejects(
      start({ tlsCert: cert, tlsKey: other.key }),
      /are not a PEM certificate and its key/,
    );
  });
});
