'use strict';
// Webhook benchmarks against a running flowgate (FLOWGATE_URL) and a sink (SINK_URL, e.g. nginx
// answering 204). Prints figures; never fails on them.
//   node bench/webhooks.js throughput SUBS EVENTS     deliveries/s with SUBS subscriptions
//   node bench/webhooks.js latency RATE SECONDS HANGING SUBS
//        publish-to-first-attempt p50/p99 at RATE events/s with SUBS subscriptions to an
//        in-process receiver, HANGING of which point at a path that never answers
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

async function succeeded() {
  const m = (await call('GET', '/metrics')).text.match(/flowgate_webhook_succeeded_total (\d+)/);
  return Number(m[1]);
}

async function throughput(subs, events) {
  for (let i = 0; i < subs; i++) {
    const r = await call('POST', '/v1/webhooks', { url: `${process.env.SINK_URL}/s${i}`, max_in_flight: 32 });
    if (r.status !== 201) throw new Error(r.text);
  }
  const base = await succeeded();
  const t0 = now();
  for (let sent = 0; sent < events; sent += 500) {
    const n = Math.min(500, events - sent);
    await call('POST', '/v1/events', Array.from({ length: n }, (_, i) => logLine(`t${sent + i}`)));
  }
  const tPublished = now();
  const want = base + subs * events;
  let done = base;
  while (done < want && now() - t0 < 600000) {
    await new Promise((r) => setTimeout(r, 50));
    done = await succeeded();
  }
  const secs = (now() - t0) / 1000;
  console.log(`webhook deliveries, ${subs} subscription(s) x ${events} events: ${done - base} of ${subs * events} succeeded in ${secs.toFixed(2)} s -> ${Math.round((done - base) / secs)} deliveries/s (publishing took ${((tPublished - t0) / 1000).toFixed(2)} s)`);
}

async function latency(rate, seconds, hanging, subs) {
  const arrivals = [];
  const sent = new Map();
  const rx = http.createServer((req, res) => {
    if (req.url.startsWith('/hang')) return; // never answers
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const t = now();
      const ev = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      arrivals.push({ line: ev.line, t });
      res.writeHead(204);
      res.end();
    });
  });
  await new Promise((r) => rx.listen(0, '127.0.0.1', r));
  const port = rx.address().port;
  for (let i = 0; i < subs; i++) {
    const path = i < hanging ? `/hang${i}` : `/ok${i}`;
    const r = await call('POST', '/v1/webhooks', { url: `http://127.0.0.1:${port}${path}`, max_in_flight: 8 });
    if (r.status !== 201) throw new Error(r.text);
  }
  const total = rate * seconds;
  const t0 = now();
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate;
    while (now() < due) await new Promise((r) => setImmediate(r));
    const line = `l${i}`;
    sent.set(line, now());
    call('POST', '/v1/events', logLine(line)); // single-event POSTs, not awaited: a steady rate
  }
  const healthy = subs - hanging;
  const deadline = now() + 30000;
  while (arrivals.length < total * healthy && now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const lat = arrivals.map((a) => a.t - sent.get(a.line)).sort((a, b) => a - b);
  const p = (q) => lat[Math.min(lat.length - 1, Math.floor(lat.length * q))];
  console.log(`publish-to-first-attempt at ${rate} events/s x ${healthy} healthy subscriptions${hanging ? ` (+${hanging} hanging)` : ''}: ${lat.length} of ${total * healthy} arrived; p50 ${p(0.5).toFixed(2)} ms, p99 ${p(0.99).toFixed(2)} ms, max ${lat[lat.length - 1].toFixed(2)} ms`);
  rx.closeAllConnections();
  rx.close();
  agent.destroy();
}

(async () => {
  const [mode, a, b, c] = process.argv.slice(2);
  if (mode === 'throughput') await throughput(Number(a), Number(b));
  else await latency(Number(a), Number(b), Number(c || 0), Number(process.argv[6] || 100));
  agent.destroy();
})().catch((e) => { console.error(e); process.exit(1); });
