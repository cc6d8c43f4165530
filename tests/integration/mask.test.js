'use strict';
// logs.mask (issue #14): literal values and regular expressions are replaced with *** before an
// event is stored, streamed or delivered. The secret is never in the store's files, an SSE
// stream, a log page, a webhook body or flowgate's own log, whichever way it was published
// (one event, a batch, NDJSON, pipelined). A bad mask refuses to start, naming it.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const http = require('node:http');
const net = require('node:net');
const { spawnSync } = require('node:child_process');
const { Server, sse, publish, request, ev, uuid, tmpDir, sleep, BIN } = require('./lib');

const LITERAL = 'correct-horse-battery-staple';
const GH = 'ghp_0123456789abcdefghijABCDEFGHIJ012345';
const AWS = 'AKIAIOSFODNN7EXAMPLE';
const SECRETS = [LITERAL, GH, AWS];

function withConfig(cfg) {
  const dir = tmpDir();
  const file = path.join(dir, 'flowgate.json');
  fs.writeFileSync(file, JSON.stringify(cfg));
  return { dir, file };
}

async function receiver() {
  const got = [];
  const srv = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => { got.push(Buffer.concat(chunks).toString('utf8')); res.writeHead(204); res.end(); });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.2', r));
  return { got, url: `http://127.0.0.2:${srv.address().port}/hook`, close: () => { srv.closeAllConnections(); srv.close(); } };
}

function rawPipelined(port, bodies) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let got = '';
    sock.on('connect', () => sock.write(bodies.map((b) => `POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(b)}\r\n\r\n${b}`).join('')));
    sock.on('data', (d) => { got += d; if ((got.match(/HTTP\/1\.1 202/g) || []).length === bodies.length) { sock.end(); resolve(got); } });
    sock.on('error', reject);
  });
}

test('secrets are masked before they are stored, streamed, delivered or logged', async () => {
  const rx = await receiver();
  const { dir, file } = withConfig({ logs: { mask: [LITERAL, { regex: 'ghp_[A-Za-z0-9]{36}' }, { regex: 'AKIA[0-9A-Z]{16}' }] } });
  const srv = await new Server({ args: ['--config', file], env: { FLOWGATE_WEBHOOKS_ALLOW_NETWORKS: '127.0.0.2/32', FLOWGATE_LOG_LEVEL: 'debug' } }).start();
  try {
    const run = uuid();
    const sub = await request(srv.base, 'POST', '/v1/webhooks', { body: { url: rx.url, event_types: ['log_line', 'step_failed'] } });
    assert.equal(sub.status, 201, sub.text);
    const stream = await sse(`${srv.base}/v1/stream?types=log_line,step_failed`);
    const lines = [
      `export TOKEN=${GH}`, `password: ${LITERAL}`, `aws ${AWS} ${AWS}`, `twice ${LITERAL}${LITERAL}`,
    ];
    await publish(srv.base, ev.log(run, lines[0]));
    await publish(srv.base, [ev.log(run, lines[1]), ev.log(run, lines[2], { labels: { key: AWS } })]);
    let r = await request(srv.base, 'POST', '/v1/events', { raw: true, body: JSON.stringify(ev.log(run, lines[3])) + '\n', headers: { 'content-type': 'application/x-ndjson' } });
    assert.equal(r.status, 202);
    await rawPipelined(srv.port, [1, 2, 3].map((i) => JSON.stringify(ev.log(run, `pipelined ${i} ${GH}`))));
    r = await request(srv.base, 'POST', '/v1/events', { body: { type: 'step_failed', run_id: run, step_id: uuid(), step_name: 'deploy', kind: 'task', error: `denied for ${AWS}` } });
    assert.equal(r.status, 202, r.text);
    const want = ['export TOKEN=***', 'password: ***', 'aws *** ***', 'twice ******', 'pipelined 1 ***', 'pipelined 2 ***', 'pipelined 3 ***'];

    // SSE
    await stream.waitFrames(8);
    const frames = stream.frames.map((f) => JSON.parse(f.data));
    assert.deepEqual(frames.filter((e) => e.type === 'log_line').map((e) => e.line), want);
    assert.equal(frames[2].labels.key, '***');
    assert.equal(frames[7].error, 'denied for ***');
    stream.close();
    // log pages and stored events
    const logs = await request(srv.base, 'GET', `/v1/runs/${run}/logs?limit=100`);
    assert.deepEqual(logs.json.lines.map((l) => l.line), want);
    const events = await request(srv.base, 'GET', '/v1/events?after=0&limit=100');
    // webhook bodies
    for (let i = 0; i < 300 && rx.got.length < 8; i++) await sleep(20);
    assert.equal(rx.got.length, 8);
    await srv.stop();
    const everything = [events.text, logs.text, JSON.stringify(stream.frames), rx.got.join('\n'), srv.log,
      ...fs.readdirSync(srv.dataDir).filter((f) => fs.statSync(path.join(srv.dataDir, f)).isFile())
        .map((f) => fs.readFileSync(path.join(srv.dataDir, f)).toString('latin1'))];
    for (const s of SECRETS) for (const text of everything) assert.ok(!text.includes(s), `${s} found`);
    assert.ok(rx.got.some((b) => b.includes('"line":"export TOKEN=***"')));
  } finally { rx.close(); await srv.stop(); srv.cleanup(); fs.rmSync(dir, { recursive: true, force: true }); }
});

test('a bad mask refuses to start and names it', () => {
  for (const [mask, says] of [
    [['ok', { regex: 'a(' }], /logs\.mask\[1\]: the regex does not compile/],
    [[{ regex: '.*' }], /logs\.mask\[0\]: the regex matches the empty string/],
    [[''], /logs\.mask\[0\]: empty/],
    [[7], /logs\.mask\[0\]: each mask is a literal string or \{"regex"/],
  ]) {
    const { dir, file } = withConfig({ logs: { mask } });
    const r = spawnSync(BIN, ['--listen', '127.0.0.1:0', '--data-dir', path.join(dir, 'data'), '--config', file], { timeout: 10000 });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr.toString(), says);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
