/**
 * Triggers (issue 4): schedule dialects against known firing times, the trigger API (create, read,
 * change, delete, next firings, validation), timers firing a real function, and missed ticks
 * across restarts firing once (or being skipped), never twice.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { NimbusError } from '../src/core/errors.js';
import { timerExecutionId } from '../src/engine/executions/execution-id.js';
import { newestFiring, nextFirings, parseSchedule } from '../src/engine/triggers/schedule.js';
import { startTestServer, waitFor, type TestServer } from './helpers/harness.js';
import { runCli } from './helpers/cli.js';

function next(expression: string, after: string, count = 3, timezone = 'UTC'): string[] {
  return nextFirings(parseSchedule(expression, timezone), count, new Date(after)).map((d) => d.toISOString());
}

function rejects(expression: string, reason: RegExp, timezone = 'UTC'): void {
  assert.throws(
    () => parseSchedule(expression, timezone),
    (err: unknown) =>
      err instanceof NimbusError && err.code === 'VALIDATION_FAILED' && reason.test(err.message),
  );
}

describe('schedule dialects', () => {
  const at = '2026-11-23T10:02:30.000Z'; // a Monday

  it('reads 5-field cron, and 6-field cron with seconds first', () => {
    assert.deepEqual(next('*/5 * * * *', at), [
      '2026-11-23T10:05:00.000Z',
      '2026-11-23T10:10:00.000Z',
      '2026-11-23T10:15:00.000Z',
    ]);
    assert.deepEqual(next('15 30 9 * * MON-FRI', at, 2), [
      '2026-11-24T09:30:15.000Z',
      '2026-11-25T09:30:15.000Z',
    ]);
    // Vixie cron: day-of-month OR day-of-week.
    assert.deepEqual(next('0 0 1 * SUN', at, 3), [
      '2026-11-29T00:00:00.000Z',
      '2026-12-01T00:00:00.000Z',
      '2026-12-06T00:00:00.000Z',
    ]);
  });

  it('reads AWS cron with ?, L, W, # and years (days of the week 1 = SUN to 7 = SAT)', () => {
    assert.deepEqual(next('cron(05 00 * * ? *)', at, 2), [
      '2026-11-24T00:05:00.000Z',
      '2026-11-25T00:05:00.000Z',
    ]);
    // 2#1: first Monday. December 2026 starts on a Tuesday.
    assert.deepEqual(next('cron(0 12 ? * 2#1 *)', at, 2), [
      '2026-12-07T12:00:00.000Z',
      '2027-01-04T12:00:00.000Z',
    ]);
    // 6L: last Friday; only in 2027.
    assert.deepEqual(next('cron(0 18 ? * 6L 2027)', at, 2), [
      '2027-01-29T18:00:00.000Z',
      '2027-02-26T18:00:00.000Z',
    ]);
    // L: last day of the month.
    assert.deepEqual(next('cron(0 0 L * ? *)', at, 3), [
      '2026-11-30T00:00:00.000Z',
      '2026-12-31T00:00:00.000Z',
      '2027-01-31T00:00:00.000Z',
    ]);
    // 15W: the weekday nearest the 15th. 15 Nov 2026 is a Sunday -> Monday 16th; 15 May 2027 a Saturday -> Friday 14th.
    assert.deepEqual(next('cron(0 9 15W * ? *)', '2026-11-01T00:00:00.000Z', 1), [
      '2026-11-16T09:00:00.000Z',
    ]);
    assert.deepEqual(next('cron(0 9 15W * ? *)', '2027-05-01T00:00:00.000Z', 1), [
      '2027-05-14T09:00:00.000Z',
    ]);
    // LW: last weekday. 31 Jan 2027 is a Sunday -> Friday 29th.
    assert.deepEqual(next('cron(0 9 LW * ? *)', '2027-01-01T00:00:00.000Z', 1), ['2027-01-29T09:00:00.000Z']);
    assert.deepEqual(next('cron(0 8 1 1 ? 2028-2030)', at, 4), [
      '2028-01-01T08:00:00.000Z',
      '2029-01-01T08:00:00.000Z',
      '2030-01-01T08:00:00.000Z',
    ]);
  });

  it('reads rate() and @every, ticking at multiples of the interval', () => {
    assert.deepEqual(next('rate(5 minutes)', at, 2), [
      '2026-11-23T10:05:00.000Z',
      '2026-11-23T10:10:00.000Z',
    ]);
    assert.deepEqual(next('rate(1 day)', at, 1), ['2026-11-24T00:00:00.000Z']);
    assert.deepEqual(next('@every 1h30m', at, 2), ['2026-11-23T10:30:00.000Z', '2026-11-23T12:00:00.000Z']);
    assert.deepEqual(next('@every 20s', at, 2), ['2026-11-23T10:02:40.000Z', '2026-11-23T10:03:00.000Z']);
  });

  it('reads cron in the time zone given, across daylight saving time', () => {
    // 09:00 in Berlin is 08:00 UTC in winter and 07:00 UTC in summer (DST began 28 March 2027).
    assert.deepEqual(next('0 9 * * *', '2027-03-26T12:00:00.000Z', 3, 'Europe/Berlin'), [
      '2027-03-27T08:00:00.000Z',
      '2027-03-28T07:00:00.000Z',
      '2027-03-29T07:00:00.000Z',
    ]);
    assert.deepEqual(next('cron(0 10 * * ? *)', at, 1, 'America/New_York'), ['2026-11-23T15:00:00.000Z']);
  });

  it('finds the newest firing missed in a long stop without walking every firing', () => {
    const newest = (expression: string, after: string, until: string) =>
      newestFiring(parseSchedule(expression), new Date(after), new Date(until))?.toISOString();
    // A 1 s timer stopped for a month: 2.6 million missed firings, and the newest is the one that
    // counts (walking them one by one, capped, used to end weeks short of it).
    assert.equal(
      newest('@every 1s', '2026-10-23T00:00:00.000Z', '2026-11-23T12:34:56.789Z'),
      '2026-11-23T12:34:56.000Z',
    );
    // Firings only in the morning, looked for in the afternoon: the newest is this morning's last.
    assert.equal(
      newest('*/10 9 * * *', '2026-11-20T00:00:00.000Z', '2026-11-23T15:00:00.000Z'),
      '2026-11-23T09:50:00.000Z',
    );
    assert.equal(
      newest('cron(05 00 * * ? *)', '2026-11-20T00:05:00.000Z', '2026-11-23T00:04:59.000Z'),
      '2026-11-22T00:05:00.000Z',
    );
    // Nothing after the last claimed tick, or the last claimed tick itself: nothing missed.
    assert.equal(newest('0 9 * * *', '2026-11-23T09:00:00.000Z', '2026-11-23T15:00:00.000Z'), undefined);
    assert.equal(
      newest('rate(5 minutes)', '2026-11-23T12:00:00.000Z', '2026-11-23T12:04:59.000Z'),
      undefined,
    );
  });

  it('rejects bad expressions with what is wrong', () => {
    rejects('* * *', /expected 5 cron fields/);
    rejects('61 * * * *', /minute/);
    rejects('cron(0 0 * * * *)', /\? in exactly one/);
    rejects('cron(0 0 ? * 9 *)', /1 \(SUN\) to 7 \(SAT\)/);
    rejects('cron(0 0 1 * ?)', /6 fields/);
    rejects('rate(1 minutes)', /rate\(1 minute\)/);
    rejects('rate(0 hours)', /at least 1/);
    rejects('rate(5 weeks)', /minute\(s\), hour\(s\) or day\(s\)/);
    rejects('@every 10ms', /at least 1s/);
    rejects('@every soon', /duration/);
    rejects('0 0 30 2 *', /never fires/);
    rejects('0 9 * * *', /unknown time zone/, 'Mars/Olympus');
    rejects('', /empty/);
  });
});

