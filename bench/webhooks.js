'use strict';
// Webhook benchmarks against a running flowgate (FLOWGATE_URL) and a sink (SINK_URL, e.g. nginx
// answering 204). Prints figures; never fails on them.
//   node bench/webhooks.js throughput SUBS EVENTS     deliveries/s with SUBS subscriptions
//        (PERF_HOOK: as for dead, a shell command run as the drain starts)
//        (FLOWGATE_URLS=a,b,c: a cluster's nodes, whose deliveries are summed)
//        (MAX_IN_FLIGHT: each subscription's, 32 by default; FG_TRACE=1 prints the deliveries
//        done every 20 ms, to see the rate change within a drain)
//   node bench/webhooks.js latency RATE SECONDS HANGING SUBS
//        publish-to-first-attempt p50/p99 at RATE events/s with SUBS subscriptions to an
//        bench/sink.c receiver (FG_SINK), HANGING of which point at a path that never answers;
//        one second of warm-up is not measured. FG_SPREAD=1 adds per-event first arrival and
//        fan-out spread, FG_SLOW=1 lists the events whose last delivery took over 40 ms.
//   node bench/webhooks.js dead EVENTS DEAD HANGING WATCH_SECONDS
//        one healthy subscription's drain of EVENTS beside DEAD (closed port) and HANGING ones,
//        then the others' failed attempts for WATCH_SECONDS and the store's size (DATA_DIR).
//        Diagnostics: ONLY_HEALTHY=1 enables only the healthy one (the others' rows without
//        their attempts), POLL_MS sets how often /metrics is read (20), PERF_HOOK is a shell
//        command run as the drain starts (e.g. a perf record in the background).
const http = require('node:http');
const { performance } = require('node:perf_hooks');

const FG = process.env.FLOWGATE_URL;
const now = () => performance.timeOrigin + performance.now();
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function call(method, path, body) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(FG + path, { method, agent, headers: data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {} }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode, json: text && text[0] !== '#' ? JSON.parse(text) : null, text }));
    });
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

const logLine = (line) => ({ type: 'log_line', run_id: '3f1c2a4e-8b9d-4c1e-9f2a-1b2c3d4e5f60', step_id: '0b7d2e51-1111-4c1e-9f2a-1b2c3d4e5f61', step_name: 'bench', stream: 'stdout', line });

// Deliveries that succeeded, summed over every node of FLOWGATE_URLS (a cluster) or FLOWGATE_URL.
async function succeeded() {
  let sum = 0;
  for (const url of (process.env.FLOWGATE_URLS || FG).split(',')) {
    const text = await new Promise((resolve, reject) => {
      http.get(`${url}/metrics`, { agent }, (res) => {
        let t = '';
        res.on('data', (c) => { t += c; });
        res.on('end', () => resolve(t));
      }).on('error', reject);
    });
    sum += Number(text.match(/flowgate_webhook_succeeded_total (\d+)/)[1]);
  }
  return sum;
}

// The backlog is published first to paused subscriptions, then they are enabled and the drain
// is timed: the figure is the dispatcher's rate, not the publisher's.
async function throughput(subs, events) {
  const ids = [];
  for (let i = 0; i < subs; i++) {
    const url = process.env.SINK_SPREAD ? `http://127.0.0.${1 + (i % 100)}:18900/s${i}` : `${process.env.SINK_URL}/s${i}`;
    const r = await call('POST', '/v1/webhooks', { url, max_in_flight: Number(process.env.MAX_IN_FLIGHT || 32), enabled: false });
    if (r.status !== 201) throw new Error(r.text);
    ids.push(r.json.id);
  }
  const base = await succeeded();
  const tp = now();
  for (let sent = 0; sent < events; sent += 500) {
    const n = Math.min(500, events - sent);
    await call('POST', '/v1/events', Array.from({ length: n }, (_, i) => logLine(`t${sent + i}`)));
  }
  const publishSecs = (now() - tp) / 1000;
  const t0 = now();
  for (const id of ids) await call('PATCH', `/v1/webhooks/${id}`, { enabled: true });
  if (process.env.PERF_HOOK) require('node:child_process').execSync(process.env.PERF_HOOK);
  const want = base + subs * events;
  let done = base;
  while (done < want && now() - t0 < 600000) {
    await new Promise((r) => setTimeout(r, 20));
    done = await succeeded();
    if (process.env.FG_TRACE) console.log(`${((now() - t0) / 1000).toFixed(3)} ${done - base}`);
  }
  const secs = (now() - t0) / 1000;
  console.log(`webhook deliveries, ${subs} subscription(s) x ${events} events: ${done - base} of ${subs * events} succeeded in ${secs.toFixed(2)} s -> ${Math.round((done - base) / secs)} deliveries/s (the backlog was published first, in ${publishSecs.toFixed(2)} s)`);
}

