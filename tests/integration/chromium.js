'use strict';
// Debian's Chromium, headless, driven by playwright-core, as the browser tests start it: no
// sandbox (root in CI), nothing reaching out of 127.0.0.0/8 (no QUIC, updates, sync).
const { chromium } = require('playwright-core');

function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

module.exports = { launchChromium };