describe('trigger API', () => {
  let nimbus: TestServer;
  before(async () => {
    nimbus = await startTestServer({ sandbox: 'process' });
    await nimbus.deploy('py', 'python-lambda', 'python3', 'main.handler');
    await nimbus.deploy('js', 'node-esm', 'nodejs', 'index.handler');
  });
  after(() => nimbus.close());

  it('creates an HTTP trigger with a key shown once, lists, changes and deletes it', async () => {
    const created = await nimbus.request('POST', '/v1/functions/py/triggers', {
      json: { type: 'http', methods: ['GET', 'POST'] },
    });
    assert.equal(created.status, 201, created.text);
    assert.match(created.body.id, /^trg-[a-z0-9]+$/);
    assert.equal(created.body.auth, 'key');
    assert.equal(created.body.style, 'lambda');
    assert.equal(created.body.path, '/fn/py/');
    assert.match(created.body.key, /^nhk_/);
    const id = created.body.id as string;

    const got = await nimbus.request('GET', `/v1/triggers/${id}`);
    assert.equal(got.status, 200);
    assert.equal(got.body.key, undefined, 'the key is not shown again');
    assert.equal(got.body.hasKey, true);
    assert.doesNotMatch(got.text, new RegExp(created.body.key));
    const listed = await nimbus.request('GET', '/v1/functions/py/triggers');
    assert.deepEqual(
      listed.body.triggers.map((t: { id: string }) => t.id),
      [id],
    );
    assert.doesNotMatch(listed.text, new RegExp(created.body.key));

    const changed = await nimbus.request('PATCH', `/v1/triggers/${id}`, {
      json: { auth: 'anonymous', cors: { allowOrigins: ['https://app.example.com'] } },
    });
    assert.equal(changed.status, 200, changed.text);
    assert.equal(changed.body.auth, 'anonymous');
    assert.deepEqual(changed.body.methods, ['GET', 'POST']);
    assert.deepEqual(changed.body.cors.allowOrigins, ['https://app.example.com']);

    const rotated = await nimbus.request('POST', `/v1/triggers/${id}/rotate-key`);
    assert.equal(rotated.status, 400, 'an anonymous trigger has no key');

    assert.equal((await nimbus.request('DELETE', `/v1/triggers/${id}`)).status, 204);
    assert.equal((await nimbus.request('GET', `/v1/triggers/${id}`)).body.error.code, 'TRIGGER_NOT_FOUND');
  });

  it('refuses bad HTTP triggers with what to fix', async () => {
    const cases: [string, unknown, number, RegExp][] = [
      ['js', { type: 'http', style: 'wsgi' }, 400, /wsgi.*python3/],
      ['py', { type: 'http', style: 'fetch' }, 400, /fetch.*nodejs/],
      ['py', { type: 'http', methods: ['FETCH'] }, 400, /methods/],
      ['py', { type: 'http', methods: [] }, 400, /at least one/],
      ['py', { type: 'http', host: 'Not A Host' }, 400, /host/],
      [
        'py',
        { type: 'http', cors: { allowOrigins: ['*'], allowCredentials: true } },
        400,
        /explicit origins/,
      ],
      ['py', { type: 'smoke' }, 400, /type/],
      ['nope', { type: 'http' }, 404, /no function named 'nope'/],
    ];
    for (const [fn, body, status, message] of cases) {
      const res = await nimbus.request('POST', `/v1/functions/${fn}/triggers`, { json: body });
      assert.equal(res.status, status, `${JSON.stringify(body)}: ${res.text}`);
      assert.match(res.body.error.message, message);
    }
    const first = await nimbus.request('POST', '/v1/functions/js/triggers', {
      json: { type: 'http', style: 'fetch' },
    });
    assert.equal(first.status, 201);
    const second = await nimbus.request('POST', '/v1/functions/js/triggers', { json: { type: 'http' } });
    assert.equal(second.status, 409);
    assert.match(second.body.error.message, /already has HTTP trigger/);
    await nimbus.request('DELETE', `/v1/triggers/${first.body.id}`);
  });

  it('creates a timer, shows its next firings, and refuses bad schedules', async () => {
    const created = await nimbus.request('POST', '/v1/functions/py/triggers', {
      json: {
        type: 'timer',
        schedule: 'cron(05 00 * * ? *)',
        timezone: 'Asia/Shanghai',
        payload: { job: 'nightly' },
      },
    });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.key, undefined);
    assert.equal(created.body.nextFirings.length, 3);
    const id = created.body.id as string;

    const res = await nimbus.request('GET', `/v1/triggers/${id}/next?count=4`);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.next.length, 4);
    for (const time of res.body.next as string[])
      assert.match(time, /T16:05:00\.000Z$/, '00:05 in Shanghai is 16:05 UTC');
    assert.ok(new Date(res.body.next[0]).getTime() > Date.now());
    assert.equal((await nimbus.request('GET', `/v1/triggers/${id}/next?count=0`)).status, 400);
    assert.equal((await nimbus.request('GET', `/v1/triggers/${id}/next?count=101`)).status, 400);

    const bad = await nimbus.request('PATCH', `/v1/triggers/${id}`, {
      json: { schedule: 'cron(0 0 * * * *)' },
    });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /invalid schedule 'cron\(0 0 \* \* \* \*\)'.*\? in exactly one/);
    const badZone = await nimbus.request('POST', '/v1/functions/py/triggers', {
      json: { type: 'timer', schedule: 'rate(5 minutes)', timezone: 'Europe/Atlantis' },
    });
    assert.equal(badZone.status, 400);
    assert.match(badZone.body.error.message, /unknown time zone 'Europe\/Atlantis'/);
    const noSchedule = await nimbus.request('POST', '/v1/functions/py/triggers', { json: { type: 'timer' } });
    assert.equal(noSchedule.status, 400);

    const disabled = await nimbus.request('PATCH', `/v1/triggers/${id}`, { json: { enabled: false } });
    assert.equal(disabled.body.enabled, false);
    assert.deepEqual(disabled.body.nextFirings, []);
    const retyped = await nimbus.request('PATCH', `/v1/triggers/${id}`, { json: { type: 'http' } });
    assert.equal(retyped.status, 400);
    assert.match(retyped.body.error.message, /type cannot change/);
    const onHttp = await nimbus.request('POST', '/v1/functions/py/triggers', {
      json: { type: 'http', auth: 'anonymous' },
    });
    assert.equal((await nimbus.request('GET', `/v1/triggers/${onHttp.body.id}/next`)).status, 400);
  });

  it("removes a function's triggers with the function", async () => {
    await nimbus.deploy('doomed', 'python-lambda', 'python3', 'main.handler');
    await nimbus.request('POST', '/v1/functions/doomed/triggers', {
      json: { type: 'timer', schedule: '@every 1h' },
    });
    await nimbus.request('POST', '/v1/functions/doomed/triggers', { json: { type: 'http' } });
    assert.equal((await nimbus.request('GET', '/v1/functions/doomed/triggers')).body.triggers.length, 2);
    assert.equal((await nimbus.request('DELETE', '/v1/functions/doomed')).status, 204);
    const all = await nimbus.request('GET', '/v1/triggers');
    assert.equal(
      all.body.triggers.filter((t: { functionName: string }) => t.functionName === 'doomed').length,
      0,
    );
  });
});