// The receiver is bench/sink.c (FG_SINK): it timestamps arrivals itself, so a burst of 90
// requests is not queued behind a single-threaded Node server.
async function latency(rate, seconds, hanging, subs) {
  const fs = require('node:fs');
  const os = require('node:os');
  const path = require('node:path');
  const { spawn } = require('node:child_process');
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fg-sink-')), 'arrivals');
  const sink = spawn(process.env.FG_SINK, [out], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve, reject) => {
    sink.stdout.on('data', (c) => { const m = String(c).match(/port (\d+)/); if (m) resolve(Number(m[1])); });
    sink.on('exit', () => reject(new Error('fg_sink exited')));
  });
  const sent = new Map();
  for (let i = 0; i < subs; i++) {
    const p = i < hanging ? `/hang${i}` : `/ok${i}`;
    const r = await call('POST', '/v1/webhooks', { url: `http://127.0.0.1:${port}${p}`, max_in_flight: 8 });
    if (r.status !== 201) throw new Error(r.text);
  }
  // one second of warm-up, not measured: every subscription opens its connections
  const warm = rate;
  for (let i = 0; i < warm; i++) {
    await new Promise((r) => setTimeout(r, 1000 / rate));
    call('POST', '/v1/events', logLine(`w${i}`));
  }
  const healthy = subs - hanging;
  const warmDeadline = now() + 10000;
  while ((await succeeded()) < warm * healthy && now() < warmDeadline) await new Promise((r) => setTimeout(r, 20));
  const base = await succeeded();
  const total = rate * seconds;
  const t0 = now();
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate;
    while (now() < due) await new Promise((r) => setImmediate(r));
    const line = `l${i}`;
    sent.set(line, now());
    call('POST', '/v1/events', logLine(line)); // single-event POSTs, not awaited: a steady rate
  }
  const deadline = now() + 30000;
  while ((await succeeded()) - base < total * healthy && now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const exited = new Promise((r) => sink.on('exit', r));
  sink.kill('SIGTERM');
  await exited;
  const perEvent = new Map();
  const lat = fs.readFileSync(out, 'utf8').trim().split('\n').filter((l) => l && l[0] === 'l').map((l) => {
    const [line, us] = l.split(' ');
    const ms = Number(us) / 1000 - sent.get(line);
    const e = perEvent.get(line) || { first: Infinity, last: -Infinity };
    e.first = Math.min(e.first, ms);
    e.last = Math.max(e.last, ms);
    perEvent.set(line, e);
    return ms;
  }).sort((a, b) => a - b);
  if (process.env.FG_SLOW) {
    const slow = [...perEvent.entries()].filter(([, e]) => e.last > 40).map(([l, e]) => `${l}:${e.first.toFixed(0)}-${e.last.toFixed(0)}`);
    console.log(`slow events (${slow.length}): ${slow.join(' ')}`);
  }
  if (process.env.FG_SPREAD) {
    const firsts = [...perEvent.values()].map((e) => e.first).sort((a, b) => a - b);
    const spreads = [...perEvent.values()].map((e) => e.last - e.first).sort((a, b) => a - b);
    console.log(`per event: first arrival p50 ${firsts[firsts.length >> 1].toFixed(2)} ms, spread p50 ${spreads[spreads.length >> 1].toFixed(2)} ms`);
  }
  fs.rmSync(path.dirname(out), { recursive: true, force: true });
  const p = (q) => lat[Math.min(lat.length - 1, Math.floor(lat.length * q))];
  console.log(`publish-to-first-attempt at ${rate} events/s x ${healthy} healthy subscriptions${hanging ? ` (+${hanging} hanging)` : ''}: ${lat.length} of ${total * healthy} arrived; p50 ${p(0.5).toFixed(2)} ms, p99 ${p(0.99).toFixed(2)} ms, max ${lat[lat.length - 1].toFixed(2)} ms`);
  agent.destroy();
}

