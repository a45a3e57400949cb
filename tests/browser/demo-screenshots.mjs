// Takes the README's screenshots of a running `tally demo` in headless Chromium: the public
// progress report, and a trust's own page after signing in with the token the demo printed.
//   node demo-screenshots.mjs <base url> <provider code> <provider token> <folder>
// e.g. node demo-screenshots.mjs http://127.0.0.1:8080 RAI tly_… ../../docs
import { chromium } from 'playwright-core';
import path from 'node:path';

const [base, provider, token, out] = process.argv.slice(2);
if (!out) {
  console.error('usage: node demo-screenshots.mjs <base url> <provider code> <provider token> <folder>');
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: process.env.TALLY_CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
const page = await context.newPage();

await page.goto(`${base}/progress`);
await page.screenshot({ path: path.join(out, 'demo-progress.png'), fullPage: false });

await page.goto(`${base}/sign-in`);
await page.fill('#token', token);
await page.click('button[type=submit]');
await page.waitForURL(`**/providers/${provider}`);
await page.screenshot({ path: path.join(out, 'demo-provider.png'), fullPage: false });

await browser.close();
console.log(`Saved demo-progress.png and demo-provider.png in ${out}.`);