describe('timers', () => {
  let nimbus: TestServer;
  before(async () => {
    nimbus = await startTestServer({ sandbox: 'process' });
    await nimbus.deploy('tick', 'python-lambda', 'python3', 'main.handler');
  });
  after(() => nimbus.close());

  async function timerExecutions(server: TestServer, fn: string): Promise<any[]> {
    const res = await server.request('GET', `/v1/executions?function=${fn}&limit=100`);
    return (res.body.executions as any[]).filter((e) => e.trigger === 'timer');
  }

  it('fires a function on schedule with the constant payload as its event', async () => {
    const created = await nimbus.request('POST', '/v1/functions/tick/triggers', {
      json: { type: 'timer', schedule: '@every 1s', payload: { name: 'timer' } },
    });
    assert.equal(created.status, 201, created.text);
    const startedAt = Date.now();
    const succeeded = async () =>
      (await timerExecutions(nimbus, 'tick')).filter((e) => e.status === 'succeeded');
    await waitFor(async () => (await succeeded()).length >= 2, 'two timer firings that succeeded');
    await nimbus.request('PATCH', `/v1/triggers/${created.body.id}`, { json: { enabled: false } });
    const elapsedSec = (Date.now() - startedAt) / 1000;
    // The newest firing may still be queued or running when the timer is disabled: let it end.
    let fired: any[] = [];
    await waitFor(async () => {
      fired = await timerExecutions(nimbus, 'tick');
      return fired.every((e) => e.status !== 'queued' && e.status !== 'running');
    }, 'the timer firings to end');
    // One firing per tick: never more firings than seconds that passed.
    assert.ok(fired.length <= Math.ceil(elapsedSec) + 1, `${fired.length} firings in ${elapsedSec} s`);
    // The newest firing may still be running: look at one that has ended.
    const [done] = await succeeded();
    assert.deepEqual(JSON.parse(done.input), { name: 'timer' });
    assert.equal(JSON.parse(done.output).greeting, 'Hello, timer!');
    const settled = fired.length;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal((await timerExecutions(nimbus, 'tick')).length, settled, 'a disabled timer does not fire');
  });

  it('calls the version or alias it names, and refuses one that does not exist', async () => {
    await nimbus.deploy('staged', 'python-lambda', 'python3', 'main.handler', { timeoutSec: 7 });
    const published = await nimbus.request('POST', '/v1/functions/staged/versions', { json: {} });
    assert.equal(published.status, 201, published.text);
    const made = await nimbus.request('POST', '/v1/functions/staged/aliases', {
      json: { name: 'production', functionVersion: published.body.version },
    });
    assert.equal(made.status, 201, made.text);
    // $LATEST moves on; the alias still names the published version.
    await nimbus.request('PATCH', '/v1/functions/staged', { json: { timeoutSec: 9 } });

    const missing = await nimbus.request('POST', '/v1/functions/staged/triggers', {
      json: { type: 'timer', schedule: '@every 1s', qualifier: 'nightly' },
    });
    assert.equal(missing.status, 404, missing.text);
    assert.match(missing.body.error.message, /nightly/);
    const noVersion = await nimbus.request('POST', '/v1/functions/staged/triggers', {
      json: { type: 'http', qualifier: '42' },
    });
    assert.equal(noVersion.status, 404, noVersion.text);

    const timer = await nimbus.request('POST', '/v1/functions/staged/triggers', {
      json: { type: 'timer', schedule: '@every 1s', qualifier: 'production', payload: { name: 'prod' } },
    });
    assert.equal(timer.status, 201, timer.text);
    assert.equal(timer.body.qualifier, 'production');
    await waitFor(async () => (await timerExecutions(nimbus, 'staged')).length >= 1, 'a timer firing');
    await nimbus.request('PATCH', `/v1/triggers/${timer.body.id}`, { json: { enabled: false } });
    const [fired] = await timerExecutions(nimbus, 'staged');
    assert.equal(fired.version, published.body.version);
    assert.equal(fired.qualifier, 'production');

    const http = await nimbus.request('POST', '/v1/functions/staged/triggers', {
      json: { type: 'http', auth: 'anonymous', qualifier: 'production' },
    });
    assert.equal(http.status, 201, http.text);
    const served = await fetch(`${nimbus.url}/fn/staged/?name=web`);
    assert.equal(served.status, 200, await served.clone().text());
    const record = await nimbus.executionOf(served);
    assert.equal(record.trigger, 'http');
    assert.equal(record.version, published.body.version);

    // Back to $LATEST.
    const reset = await nimbus.request('PATCH', `/v1/triggers/${http.body.id}`, {
      json: { type: 'http', qualifier: null },
    });
    assert.equal(reset.status, 200, reset.text);
    assert.equal(reset.body.qualifier, null);
    const latest = await fetch(`${nimbus.url}/fn/staged/`);
    assert.equal((await nimbus.executionOf(latest)).version, '$LATEST');
  });

  it('fires a tick missed while stopped once on restart (or skips it), and never again', async () => {
    let server = await startTestServer({ sandbox: 'process' });
    try {
      await server.deploy('hourly', 'python-lambda', 'python3', 'main.handler');
      await server.deploy('hourly-skip', 'python-lambda', 'python3', 'main.handler');
      const once = await server.request('POST', '/v1/functions/hourly/triggers', {
        json: { type: 'timer', schedule: '0 * * * *', payload: { name: 'missed' } },
      });
      const skip = await server.request('POST', '/v1/functions/hourly-skip/triggers', {
        json: { type: 'timer', schedule: '0 * * * *', missedTicks: 'skip' },
      });
      await server.stop();
      // The server was "down" for the last three hours: three hourly ticks were missed.
      const db = new Database(join(server.dataDir, 'nimbus.db'));
      const threeHoursAgo = new Date(Date.now() - 3 * 3_600_000 - 60_000).toISOString();
      db.prepare('UPDATE triggers SET last_tick = ?').run(threeHoursAgo);
      db.close();

      server = await startTestServer({ sandbox: 'process', dataDir: server.dataDir });
      const lastHour = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000).toISOString();
      const lastTickOf = async (id: string) =>
        (await server.request('GET', `/v1/triggers/${id}`)).body.lastTick;
      await waitFor(
        async () => (await lastTickOf(once.body.id)) === lastHour,
        'the newest missed tick to be claimed',
      );
      assert.equal(await lastTickOf(skip.body.id), lastHour, 'a skipped tick is still claimed');
      await waitFor(
        async () => (await timerExecutions(server, 'hourly'))[0]?.status === 'succeeded',
        'the firing to run',
      );
      const fired = (await timerExecutions(server, 'hourly'))[0];
      assert.equal(
        fired.id,
        timerExecutionId(once.body.id, new Date(lastHour)),
        "the firing runs under the tick's id",
      );
      assert.equal(fired.invocationType, 'async');
      assert.deepEqual(JSON.parse(fired.input), { name: 'missed' });

      // A crash after the tick was handed over but before it was claimed: the restart hands the
      // same tick over again, which must change nothing.
      await server.stop();
      const again = new Database(join(server.dataDir, 'nimbus.db'));
      again.prepare('UPDATE triggers SET last_tick = ? WHERE id = ?').run(threeHoursAgo, once.body.id);
      again.close();
      server = await startTestServer({ sandbox: 'process', dataDir: server.dataDir });
      await waitFor(
        async () => (await lastTickOf(once.body.id)) === lastHour,
        'the tick to be claimed again',
      );

      server = await server.restart();
      await new Promise((resolve) => setTimeout(resolve, 1000));
      assert.equal((await timerExecutions(server, 'hourly')).length, 1, 'the tick ran once in all');
      assert.equal((await timerExecutions(server, 'hourly-skip')).length, 0, 'skip fires nothing');
    } finally {
      await server.close();
    }
  });
});

