'use strict';
// A real browser: Debian's Chromium (driven by playwright-core) opens an EventSource on a
// flowgate page, receives published events live, is cut off by a server restart, reconnects by
// itself with Last-Event-ID, and ends with every event exactly once.
const test = require('node:test');
const assert = require('node:assert/strict');
const { launchChromium } = require('./chromium');
const { Server, publish, ev, uuid, sleep } = require('./lib');

test('Chromium EventSource: live events, restart, resume', async () => {
  const srv = await new Server({ env: { FLOWGATE_SSE_RETRY_MS: '300' } }).start();
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    // Same origin as the stream: any flowgate page will do.
    await page.goto(`${srv.base}/healthz`);
    const run = uuid();
    await page.evaluate((runId) => {
      window.got = [];
      window.opens = 0;
      const es = new EventSource(`/v1/runs/${runId}/stream?types=log_line,approval_*`);
      es.onopen = () => { window.opens++; };
      for (const t of ['log_line', 'approval_requested']) {
        es.addEventListener(t, (e) => window.got.push({ seq: Number(e.lastEventId), type: e.type, data: JSON.parse(e.data) }));
      }
    }, run);
    const waitFor = async (fn, what) => {
      for (let i = 0; i < 300; i++) {
        if (await page.evaluate(fn)) return;
        await sleep(50);
      }
      assert.fail(`browser: timed out waiting for ${what}`);
    };
    await waitFor(() => window.opens === 1, 'open');
    const sent = [];
    sent.push(...await publish(srv.base, [ev.log(run, 'first'), ev.approval(run), ev.log(run, 'multi\nline')]));
    await waitFor(() => window.got.length === 3, 'three live events');

    await srv.stop();
    await srv.start();
    sent.push(...await publish(srv.base, [ev.log(run, 'while away')]));
    await waitFor(() => window.opens >= 2 && window.got.length === 4, 'reconnect and replay');
    sent.push(...await publish(srv.base, [ev.log(run, 'after')]));
    await waitFor(() => window.got.length === 5, 'live again');
    await sleep(300);
    const got = await page.evaluate(() => window.got);
    assert.deepEqual(got.map((g) => g.seq), sent.map((s) => s.seq));
    assert.deepEqual(got.map((g) => g.type), ['log_line', 'approval_requested', 'log_line', 'log_line', 'log_line']);
    assert.equal(got[2].data.line, 'multi\nline');
  } finally {
    await browser.close();
    await srv.stop();
    srv.cleanup();
  }
});
