'use strict';
// The binary: flags, configuration sources and their errors, start-up failures, defaults,
// enforce mode, custom types, graceful SIGTERM.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { spawnSync, spawn } = require('node:child_process');
const { Server, sse, publish, request, storedEvents, ev, uuid, tmpDir, sleep, BIN } = require('./lib');

function run(args, { env = {}, cwd } = {}) {
  const clean = { ...process.env };
  for (const k of Object.keys(clean)) if (k.startsWith('FLOWGATE_')) delete clean[k];
  return spawnSync(BIN, args, { env: { ...clean, ...env }, cwd, encoding: 'utf8', timeout: 20000 });
}

test('--help and --version', () => {
  const h = run(['--help']);
  assert.equal(h.status, 0);
  assert.match(h.stdout, /usage: flowgate/);
  assert.match(h.stdout, /--data-dir/);
  const v = run(['--version']);
  assert.equal(v.status, 0);
  assert.match(v.stdout, /^flowgate \d+\.\d+\.\d+\n$/);
  const bad = run(['--no-such-flag']);
  assert.equal(bad.status, 2);
});

test('configuration errors stop start-up with one line naming the key', () => {
  const dir = tmpDir();
  const write = (obj) => { const f = path.join(dir, 'c.json'); fs.writeFileSync(f, typeof obj === 'string' ? obj : JSON.stringify(obj)); return f; };
  const cases = [
    [{ listen: '127.0.0.1:0', bogus: 1 }, /config key bogus: unknown key/],
    [{ sse: { heartbeat_ms: 'often' } }, /config key sse\.heartbeat_ms: must be an integer/],
    [{ limits: { max_batch_events: 0 } }, /config key limits\.max_batch_events: out of range/],
    [{ events: { transitions: 'maybe' } }, /config key events\.transitions: must be one of/],
    [{ events: { custom_types: { 'Bad Name': {} } } }, /events\.custom_types\.Bad Name/],
    ['{"threads": 2,', /invalid JSON/],
  ];
  for (const [cfg, re] of cases) {
    const r = run(['--config', write(cfg), '--data-dir', dir]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  const missing = run(['--config', path.join(dir, 'nope.json')]);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /cannot read/);
  const env = run(['--data-dir', dir], { env: { FLOWGATE_THREADS: 'lots' } });
  assert.equal(env.status, 2);
  assert.match(env.stderr, /threads.*FLOWGATE_THREADS/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('start-up failures: port in use, unusable data dir, corrupt database', async () => {
  const blocker = net.createServer();
  await new Promise((r) => blocker.listen(0, '127.0.0.1', r));
  const port = blocker.address().port;
  const dir = tmpDir();
  const inUse = run(['--listen', `127.0.0.1:${port}`, '--data-dir', dir]);
  assert.equal(inUse.status, 1);
  assert.match(inUse.stderr, /cannot listen on 127\.0\.0\.1:\d+: Address already in use/);
  blocker.close();

  const file = path.join(dir, 'a-file');
  fs.writeFileSync(file, 'x');
  const unusable = run(['--listen', '127.0.0.1:0', '--data-dir', path.join(file, 'sub')]);
  assert.equal(unusable.status, 1);
  assert.match(unusable.stderr, /data directory .* is not usable/);

  fs.writeFileSync(path.join(dir, 'flowgate.db'), 'garbage '.repeat(1000));
  const corrupt = run(['--listen', '127.0.0.1:0', '--data-dir', dir]);
  assert.equal(corrupt.status, 1);
  assert.match(corrupt.stderr, /corrupt or not a flowgate database/);
  assert.doesNotMatch(corrupt.stderr + unusable.stderr + inUse.stderr, /Sanitizer|Segmentation|Aborted/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a second flowgate on the same data directory is refused, naming the holder; free again once it stops', async () => {
  const srv = await new Server().start();
  try {
    const second = run(['--listen', '127.0.0.1:0', '--data-dir', srv.dataDir]);
    assert.equal(second.status, 1);
    assert.match(second.stderr, new RegExp(`is in use by another flowgate \\(pid ${srv.proc.pid}\\)`));
    assert.equal((await request(srv.base, 'GET', '/readyz')).status, 200, 'the first one is untouched');
    await srv.stop();
    await srv.start(); // the lock went with the process
  } finally { await srv.stop(); srv.cleanup(); }
});

test('with no data dir given the store is ./data/flowgate.db, created on first start', async () => {
  const cwd = tmpDir();
  const clean = { ...process.env };
  for (const k of Object.keys(clean)) if (k.startsWith('FLOWGATE_')) delete clean[k];
  const p = spawn(BIN, ['--listen', '127.0.0.1:0'], { cwd, env: clean, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  p.stderr.on('data', (d) => { log += d; });
  for (let i = 0; i < 200 && !/event=ready/.test(log); i++) await sleep(25);
  assert.ok(fs.existsSync(path.join(cwd, 'data', 'flowgate.db')), log);
  p.kill('SIGTERM');
  const code = await new Promise((r) => p.on('exit', r));
  assert.equal(code, 0);
  fs.rmSync(cwd, { recursive: true, force: true });
});

test('file < environment < flags; custom types and enforce mode from the file', async () => {
  const dir = tmpDir();
  const cfgFile = path.join(dir, 'flowgate.json');
  fs.writeFileSync(cfgFile, JSON.stringify({
    listen: '127.0.0.1:1',
    sse: { retry_ms: 1111, heartbeat_ms: 60000 },
    events: { transitions: 'enforce', custom_types: { run_budget_exceeded: { run_id: 'uuid', limit_usd: 'decimal', 'note?': 'string' } } },
  }));
  // the Server helper passes --listen 127.0.0.1:0, which must win over the file's port 1
  const srv = await new Server({ args: ['--config', cfgFile], env: { FLOWGATE_SSE_RETRY_MS: '2222' } }).start();
  try {
    const c = await sse(`${srv.base}/v1/stream?types=run_budget_exceeded`);
    await c.until(() => c.retry !== null, 5000, 'retry');
    assert.ok(c.retry >= 2222 && c.retry < 4444, `retry ${c.retry}`); // env over file (jittered up to 2x)
    const run = uuid();
    const ok = await publish(srv.base, { type: 'run_budget_exceeded', run_id: run, limit_usd: '5.00' });
    await c.waitFrames(1);
    assert.equal(Number(c.frames[0].id), ok.seq);
    const missing = await request(srv.base, 'POST', '/v1/events', { body: { type: 'run_budget_exceeded', run_id: run } });
    assert.equal(missing.status, 400);
    assert.equal(missing.json.error, 'missing_limit_usd');
    c.close();

    // enforce: an illegal transition is 409 and stores nothing, not even the batch around it
    await publish(srv.base, ev.status(run, 'pending', 'running'));
    const before = (await storedEvents(srv.base)).length;
    const bad = await request(srv.base, 'POST', '/v1/events', { body: [ev.log(run, 'x'), ev.status(run, 'running', 'pending')] });
    assert.equal(bad.status, 409);
    assert.equal(bad.json.error, 'illegal_transition');
    assert.equal(bad.json.details.index, 1);
    assert.equal((await storedEvents(srv.base)).length, before);
    const stale = await request(srv.base, 'POST', '/v1/events', { body: ev.status(run, 'retrying', 'running') });
    assert.equal(stale.status, 409);
    await publish(srv.base, ev.status(run, 'running', 'completed'));
  } finally { await srv.stop(); srv.cleanup(); fs.rmSync(dir, { recursive: true, force: true }); }
});

test('SIGTERM: streams end cleanly, publishes in flight are answered and kept, exit 0', async () => {
  const srv = await new Server().start();
  const run = uuid();
  const c = await sse(`${srv.base}/v1/runs/${run}/stream`);
  await sleep(100);
  // publishes racing with the signal: each either gets 202 (and is stored) or fails cleanly
  // A request the dying server never answered is simply not acknowledged; a ref'd timer bounds
  // each one (a fetch on a keep-alive socket closed under it may otherwise never settle).
  const results = [];
  const inflight = Array.from({ length: 40 }, (_, i) => {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), 10000);
    return fetch(`${srv.base}/v1/events`, { method: 'POST', signal: ac.signal, headers: { 'content-type': 'application/json' },
      body: JSON.stringify(ev.log(run, `t${i}`)) })
      .then(async (r) => results.push({ status: r.status, json: await r.json() }))
      .catch(() => {}).finally(() => clearTimeout(timer));
  });
  await sleep(5);
  const exit = await srv.stop('SIGTERM');
  await Promise.all(inflight);
  assert.equal(exit.code, 0);
  assert.match(srv.log, /event=stopping signal=SIGTERM/);
  assert.match(srv.log, /event=stopped/);
  await c.waitClosed(5000);
  for (const r of results) assert.ok(r.status === 202 || r.status === 503, `status ${r.status}`);
  const acked = results.filter((r) => r.status === 202).map((r) => r.json.seq);
  await srv.start();
  const stored = new Set((await storedEvents(srv.base)).map((e) => e.seq));
  for (const s of acked) assert.ok(stored.has(s), `acknowledged seq ${s} is stored`);
  await srv.stop();
  srv.cleanup();
});

test('SIGTERM: every stream ends with a reconnection delay spread over sse.drain_spread_ms', async () => {
  const srv = await new Server({ env: { FLOWGATE_SSE_RETRY_MS: '100', FLOWGATE_SSE_DRAIN_SPREAD_MS: '5000' } }).start();
  try {
    const clients = [];
    for (let i = 0; i < 10; i++) clients.push(await sse(`${srv.base}/v1/stream`));
    await Promise.all(clients.map((c) => c.until(() => c.retry !== null, 5000, 'the opening retry')));
    // the opening hint is spread too: [retry_ms, 2 x retry_ms)
    const opening = clients.map((c) => c.retry);
    for (const d of opening) assert.ok(d >= 100 && d < 200, `opening retry ${d}`);
    assert.ok(new Set(opening).size >= 5, `opening spread: ${opening}`);
    await srv.stop();
    await Promise.all(clients.map((c) => c.waitClosed(10000)));
    const delays = clients.map((c) => c.retry);
    for (const d of delays) assert.ok(d >= 100 && d <= 5100, `retry ${d}`);
    assert.ok(new Set(delays).size >= 5, `spread: ${delays}`);
  } finally { srv.cleanup(); }
});