describe('nimbus triggers (CLI)', () => {
  let nimbus: TestServer;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    nimbus = await startTestServer({ sandbox: 'process' });
    await nimbus.deploy('cron-job', 'python-lambda', 'python3', 'main.handler');
    env = { ...process.env, NIMBUS_URL: nimbus.url, NIMBUS_KEY: nimbus.key, XDG_CONFIG_HOME: nimbus.dataDir };
  });
  after(() => nimbus.close());

  const run = (...args: string[]) => runCli(env, args);

  it('creates a timer, shows its next firings, lists, disables and deletes it', async () => {
    const created = await run(
      'triggers',
      'create',
      'cron-job',
      '--type',
      'timer',
      '--schedule',
      'cron(05 00 * * ? *)',
      '--payload',
      '{"job":"nightly"}',
      '--json',
    );
    assert.equal(created.code, 0, created.stderr);
    const trigger = JSON.parse(created.stdout) as { id: string; payload: unknown };
    assert.deepEqual(trigger.payload, { job: 'nightly' });

    const next = await run('triggers', 'next', trigger.id, '--count', '3');
    assert.equal(next.code, 0, next.stderr);
    const times = next.stdout.trim().split('\n');
    assert.equal(times.length, 3);
    for (const time of times) assert.match(time, /^\d{4}-\d{2}-\d{2}T00:05:00\.000Z$/);

    const list = await run('triggers', 'list', 'cron-job');
    assert.match(list.stdout, /ID\s+FUNCTION\s+TYPE\s+ENABLED\s+SETTINGS/);
    assert.match(
      list.stdout,
      new RegExp(`${trigger.id}\\s+cron-job\\s+timer\\s+yes\\s+cron\\(05 00 \\* \\* \\? \\*\\) \\(UTC\\)`),
    );

    assert.equal((await run('triggers', 'update', trigger.id, '--disable')).code, 0);
    assert.match((await run('triggers', 'get', trigger.id)).stdout, /enabled\s+false/);
    assert.equal((await run('triggers', 'delete', trigger.id)).code, 0);
    const gone = await run('triggers', 'get', trigger.id);
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /no trigger with id/);
  });

  it('reports a bad schedule with what is wrong, and makes an HTTP trigger with its key', async () => {
    const bad = await run('triggers', 'create', 'cron-job', '--type', 'timer', '--schedule', 'rate(5 weeks)');
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /invalid schedule 'rate\(5 weeks\)'/);
    const http = await run('triggers', 'create', 'cron-job', '--type', 'http', '--methods', 'get,post');
    assert.equal(http.code, 0, http.stderr);
    assert.match(http.stdout, /key\s+nhk_/);
    assert.match(http.stdout, /methods\s+\["GET","POST"\]/);
    assert.match(http.stderr, /shown only now/);
    const unknown = await run(
      'triggers',
      'create',
      'cron-job',
      '--type',
      'timer',
      '--schedule',
      'rate(1 hour)',
      '--qualifier',
      'prod',
    );
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /prod/);
  });
});
