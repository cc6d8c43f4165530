'use strict';
// config/nginx.example.conf in front of a real flowgate: publishing through nginx works, and an
// SSE stream through nginx gets each event as it is published (no buffering), stays open, and
// resumes with Last-Event-ID.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { Server, sse, publish, request, ev, uuid, tmpDir, sleep } = require('./lib');

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

test('behind nginx (config/nginx.example.conf): events stream through unbuffered', async () => {
  const srv = await new Server().start();
  const dir = tmpDir();
  const port = await freePort();
  const example = fs.readFileSync(path.join(__dirname, '../../config/nginx.example.conf'), 'utf8')
    .replace('server 127.0.0.1:8080;', `server 127.0.0.1:${srv.port};`)
    .replace('listen 127.0.0.1:8081;', `listen 127.0.0.1:${port};`);
  assert.ok(example.includes(`127.0.0.1:${srv.port}`) && example.includes(`127.0.0.1:${port}`));
  fs.writeFileSync(path.join(dir, 'flowgate.conf'), example);
  fs.writeFileSync(path.join(dir, 'nginx.conf'), `
daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  include ${dir}/flowgate.conf;
}
`);
  const nginx = spawn('nginx', ['-c', path.join(dir, 'nginx.conf'), '-p', dir], { stdio: 'ignore' });
  const base = `http://127.0.0.1:${port}`;
  try {
    for (let i = 0; i < 100; i++) {
      try { if ((await request(base, 'GET', '/healthz')).status === 200) break; } catch { /* starting */ }
      await sleep(50);
    }
    const run = uuid();
    const s = await sse(`${base}/v1/runs/${run}/stream`);
    assert.equal(s.status, 200);
    // one event at a time: each must arrive before the next is published
    for (let i = 0; i < 5; i++) {
      await publish(base, ev.log(run, `line ${i}`));
      await s.waitFrames(i + 1, 2000);
    }
    assert.deepEqual(s.events().map((e) => e.body.line), ['line 0', 'line 1', 'line 2', 'line 3', 'line 4']);
    assert.equal(s.closed, false, 'the stream stays open');
    const last = s.frames[s.frames.length - 1].id;
    s.close();
    await publish(base, ev.log(run, 'missed'));
    const again = await sse(`${base}/v1/runs/${run}/stream`, { headers: { 'last-event-id': last } });
    await again.waitFrames(1, 2000);
    assert.equal(again.events()[0].body.line, 'missed');
    again.close();
    // flowgate's errors come through as they are
    const bad = await request(base, 'GET', '/v1/stream?types=nope');
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error, 'unknown_type');
  } finally {
    nginx.kill('SIGQUIT');
    await new Promise((r) => nginx.on('exit', r));
    await srv.stop();
    srv.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