async function metric(name) {
  const m = (await call('GET', '/metrics')).text.match(new RegExp(`^${name} (\\d+)`, 'm'));
  return m ? Number(m[1]) : 0;
}

// One healthy subscription (the sink) beside DEAD ones to a closed port and HANGING ones to
// fg_sink's /hang path (never answered): the backlog of EVENTS is published to paused
// subscriptions, all are enabled, and the healthy one's drain is timed. Then the failed attempts
// of the others are counted for WATCH seconds more, and the store's size is printed (DATA_DIR).
async function dead(events, deadSubs, hanging, watch) {
  const net = require('node:net');
  const fs = require('node:fs');
  const os = require('node:os');
  const path = require('node:path');
  const { spawn } = require('node:child_process');
  const closed = await new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
  let sink = null;
  let hangPort = 0;
  if (hanging > 0) {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fg-sink-')), 'arrivals');
    sink = spawn(process.env.FG_SINK, [out], { stdio: ['ignore', 'pipe', 'inherit'] });
    hangPort = await new Promise((resolve, reject) => {
      sink.stdout.on('data', (c) => { const m = String(c).match(/port (\d+)/); if (m) resolve(Number(m[1])); });
      sink.on('exit', () => reject(new Error('fg_sink exited')));
    });
  }
  const urls = [`${process.env.SINK_URL}/healthy`];
  for (let i = 0; i < deadSubs; i++) urls.push(`http://127.0.0.1:${closed}/dead${i}`);
  for (let i = 0; i < hanging; i++) urls.push(`http://127.0.0.1:${hangPort}/hang${i}`);
  const ids = [];
  for (const url of urls) {
    const r = await call('POST', '/v1/webhooks', { url, enabled: false });
    if (r.status !== 201) throw new Error(r.text);
    ids.push(r.json.id);
  }
  for (let sent = 0; sent < events; sent += 500) {
    const n = Math.min(500, events - sent);
    await call('POST', '/v1/events', Array.from({ length: n }, (_, i) => logLine(`t${sent + i}`)));
  }
  const base = await succeeded();
  const failed0 = await metric('flowgate_webhook_attempts_total') - base;
  const t0 = now();
  for (const id of (process.env.ONLY_HEALTHY ? ids.slice(0, 1) : ids)) await call('PATCH', `/v1/webhooks/${id}`, { enabled: true });
  if (process.env.PERF_HOOK) require('node:child_process').execSync(process.env.PERF_HOOK);
  let done = base;
  while (done < base + events && now() - t0 < 600000) {
    await new Promise((r) => setTimeout(r, Number(process.env.POLL_MS || 20)));
    done = await succeeded();
  }
  const secs = (now() - t0) / 1000;
  const failedDrain = (await metric('flowgate_webhook_attempts_total')) - done - failed0;
  const w0 = (await metric('flowgate_webhook_attempts_total')) - (await succeeded());
  await new Promise((r) => setTimeout(r, watch * 1000));
  const w1 = (await metric('flowgate_webhook_attempts_total')) - (await succeeded());
  const others = deadSubs + hanging;
  let size = 0;
  for (const f of ['flowgate.db', 'flowgate.db-wal']) {
    try { size += fs.statSync(path.join(process.env.DATA_DIR, f)).size; } catch { /* none */ }
  }
  console.log(`healthy subscription beside ${deadSubs} dead + ${hanging} hanging: ${done - base} of ${events} delivered in ${secs.toFixed(2)} s; failed attempts during the drain ${failedDrain}` +
    (others ? `; then ${w1 - w0} failed attempts in ${watch} s (${((w1 - w0) * 60 / watch / others).toFixed(1)} per endpoint per minute)` : '') +
    `; store ${(size / 1048576).toFixed(1)} MiB`);
  if (sink) { const exited = new Promise((r) => sink.on('exit', r)); sink.kill('SIGTERM'); await exited; }
}

(async () => {
  const [mode, a, b, c] = process.argv.slice(2);
  if (mode === 'throughput') await throughput(Number(a), Number(b));
  else if (mode === 'dead') await dead(Number(a), Number(b), Number(c), Number(process.argv[6] || 30));
  else await latency(Number(a), Number(b), Number(c || 0), Number(process.argv[6] || 100));
  agent.destroy();
})().catch((e) => { console.error(e); process.exit(1); });
