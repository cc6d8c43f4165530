'use strict';
// The console's log view in a real browser (issue #14): terminal colours and styles as styled
// text and never as markup from the log, OSC 8 links for http(s) only, ::group:: and GitLab
// sections collapsible with their markers hidden, search with next/previous (stderr lines too),
// a bad regex named, line permalinks that survive a reload, the timestamps toggle, and a
// follow that pauses while the reader is scrolled up and resumes at the bottom.
const test = require('node:test');
const assert = require('node:assert/strict');
const os = require('node:os');
const path = require('node:path');
const { launchChromium } = require('./chromium');
const { Server, publish, uuid, sleep } = require('./lib');

const SHOTS = process.env.FG_SCREENSHOT_DIR || os.tmpdir();
const E = '\x1b';

test('console log view: colours, no injection, links, sections, search, permalinks, timestamps, follow', async () => {
  const srv = await new Server().start();
  const browser = await launchChromium();
  const errors = [];
  try {
    const run = uuid(); const build = uuid(); const deploy = uuid();
    const line = (text, stream = 'stdout', step = build) => ({ type: 'log_line', run_id: run, step_id: step,
      step_name: step === build ? 'build' : 'deploy', stream, line: text });
    const fillers = Array.from({ length: 150 }, (_, i) => line(`filler ${i}${i % 50 === 7 ? ' needle here' : ''}`));
    await publish(srv.base, [
      { type: 'run_created', run_id: run, workflow_name: 'ci' },
      line(`${E}[31mred${E}[0m plain ${E}[1;4mbold-under${E}[0m`), // 1
      line(`${E}[38;5;208morange${E}[0m ${E}[38;2;10;20;30;48;2;200;210;220mtrue${E}[0m`), // 2
      line(`${E}[32mgreen starts`), // 3
      line('still green'), // 4: the colour goes on in the same step
      line('other step', 'stdout', deploy), // 5: not green
      line(`${E}[0mreset`), // 6
      line('<script>window.pwned = 1</script>'), // 7
      line('"><img src=x onerror="window.pwned = 2">'), // 8
      line(`see ${E}]8;;https://example.com/runs/1${E}\\the run${E}]8;;${E}\\ now`), // 9
      line(`${E}]8;;javascript:window.pwned=3${E}\\bad link${E}]8;;${E}\\`), // 10
      line('::group::Install dependencies'), // 11 (a header)
      line('inside the group'), // 12
      line('::endgroup::'), // no number
      line(`section_start:1700000000:compile[collapsed=true]\r${E}[0KCompiling sources`), // 13
      line('inside gitlab'), // 14
      line(`section_end:1700000000:compile\r${E}[0K`), // no number
      line('npm ERR! missing script: lint', 'stderr'), // 15
      ...fillers, // 16…165
    ]);
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('dialog', (d) => { errors.push(`dialog: ${d.message()}`); d.dismiss(); });
    const waitFor = async (fn, arg, what) => {
      for (let i = 0; i < 300; i++) {
        if (await page.evaluate(fn, arg)) return;
        await sleep(50);
      }
      assert.fail(`browser: timed out waiting for ${what}\n${await page.evaluate(() => document.getElementById('log-found')?.textContent)}`);
    };
    await page.goto(`${srv.base}/#/runs/${run}`);
    await waitFor(() => document.querySelectorAll('#log .ln').length === 165, null, 'every line');
    const row = (n) => `#L${n} .text`;
    const style = (sel, prop) => page.evaluate(([s, p]) => getComputedStyle(document.querySelector(s))[p], [sel, prop]);

    const heights = await page.evaluate(() => [1, 2, 15, 16].map((n) => document.getElementById(`L${n}`).getBoundingClientRect().height));
    assert.ok(heights.every((hgt) => hgt > 10 && hgt < 30), `one line high: ${heights}`);
    // 1. Colours and styles.
    assert.equal(await page.textContent(row(1)), 'red plain bold-under');
    assert.equal(await page.textContent(`${row(1)} span.f1`), 'red');
    assert.notEqual(await style(`${row(1)} span.f1`, 'color'), await style(row(1), 'color'));
    assert.equal(await page.getAttribute(`${row(1)} span.ab.au`, 'class'), 'ab au');
    assert.equal(await style(`${row(1)} span.ab`, 'fontWeight'), '700');
    assert.match(await style(`${row(1)} span.au`, 'textDecorationLine'), /underline/);
    assert.equal(await style(`${row(2)} span`, 'color'), 'rgb(255, 135, 0)');
    assert.equal(await style(`${row(2)} span:last-child`, 'color'), 'rgb(10, 20, 30)');
    assert.equal(await style(`${row(2)} span:last-child`, 'backgroundColor'), 'rgb(200, 210, 220)');
    assert.equal(await page.textContent(`${row(4)} span.f2`), 'still green');
    assert.equal(await page.locator(`${row(5)} span`).count(), 0, 'another step has its own colours');
    assert.equal(await page.locator(`${row(6)} span`).count(), 0);
    // 2. The log's text is text: nothing from it became an element or ran.
    assert.equal(await page.textContent(row(7)), '<script>window.pwned = 1</script>');
    assert.equal(await page.textContent(row(8)), '"><img src=x onerror="window.pwned = 2">');
    assert.equal(await page.locator('#log script, #log img').count(), 0);
    // 3. Links: http(s) only.
    assert.equal(await page.getAttribute(`${row(9)} a`, 'href'), 'https://example.com/runs/1');
    assert.equal(await page.textContent(`${row(9)} a`), 'the run');
    assert.equal(await page.textContent(row(9)), 'see the run now');
    assert.equal(await page.textContent(row(10)), 'bad link');
    assert.equal(await page.locator(`${row(10)} a`).count(), 0);
    // 4. Sections: collapsed, markers not shown, opened by their toggle.
    const texts = await page.evaluate(() => [...document.querySelectorAll('#log .ln .text')].map((e) => e.textContent));
    assert.ok(texts.every((t) => !/::group::|::endgroup::|section_start|section_end/.test(t)), 'no marker shown');
    assert.equal(await page.textContent('#L11 .text'), 'Install dependencies');
    assert.equal(await page.textContent('#L13 .text'), 'Compiling sources');
    assert.equal(await page.isVisible('#L12'), false);
    assert.equal(await page.isVisible('#L14'), false);
    assert.equal(await page.isVisible('#L15'), true, 'the line after a section is outside it');
    await page.click('#L11 .tog');
    assert.equal(await page.isVisible('#L12'), true);
    await page.click('#L11 .tog');
    assert.equal(await page.isVisible('#L12'), false);
    await page.screenshot({ path: path.join(SHOTS, 'flowgate-console-log.png') });

    // 5. Search: matches counted, next/previous, the current one brought into view.
    const found = () => page.textContent('#log-found');
    await page.fill('#log-search', 'NEEDLE');
    await page.press('#log-search', 'Enter');
    await waitFor(() => document.getElementById('log-found').textContent === '1 / 3', null, 'three matches');
    const current = () => page.evaluate(() => document.querySelector('#log .ln.current').id);
    assert.equal(await current(), 'L23');
    assert.equal(await page.textContent('#L23 mark'), 'needle');
    await page.click('#log-next');
    assert.equal(await found(), '2 / 3');
    assert.equal(await current(), 'L73');
    await page.press('#log-search', 'Enter');
    assert.equal(await current(), 'L123');
    await page.press('#log-search', 'Shift+Enter');
    assert.equal(await found(), '2 / 3');
    // inside a collapsed section: opened to show the match
    await page.fill('#log-search', 'inside gitlab');
    await page.press('#log-search', 'Enter');
    await waitFor(() => document.getElementById('log-found').textContent === '1 / 1', null, 'the line in a section');
    assert.equal(await page.isVisible('#L14'), true);
    // stderr lines are findable, by text and by stream
    await page.fill('#log-search', 'missing script');
    await page.press('#log-search', 'Enter');
    await waitFor(() => document.getElementById('log-found').textContent === '1 / 1', null, 'the stderr line');
    assert.equal(await current(), 'L15');
    await page.fill('#log-search', '');
    await page.selectOption('#log-stream', 'stderr');
    await waitFor(() => document.getElementById('log-found').textContent === '1 / 1', null, 'stderr only');
    await page.selectOption('#log-stream', '');
    // a regex, and a bad one named
    await page.check('#log-regex');
    await page.fill('#log-search', '^filler 1[0-2]$');
    await page.press('#log-search', 'Enter');
    await waitFor(() => document.getElementById('log-found').textContent === '1 / 3', null, 'regex matches');
    await page.fill('#log-search', 'filler (');
    await page.press('#log-search', 'Enter');
    await waitFor(() => document.getElementById('log-found').classList.contains('error'), null, 'the regex error');
    assert.match(await found(), /regular expression/);
    await page.uncheck('#log-regex');
    await page.fill('#log-search', '');
    await page.press('#log-search', 'Enter');

    // 6. Permalinks: a line's number links to it; the link opens the page on that line.
    await page.click('#L40 a.num');
    assert.ok((await page.evaluate(() => location.hash)).endsWith(`/runs/${run}/L40`));
    assert.equal(await page.evaluate(() => document.querySelector('#log .ln.target').id), 'L40');
    await page.reload();
    await waitFor(() => document.querySelector('#log .ln.target')?.id === 'L40', null, 'the target after a reload');
    const inView = (id) => page.evaluate((i) => { const l = document.getElementById('log'); const r = document.getElementById(i);
      return r.offsetTop - l.offsetTop >= l.scrollTop && r.offsetTop - l.offsetTop < l.scrollTop + l.clientHeight; }, id);
    assert.ok(await inView('L40'));
    // a permalink into a collapsed section opens it
    await page.evaluate((r) => { location.hash = `#/runs/${r}/L12`; }, run);
    await waitFor(() => document.querySelector('#log .ln.target')?.id === 'L12', null, 'a line in a section');
    assert.equal(await page.isVisible('#L12'), true);

    // 7. Timestamps: hidden, shown by the toggle, remembered.
    assert.equal(await page.isVisible('#L1 .ts'), false);
    await page.check('#log-ts');
    assert.equal(await page.isVisible('#L1 .ts'), true);
    assert.match(await page.textContent('#L1 .ts'), /^\d\d:\d\d:\d\d\.\d{3}$/);
    await page.reload();
    await waitFor(() => document.querySelectorAll('#log .ln').length === 165, null, 'lines after the reload');
    assert.equal(await page.isChecked('#log-ts'), true);
    assert.equal(await page.isVisible('#L1 .ts'), true);

    // 8. Follow: at the bottom new lines scroll in; scrolled up they wait, counted; the button
    // (or scrolling back down) resumes.
    await page.reload(); // opened on L12, the reader is up in the log: paused
    await waitFor(() => document.querySelector('#log .ln.target')?.id === 'L12', null, 'L12 again');
    assert.match(await page.textContent('#log-follow'), /^Paused/);
    await page.click('#log-follow');
    const atBottom = () => page.evaluate(() => { const l = document.getElementById('log'); return l.scrollTop + l.clientHeight >= l.scrollHeight - 10; });
    await waitFor(() => document.getElementById('log-follow').textContent === 'Following', null, 'following');
    await publish(srv.base, line('live 1'));
    await waitFor(() => document.querySelectorAll('#log .ln').length === 166, null, 'a live line');
    assert.ok(await atBottom());
    await page.evaluate(() => { document.getElementById('log').scrollTop = 0; });
    await waitFor(() => document.getElementById('log-follow').textContent.startsWith('Paused'), null, 'paused');
    await publish(srv.base, [line('live 2'), line('live 3', 'stderr')]);
    await waitFor(() => document.querySelectorAll('#log .ln').length === 168, null, 'two more');
    assert.equal(await page.evaluate(() => document.getElementById('log').scrollTop), 0, 'the reader stays where they are');
    await waitFor(() => document.getElementById('log-follow').textContent === 'Paused · 2 new ↓', null, 'the count of new lines');
    await page.click('#log-follow');
    assert.ok(await atBottom());
    assert.equal(await page.textContent('#log-follow'), 'Following');
    await publish(srv.base, line('live 4'));
    await waitFor(() => document.querySelectorAll('#log .ln').length === 169, null, 'one more');
    assert.ok(await atBottom());
    // scrolling back to the bottom by hand resumes too
    await page.evaluate(() => { document.getElementById('log').scrollTop = 0; });
    await waitFor(() => document.getElementById('log-follow').textContent.startsWith('Paused'), null, 'paused again');
    await page.evaluate(() => { const l = document.getElementById('log'); l.scrollTop = l.scrollHeight; });
    await waitFor(() => document.getElementById('log-follow').textContent === 'Following', null, 'following again');
    // the download link is the whole log
    const href = await page.getAttribute('#log-download', 'href');
    const dl = await fetch(`${srv.base}${href}`);
    assert.equal(dl.status, 200);
    assert.match(await dl.text(), /\[build\] \[stdout\] red plain bold-under\n/);

    assert.equal(await page.evaluate(() => window.pwned), undefined);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await srv.stop();
    srv.cleanup();
  }
});
