/**
 * A real WSGI framework behind HTTP triggers: Flask, from Debian's python3-flask, packed into the
 * function's zip beside the app as `pip install -t` would. A path-routed trigger mounts the app at
 * `/fn/<name>` (SCRIPT_NAME), so its redirects and generated URLs stay under it; a host-routed one
 * mounts it at the root. Also the PEP 3333 environ and Function Compute's `fc.*` keys.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { packDirectory } from '../src/packaging/pack-directory.js';
import { FIXTURES, startTestServer, type TestServer } from './helpers/harness.js';

/** Flask and what it imports, as Debian installs them (.ci/run installs python3-flask). */
const FLASK_PACKAGES = ['flask', 'werkzeug', 'jinja2', 'markupsafe', 'itsdangerous', 'click', 'blinker'];
const DIST_PACKAGES = '/usr/lib/python3/dist-packages';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A GET with a chosen Host header (fetch cannot set one). */
function get(port: number, path: string, host: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('a Flask app behind HTTP triggers (WSGI)', () => {
  let nimbus: TestServer;
  let work: string;
  let port: number;

  before(async () => {
    nimbus = await startTestServer();
    port = Number(new URL(nimbus.url).port);
    work = mkdtempSync(join(tmpdir(), 'nimbus-flask-'));
    cpSync(join(FIXTURES, 'python-flask'), work, { recursive: true });
    for (const name of FLASK_PACKAGES) {
      // Debian links a few assets to other packages' files; pip would have installed real ones.
      cpSync(join(DIST_PACKAGES, name), join(work, name), {
        recursive: true,
        dereference: true,
        filter: (p) => !p.includes('__pycache__'),
      });
    }
    const zip = await packDirectory(work);
    for (const [name, trigger] of [
      ['flasky', { auth: 'anonymous', style: 'wsgi' }],
      ['flask-hosted', { auth: 'anonymous', style: 'wsgi', host: 'flask.example.test' }],
    ] as const) {
      const created = await nimbus.request('POST', '/v1/functions', {
        json: {
          name,
          runtime: 'python3',
          handler: 'main.handler',
          code: { zipBase64: zip.toString('base64') },
        },
      });
      assert.equal(created.status, 201, created.text);
      const added = await nimbus.request('POST', `/v1/functions/${name}/triggers`, {
        json: { type: 'http', ...trigger },
      });
      assert.equal(added.status, 201, added.text);
    }
  });
  after(async () => {
    await nimbus.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('redirects under /fn/<name> with url_for on a path-routed trigger', async () => {
    const res = await get(port, '/fn/flasky/', `127.0.0.1:${port}`);
    assert.equal(res.status, 302, res.body);
    const location = new URL(String(res.headers.location), `http://127.0.0.1:${port}/fn/flasky/`);
    assert.equal(location.pathname, '/fn/flasky/hello/ada');
    const followed = await get(port, location.pathname, `127.0.0.1:${port}`);
    assert.equal(followed.status, 200, followed.body);
    assert.deepEqual(JSON.parse(followed.body), {
      name: 'ada',
      path: '/hello/ada',
      script_root: '/fn/flasky',
      url: `http://127.0.0.1:${port}/fn/flasky/hello/ada`,
      url_for: '/fn/flasky/hello/ada',
      external: `http://127.0.0.1:${port}/fn/flasky/hello/ada`,
    });
  });

  it('decodes a percent-encoded UTF-8 path as PEP 3333 says (latin-1 in PATH_INFO)', async () => {
    const res = await fetch(`${nimbus.url}/fn/flasky/hello/caf%C3%A9%20au%20lait`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { name: string; url_for: string };
    assert.equal(body.name, 'café au lait');
    assert.equal(body.url_for, '/fn/flasky/hello/caf%C3%A9%20au%20lait');
  });

  it('reads a form body', async () => {
    const res = await fetch(`${nimbus.url}/fn/flasky/form`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'city=Z%C3%BCrich&n=2',
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { form: { city: 'Zürich', n: '2' }, length: 20 });
  });

  it('keeps SCRIPT_NAME empty on a host-routed trigger', async () => {
    const host = `flask.example.test:${port}`;
    const res = await get(port, '/', host);
    assert.equal(res.status, 302, res.body);
    assert.equal(new URL(String(res.headers.location), `http://${host}/`).pathname, '/hello/ada');
    const hello = JSON.parse((await get(port, '/hello/ada', host)).body);
    assert.equal(hello.script_root, '');
    assert.equal(hello.url_for, '/hello/ada');
    assert.equal(hello.url, `http://${host}/hello/ada`);
  });

  it('gives the app a PEP 3333 environ with Function Compute keys', async () => {
    const res = await fetch(`${nimbus.url}/fn/flasky/environ?x=1&y=%20`, {
      headers: { 'x-custom': 'one', cookie: 'a=1' },
    });
    assert.equal(res.status, 200);
    const executionId = res.headers.get('x-nimbus-execution-id');
    const body = (await res.json()) as any;
    assert.deepEqual(body.values, {
      REQUEST_METHOD: 'GET',
      SCRIPT_NAME: '/fn/flasky',
      PATH_INFO: '/environ',
      QUERY_STRING: 'x=1&y=%20',
      SERVER_NAME: new URL(nimbus.url).hostname,
      SERVER_PORT: String(port),
      SERVER_PROTOCOL: 'HTTP/1.1',
      HTTP_HOST: new URL(nimbus.url).host,
      CONTENT_TYPE: null,
      CONTENT_LENGTH: '',
      REMOTE_ADDR: '127.0.0.1',
      'wsgi.url_scheme': 'http',
      'fc.request_uri': '/fn/flasky/environ?x=1&y=%20',
    });
    assert.deepEqual(body.not_str, [], 'every CGI variable is a str');
    assert.deepEqual(body.wsgi_version, [1, 0]);
    assert.equal(body.request_id, executionId);
    assert.ok(body.headers.includes('HTTP_X_CUSTOM') && body.headers.includes('HTTP_COOKIE'));
  });

  it('drops a header whose name has an underscore, so it cannot pass for its dashed twin', async () => {
    const port = Number(new URL(nimbus.url).port);
    const res = await new Promise<Answer>((resolve, reject) => {
      const req = httpRequest(
        { host: '127.0.0.1', port, path: '/fn/flasky/environ', headers: { x_custom: 'spoofed' } },
        (r) => {
          let body = '';
          r.setEncoding('utf8');
          r.on('data', (c: string) => (body += c));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, headers: r.headers, body }));
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.equal(res.status, 200, res.body);
    assert.ok(!JSON.parse(res.body).headers.includes('HTTP_X_CUSTOM'));
  });
});
