'use strict';
// The log figures of issue #14 against a running flowgate (bench/run.sh logs-search,
// logs-download): prints, never judges.
//   node bench/logs.js search   PORT RUN_ID   whole searches, page after page, timed
//   node bench/logs.js download PORT RUN_ID PID   the whole log, plain and gzip: time, bytes,
//                                               and the server's anonymous memory at its peak
const fs = require('node:fs');

const [mode, port, run, pid] = process.argv.slice(2);
const base = `http://127.0.0.1:${port}`;

// Every page of one search; the time to the first page and to the end, the matches.
async function search(query) {
  const t0 = process.hrtime.bigint();
  let after = 0; let first = null; let matches = 0; let pages = 0;
  for (;;) {
    const res = await fetch(`${base}/v1/runs/${run}/logs?${query}&limit=1000&after=${after}`);
    const page = await res.json();
    if (res.status !== 200) throw new Error(`${query}: ${res.status} ${JSON.stringify(page)}`);
    pages++;
    matches += page.lines.length;
    if (first === null) first = Number(process.hrtime.bigint() - t0) / 1e6;
    if (page.next_after >= page.last_seq) break;
    after = page.next_after;
  }
  const total = Number(process.hrtime.bigint() - t0) / 1e6;
  console.log(`  ${query.padEnd(44)} ${String(matches).padStart(8)} matches  ${String(pages).padStart(5)} pages  first page ${first.toFixed(1)} ms  whole ${total.toFixed(1)} ms`);
}

const rssAnon = () => Number(fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/RssAnon:\s+(\d+)/)[1]);

async function download(headers) {
  const before = rssAnon();
  let peak = before;
  const timer = setInterval(() => { peak = Math.max(peak, rssAnon()); }, 20);
  const t0 = process.hrtime.bigint();
  const res = await fetch(`${base}/v1/runs/${run}/logs/download`, { headers });
  let bytes = 0;
  const reader = res.body.getReader(); // counted as they come, never held
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.length;
  }
  clearInterval(timer);
  peak = Math.max(peak, rssAnon());
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  console.log(`  ${(headers['accept-encoding'] || '').padEnd(9)} ${res.status} ${(bytes / 1048576).toFixed(1)} MiB (${res.headers.get('content-encoding') || 'plain'}) in ${ms.toFixed(0)} ms; server RssAnon ${(before / 1024).toFixed(1)} MiB before, peak +${((peak - before) / 1024).toFixed(1)} MiB`);
}

(async () => {
  if (mode === 'search') {
    for (const q of ['q=file_0042.c.o', 'q=module_13/', 'q=nowhere%20at%20all', 'q=gcc%20-O2%20-Wall&exclude=module_1',
      'q=Building&case=sensitive', 'regex=file_004%5B0-9%5D%5C.c', 'q=c.o']) await search(q);
  } else if (mode === 'download') {
    await download({ 'accept-encoding': 'identity' });
    await download({ 'accept-encoding': 'gzip' });
    const t0 = process.hrtime.bigint();
    const res = await fetch(`${base}/v1/runs/${run}/logs/download`, { headers: { range: 'bytes=-1000' } });
    await res.arrayBuffer();
    console.log(`  range bytes=-1000: ${res.status} ${res.headers.get('content-range')} in ${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(0)} ms (the length is counted first)`);
  }
})().catch((e) => { console.error(e); process.exit(1); });
