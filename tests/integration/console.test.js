'use strict';
// The web console in a real browser (Debian's Chromium via playwright-core): the runs list
// changes its badges live, the approvals queue adds and removes requests as they happen, and a
// run page tails its log across a server restart with every line exactly once. Screenshots go
// to $FG_SCREENSHOT_DIR (default: the system temp dir) for a person to look at.
const test = require('node:test');
const assert = require('node:assert/strict');
const os = require('node:os');
const path = require('node:path');
const { launchChromium } = require('./chromium');
const { Server, publish, request, uuid, sleep } = require('./lib');

const SHOTS = process.env.FG_SCREENSHOT_DIR || os.tmpdir();

test('console: runs live, approvals queue, run page log tail across a restart', async () => {
  const srv = await new Server({ env: { FLOWGATE_SSE_RETRY_MS: '300' } }).start();
  const browser = await launchChromium();
  const errors = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('pageerror', (e) => errors.push(String(e)));
    // every request the page makes is answered (the icon once was a 404 on every load)
    page.on('response', (r) => { if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`); });
    page.on('requestfailed', (r) => { if (!/\/stream|\/logs/.test(r.url())) errors.push(`failed ${r.url()}`); });
    const waitFor = async (fn, arg, what) => {
      for (let i = 0; i < 300; i++) {
        if (await page.evaluate(fn, arg)) return;
        await sleep(50);
      }
      assert.fail(`browser: timed out waiting for ${what}\n${await page.evaluate(() => document.body.innerText)}`);
    };
    const runA = uuid(); const runB = uuid(); const build = uuid(); const test1 = uuid(); const gate = uuid();
    const logSeqs = [];
    const line = (step, name, stream, text) => ({ type: 'log_line', run_id: runA, step_id: step, step_name: name, stream, line: text });
    const logs = async (events) => {
      const acks = await publish(srv.base, events);
      events.forEach((e, i) => { if (e.type === 'log_line') logSeqs.push(acks[i].seq); });
      return acks;
    };
    await logs([
      { type: 'run_created', run_id: runA, workflow_name: 'deploy-api' },
      { type: 'run_status_changed', run_id: runA, workflow_name: 'deploy-api', from: 'pending', to: 'running', cost_usd: '0', duration_ms: 0 },
      line(build, 'build', 'system', 'starting build on runner-3'),
      line(build, 'build', 'stdout', 'npm ci'),
      line(build, 'build', 'stderr', 'npm WARN deprecated inflight@1.0.6'),
      line(build, 'build', 'stdout', 'added 812 packages in 14s'),
      { type: 'step_completed', run_id: runA, step_id: build, step_name: 'build', kind: 'shell', duration_ms: 14200, cost_usd: '0.012' },
      { type: 'run_created', run_id: runB, workflow_name: 'nightly-etl' },
      { type: 'run_status_changed', run_id: runB, workflow_name: 'nightly-etl', from: 'pending', to: 'running', cost_usd: '0', duration_ms: 0 },
      { type: 'approval_requested', run_id: runB, step_id: gate, message: 'Load 1.2M rows into warehouse?' },
      { type: 'run_status_changed', run_id: runB, workflow_name: 'nightly-etl', from: 'running', to: 'awaiting_approval', cost_usd: '0.40', duration_ms: 61000 },
    ]);

    // 1. The runs list, and a badge that changes live.
    await page.goto(`${srv.base}/`);
    await waitFor(() => document.querySelectorAll('tr.run').length === 2, null, 'two runs');
    const badgeOf = (run) => page.evaluate((r) => document.querySelector(`tr[data-run="${r}"] td.status .badge`).textContent, run);
    assert.equal(await badgeOf(runA), 'running');
    assert.equal(await badgeOf(runB), 'awaiting approval');
    await waitFor(() => document.getElementById('conn').textContent === 'live', null, 'live');
    await publish(srv.base, { type: 'run_status_changed', run_id: runB, workflow_name: 'nightly-etl', from: 'awaiting_approval', to: 'running', cost_usd: '0.40', duration_ms: 62000 });
    await waitFor((r) => document.querySelector(`tr[data-run="${r}"] td.status .badge`).textContent === 'running', runB, 'runB badge running');
    const runC = uuid();
    await publish(srv.base, { type: 'run_created', run_id: runC, workflow_name: 'lint' });
    await waitFor((r) => document.querySelector('tbody tr.run')?.dataset.run === r, runC, 'a new run on top');
    await page.screenshot({ path: path.join(SHOTS, 'flowgate-console-runs.png') });
    // the status filter, and a run joining it when its status changes
    await page.selectOption('#status-filter', 'pending');
    await waitFor((r) => [...document.querySelectorAll('tr.run')].map((e) => e.dataset.run).join() === r, runC, 'only the pending run');
    await publish(srv.base, { type: 'run_status_changed', run_id: runC, workflow_name: 'lint', from: 'pending', to: 'running', cost_usd: '0', duration_ms: 1 });
    await waitFor(() => document.querySelectorAll('tr.run').length === 0, null, 'the run leaving the pending filter');

    // 2. The approvals queue: the pending one on load, a new one appears, decided ones go.
    await page.goto(`${srv.base}/#/approvals`);
    await waitFor((s) => [...document.querySelectorAll('.approval')].map((e) => e.dataset.step).join() === s, gate, 'the pending approval');
    const gate2 = uuid();
    await publish(srv.base, { type: 'approval_requested', run_id: runA, step_id: gate2, message: 'Deploy api v2.3.1 to production?' });
    await waitFor((s) => [...document.querySelectorAll('.approval')].map((e) => e.dataset.step).join() === s, `${gate},${gate2}`, 'the new approval');
    assert.equal(await page.evaluate(() => document.getElementById('approval-count').textContent), '2');
    await page.screenshot({ path: path.join(SHOTS, 'flowgate-console-approvals.png') });
    await publish(srv.base, { type: 'approval_granted', run_id: runB, approved_by: 'ana', step_id: gate });
    await waitFor((s) => [...document.querySelectorAll('.approval')].map((e) => e.dataset.step).join() === s, gate2, 'the granted one gone');
    await publish(srv.base, { type: 'approval_rejected', run_id: runA, rejected_by: 'bo' });
    await waitFor(() => document.querySelectorAll('.approval').length === 0, null, 'the rejected one gone');

    // 3. The run page: history, steps, the log tail; then a restart in the middle of it.
    await logs([line(test1, 'test', 'stdout', 'PASS src/api.test.ts (4.2 s)'), line(test1, 'test', 'stderr', 'console.warn: slow query')]);
    await page.goto(`${srv.base}/#/runs/${runA}`);
    const shown = () => page.evaluate(() => [...document.querySelectorAll('#log .ln')].map((e) => Number(e.dataset.seq)));
    await waitFor((n) => document.querySelectorAll('#log .ln').length === n, logSeqs.length, 'history lines');
    assert.equal(await page.evaluate(() => document.querySelectorAll('.history li').length), 1);
    assert.match(await page.evaluate(() => document.querySelector('#run-head table').innerText), /build[\s\S]*completed/);
    assert.equal(await page.evaluate(() => document.querySelector('#log .ln.stderr .text').textContent), 'npm WARN deprecated inflight@1.0.6');
    await waitFor(() => document.getElementById('conn').textContent === 'live', null, 'live');
    for (let i = 0; i < 5; i++) await logs([line(test1, 'test', i % 2 ? 'stderr' : 'stdout', `live line ${i}`)]);
    await waitFor((n) => document.querySelectorAll('#log .ln').length === n, logSeqs.length, 'live lines');

    await srv.stop();
    await waitFor(() => document.getElementById('conn').textContent === 'reconnecting', null, 'the console to notice');
    await srv.start();
    await logs([line(test1, 'test', 'system', 'while the page was away')]);
    for (let i = 0; i < 20; i++) await logs([line(test1, 'test', 'stdout', `after restart ${i}`), line(test1, 'test', 'stdout', `second ${i}`)]);
    await publish(srv.base, { type: 'run_status_changed', run_id: runA, workflow_name: 'deploy-api', from: 'running', to: 'completed', cost_usd: '0.031', duration_ms: 95000 });
    await waitFor((n) => document.querySelectorAll('#log .ln').length >= n, logSeqs.length, 'lines after the restart');
    await waitFor(() => document.querySelector('#run-head h1 .badge').textContent === 'completed', null, 'status completed');
    await sleep(500); // anything repeated would show up by now
    assert.deepEqual(await shown(), logSeqs, 'every line exactly once, in order');
    assert.equal(await page.evaluate(() => document.querySelectorAll('.history li').length), 2);
    // the tail follows the bottom
    assert.ok(await page.evaluate(() => { const l = document.getElementById('log'); return l.scrollTop + l.clientHeight >= l.scrollHeight - 10; }));
    await page.screenshot({ path: path.join(SHOTS, 'flowgate-console-run.png') });

    // The page and its files come from the binary; the page forbids foreign scripts.
    const html = await request(srv.base, 'GET', '/');
    assert.match(html.headers.get('content-security-policy'), /default-src 'self'/);
    const etag = html.headers.get('etag');
    const again = await fetch(`${srv.base}/console/app.js`, { headers: { 'if-none-match': (await fetch(`${srv.base}/console/app.js`)).headers.get('etag') } });
    assert.equal(again.status, 304);
    assert.ok(etag);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await srv.stop();
    srv.cleanup();
  }
});

test('console: asks for a credential when the API needs one, then works with it', async () => {
  const { spawnSync } = require('node:child_process');
  const fs = require('node:fs');
  const crypto = require('node:crypto');
  const { tmpDir, BIN } = require('./lib');
  const key = `fgk_${crypto.randomBytes(24).toString('base64url')}`;
  const hash = spawnSync(BIN, ['hash-key', key]).stdout.toString().trim();
  const dir = tmpDir();
  const cfg = path.join(dir, 'flowgate.json');
  fs.writeFileSync(cfg, JSON.stringify({ auth: { keys: [{ name: 'ops', sha256: hash, scopes: ['subscribe', 'publish'] }] } }));
  const srv = await new Server({ args: ['--config', cfg] }).start();
  const browser = await launchChromium();
  try {
    const run = uuid();
    const older = Array.from({ length: 130 }, () => ({ type: 'run_created', run_id: uuid(), workflow_name: 'batch' }));
    await publish(srv.base, older, { authorization: `Bearer ${key}` });
    await publish(srv.base, { type: 'run_created', run_id: run, workflow_name: 'secured' }, { authorization: `Bearer ${key}` });
    const page = await browser.newPage();
    await page.goto(`${srv.base}/`);
    await page.waitForSelector('form.login', { timeout: 10000 });
    await page.fill('form.login input[name=token]', key);
    await page.click('form.login button');
    await page.waitForSelector(`tr[data-run="${run}"]`, { timeout: 10000 });
    assert.equal(await page.locator('tr.run').count(), 100);
    await page.click('button.more');
    await page.waitForFunction(() => document.querySelectorAll('tr.run').length === 131, null, { timeout: 10000 });
    assert.ok(await page.evaluate(() => document.querySelector('button.more').hidden));
    await publish(srv.base, { type: 'run_status_changed', run_id: run, workflow_name: 'secured', from: 'pending', to: 'running', cost_usd: '0', duration_ms: 1 }, { authorization: `Bearer ${key}` });
    await page.waitForFunction((r) => document.querySelector(`tr[data-run="${r}"] .badge`).textContent === 'running', run, { timeout: 10000 });
  } finally {
    await browser.close();
    await srv.stop();
    srv.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('console: every file the page names is served, and the icon browsers ask for', async () => {
  const srv = await new Server().start();
  try {
    const page = await request(srv.base, 'GET', '/');
    assert.equal(page.status, 200);
    const refs = [...page.text.matchAll(/(?:href|src)="(\/[^"#]*)"/g)].map((m) => m[1]);
    assert.ok(refs.includes('/console/icon.svg'), 'the page names its icon');
    for (const ref of [...refs, '/favicon.ico']) {
      const r = await request(srv.base, 'GET', ref);
      assert.equal(r.status, 200, `${ref}: ${r.status}`);
    }
    const icon = await request(srv.base, 'GET', '/favicon.ico');
    assert.match(icon.headers.get('content-type'), /^image\/svg\+xml/);
    assert.match(icon.text, /^<svg /);
  } finally { await srv.stop(); srv.cleanup(); }
});
