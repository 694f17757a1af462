// Loads pages of the status site in headless Chromium at a desktop and a phone width, in
// light and dark schemes. Fails when a page requests anything outside 127.0.0.1, logs a
// console error (a CSP violation included), throws, or scrolls sideways on a phone.
// Usage: node check_site.cjs BASE_URL SCREENSHOT_DIR PATH...
// PLAYWRIGHT_CORE points at the playwright-core package; CHROMIUM at the browser.
'use strict';
const path = require('path');
const { chromium } = require(process.env.PLAYWRIGHT_CORE || 'playwright-core');

async function main() {
  const [base, shots, ...pages] = process.argv.slice(2);
  const problems = [];
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const local = new URL(base).host;
  for (const [width, height, scheme] of [[1280, 900, 'light'], [375, 812, 'light'], [375, 812, 'dark']]) {
    const context = await browser.newContext({ viewport: { width, height }, colorScheme: scheme });
    await context.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if (url.host === local || url.protocol === 'data:') {
        return route.continue();
      }
      problems.push(`external request ${url.href}`);
      return route.abort();
    });
    const page = await context.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console error on ${page.url()}: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error on ${page.url()}: ${error.message}`));
    page.on('requestfailed', (request) => {
      if (new URL(request.url()).host === local) problems.push(`failed to load ${request.url()}`);
    });
    for (const target of pages) {
      const response = await page.goto(base + target, { waitUntil: 'load' });
      if (!response || response.status() !== 200) {
        problems.push(`${target}: HTTP ${response && response.status()}`);
        continue;
      }
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      if (overflow > 1) problems.push(`${target} at ${width}px scrolls sideways by ${overflow}px`);
      const headings = await page.locator('h1').count();
      if (headings !== 1) problems.push(`${target}: ${headings} h1 elements`);
      const name = `${target.replace(/[^a-z0-9]+/gi, '_')}-${width}-${scheme}.png`;
      await page.screenshot({ path: path.join(shots, name), fullPage: true });
    }
    await context.close();
  }
  await browser.close();
  if (problems.length > 0) {
    console.log(problems.join('\n'));
    process.exit(1);
  }
  console.log(`ok: ${pages.length} pages at 1280 and 375 px, light and dark`);
}

main().catch((error) => {
  console.log(`browser check crashed: ${error.stack || error}`);
  process.exit(2);
});
