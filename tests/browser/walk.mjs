// Walks Tally's pages in headless Chromium as each role: DAP's whole job, admin's tokens, a
// provider's upload, DHSC's download; saves a screenshot of every page and runs axe-core on each.
// Started by tests/browser.rs, which serves the app and passes what it needs:
//   TALLY_BASE       the server, e.g. http://127.0.0.1:41234
//   TALLY_TOKENS     JSON {"dap": "...", "provider": "...", "dhsc": "...", "admin": "..."}
//   TALLY_PROVIDER   the provider code the provider token speaks for
//   TALLY_UPLOAD     a CSV file for that provider, and TALLY_UPLOAD_PERIOD its period
//   TALLY_PROPOSAL   a collection's definition for DAP to propose
//   TALLY_ARTIFACTS  where screenshots and the downloaded file go
//   TALLY_CHROMIUM   the browser (default /usr/bin/chromium)
// Exits 1, listing each failure, if a step fails or a page has a serious or critical
// accessibility violation.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const axePath = require.resolve('axe-core/axe.min.js');
const base = process.env.TALLY_BASE;
const tokens = JSON.parse(process.env.TALLY_TOKENS);
const provider = process.env.TALLY_PROVIDER;
const out = process.env.TALLY_ARTIFACTS;
fs.mkdirSync(out, { recursive: true });

const failures = [];
const say = (line) => console.log(line);

// The flags Chromium needs on a machine with no network and no GPU.
const browser = await chromium.launch({
  executablePath: process.env.TALLY_CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

// axe-core is injected into the page; the pages' CSP forbids scripts, so the test context
// bypasses it (the pages themselves never run a script).
async function context(viewport = { width: 1280, height: 900 }) {
  return browser.newContext({ bypassCSP: true, viewport, acceptDownloads: true, locale: 'en-GB', timezoneId: 'Europe/London' });
}

async function check(page, name) {
  await page.screenshot({ path: path.join(out, `${name}.png`), fullPage: true });
  await page.addScriptTag({ path: axePath });
  const result = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  for (const v of bad) {
    const where = v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join('; ');
    failures.push(`${name}: ${v.id} (${v.impact}): ${v.help} at ${where}`);
  }
  say(`${name}: ${page.url()} — ${result.violations.length} accessibility findings, ${bad.length} serious or critical`);
}

async function step(name, fn) {
  try {
    await fn();
  } catch (e) {
    failures.push(`${name}: ${e.message.split('\n')[0]}`);
  }
}

async function signIn(page, token) {
  await page.goto(`${base}/sign-in`);
  await page.fill('#token', token);
  await page.click('button[type=submit]');
  await page.waitForLoadState('domcontentloaded');
}

async function expectText(page, text) {
  const body = await page.textContent('body');
  if (!body.includes(text)) throw new Error(`"${text}" is not on ${page.url()}`);
}

await step('public pages', async () => {
  const page = await (await context()).newPage();
  await page.goto(`${base}/`);
  await expectText(page, 'The register of health and care data collections');
  // The first Tab reaches the skip link, so keyboard users can pass the navigation.
  await page.keyboard.press('Tab');
  const focused = await page.evaluate(() => document.activeElement.textContent.trim());
  if (focused !== 'Skip to main content') throw new Error(`the first Tab focused "${focused}"`);
  await check(page, 'register');
  await Promise.all([
    page.waitForURL('**/collections/ward-bed-census'),
    page.click('a[href="/collections/ward-bed-census"]'),
  ]);
  await expectText(page, 'Data items');
  await check(page, 'collection');
  await page.goto(`${base}/progress`);
  await expectText(page, 'Progress against the burden reduction target');
  await check(page, 'progress');
});

// The checker itself: a page given an image without alternative text must be caught, so
// that "no violations" above means the pages passed, not that axe never ran.
await step('axe catches a planted violation', async () => {
  const page = await (await context()).newPage();
  await page.goto(`${base}/`);
  await page.evaluate(() => document.querySelector('main').insertAdjacentHTML('beforeend', '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">'));
  await page.addScriptTag({ path: axePath });
  const result = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ['violations'] }));
  if (!result.violations.some((v) => v.id === 'image-alt')) throw new Error('axe did not report an image without alt text');
  say('axe reports a planted image without alt text, as it should.');
});

await step('the register on a phone', async () => {
  const page = await (await context({ width: 375, height: 812 })).newPage();
  await page.goto(`${base}/`);
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  if (wide > 376) throw new Error(`the page is ${wide}px wide on a 375px screen`);
  await page.screenshot({ path: path.join(out, 'register-phone.png'), fullPage: true });
});

// DAP's whole job on its pages: the budget, a proposal checked then made, a decision with an
// override, a rejection confirmed, a collection suspended, reinstated and retired, the audit
// log, the provider directory and reporting rates.
await step('dap', async () => {
  const page = await (await context()).newPage();
  await signIn(page, tokens.dap);
  if (!page.url().endsWith('/dap')) throw new Error(`DAP landed on ${page.url()}`);
  await expectText(page, 'Proposals awaiting a decision');
  await check(page, 'dap');

  // A cap below what is already asked, so that the new proposal is blocked by the budget.
  await page.click('a[href="/dap/budget"]');
  await page.waitForLoadState('domcontentloaded');
  await page.fill('#cap', '100');
  await page.fill('#budget-reason', 'Spending review: hold the burden where it is.');
  await page.click('form[action="/dap/budget"] button[type=submit]');
  await page.waitForLoadState('domcontentloaded');
  await expectText(page, 'The budget is set');
  await check(page, 'dap-budget');

  // Propose the bundled discharge survey from its file: check first, then propose.
  await page.goto(`${base}/dap/proposals/new`);
  await check(page, 'dap-propose');
  await page.setInputFiles('#file', process.env.TALLY_PROPOSAL);
  await page.click('button[value=check]');
  await page.waitForLoadState('domcontentloaded');
  await expectText(page, 'What the checks find for Daily survey of patients ready for discharge');
  await expectText(page, 'Nothing has been recorded yet');
  await check(page, 'dap-propose-checked');
  // The checked text is in the box now; proposing sends it as it is.
  await page.click('button[value=propose]');
  await page.waitForLoadState('domcontentloaded');
  await expectText(page, 'discharge-readiness-survey version 1 is proposed');
  await check(page, 'dap-pending');

  // Listing it without an override is refused in words, and the reason typed is kept.
  const survey = page.locator('form[action="/dap/decisions"]:has(input[value="discharge-readiness-survey"])');
  await survey.locator('textarea[name=reason]').fill('Ministers asked for a daily count this winter.');
  await survey.locator('button[type=submit]').click();
  await page.waitForLoadState('domcontentloaded');
  await expectText(page, 'was not recorded, and what you typed is kept below');
  const kept = await page.locator('form[action="/dap/decisions"]:has(input[value="discharge-readiness-survey"]) textarea[name=reason]').inputValue();
  if (kept !== 'Ministers asked for a daily count this winter.') throw new Error(`the reason typed was not kept: "${kept}"`);
  await check(page, 'dap-refused');
  const again = page.locator('form[action="/dap/decisions"]:has(input[value="discharge-readiness-survey"])');
  await again.locator('textarea[name="override-budget"]').fill('Winter pressures; two manual returns retire in April.');
  await again.locator('button[type=submit]').click();
  await page.waitForLoadState('domcontentloaded');
  await expectText(page, 'discharge-readiness-survey is now listed as');
  // Listed with the notice its definition promises: owed 56 days from today, and coming.
  await expectText(page, 'owed from 4 September 2026');

  // A changed return query: built over the last period on the page, then listed.
  await expectText(page, 'National returns awaiting a decision');
  await expectText(page, 'care-home-occupancy, version 2');
  const query = page.locator('form[action="/dap/returns"]');
  await query.locator('textarea[name=reason]').fill('Reads the same figures more clearly.');
  await query.locator('button[type=submit]').click();
  await page.waitForLoadState('domcontentloaded');
  await expectText(page, 'Version 2 of the return care-home-occupancy is listed as');

  // Rejecting asks first.
  const sitrep = page.locator('form[action="/dap/decisions"]:has(input[value="uec-sitrep-manual"])');
  await sitrep.locator('select[name=action]').selectOption('reject');
  await sitrep.locator('textarea[name=reason]').fill('Every figure on it is derivable from the ward bed census.');
  await sitrep.locator('button[type=submit]').click();
  await page.waitForLoadState('domcontentloaded');
  await expectText(page, 'Rejecting cannot be undone');
  await check(page, 'dap-confirm');
  await page.click('main button[type=submit]');
  await page.waitForLoadState('domcontentloaded');
  await expectText(page, 'is now rejected');
  await check(page, 'dap-decided');

  // Suspend, reinstate and retire a collection from its page; retiring asks first.
  const change = async (action, reason) => {
    await page.goto(`${base}/collections/care-home-capacity`);
    await page.selectOption('#status-action', action);
    await page.fill('#status-reason', reason);
    await page.click('form[action="/collections/care-home-capacity/decisions"] button[type=submit]');
    await page.waitForLoadState('domcontentloaded');
  };
  await change('suspend', 'The record supplier is down.');
  await expectText(page, 'care-home-capacity is now suspended');
  await check(page, 'collection-suspended');
  await change('reinstate', 'The supplier is back.');
  await expectText(page, 'care-home-capacity is now listed');
  await change('retire', 'Replaced by the capacity tracker.');
  await expectText(page, 'Retire Care home capacity and occupancy?');
  await page.click('main button[type=submit]');
  await page.waitForLoadState('domcontentloaded');
  await expectText(page, 'care-home-capacity is now retired');

  // The decisions are on the audit log.
  await page.goto(`${base}/audit`);
  await page.selectOption('#action', 'retire');
  await page.click('form.filters button[type=submit]');
  await page.waitForLoadState('domcontentloaded');
  await expectText(page, 'Entries 1 to 1 of 1');
  await expectText(page, 'care-home-capacity');
  await check(page, 'audit');

  // Every provider, searchable, and who reported.
  await page.goto(`${base}/providers`);
  await page.fill('#q', 'ash');
  await page.click('form.filters button[type=submit]');
  await page.waitForLoadState('domcontentloaded');
  await expectText(page, 'Ashford Hospitals');
  await check(page, 'providers');
  await page.click('a[href="/providers/reporting"]');
  await page.waitForLoadState('domcontentloaded');
  await expectText(page, 'Providers behind');
  await check(page, 'reporting');
});

await step('provider', async () => {
  const page = await (await context()).newPage();
  await signIn(page, tokens.provider);
  if (!page.url().endsWith(`/providers/${provider}`)) throw new Error(`the provider landed on ${page.url()}`);
  // Overdue first, then this week's, then what DAP listed with notice a moment ago.
  await expectText(page, 'Overdue');
  await expectText(page, 'Due this week');
  await expectText(page, 'Daily survey of patients ready for discharge');
  await expectText(page, 'Nothing is owed before 4 September 2026');
  // A ward left at 0 occupied on 2 July, held for the trust to confirm, comes first.
  await expectText(page, 'Figures to confirm');
  await expectText(page, 'occupied_beds is 0 for census_date=2026-07-02');
  await check(page, 'provider');
  // The coming survey's template, its columns the items.
  const [template] = await Promise.all([
    page.waitForEvent('download'),
    page.click('a[href="/collections/discharge-readiness-survey/template/csv"]'),
  ]);
  const columns = fs.readFileSync(await template.path(), 'utf8').split('\n')[0];
  if (!columns.startsWith('report_date,pathway')) throw new Error(`the template's columns are "${columns}"`);
  say(`provider: the survey's template has ${columns}`);
  const form = 'form[enctype="multipart/form-data"]';
  // A dry run of the census file for the coming survey: the report says why it would not
  // be taken, and nothing is kept.
  await page.selectOption('#collection', 'discharge-readiness-survey');
  await page.fill('#period', process.env.TALLY_UPLOAD_PERIOD);
  await page.setInputFiles('#file', process.env.TALLY_UPLOAD);
  await page.click(`${form} button[formaction]`);
  await page.waitForLoadState('domcontentloaded');
  await expectText(page, 'would not be taken');
  await expectText(page, 'Nothing was kept and nothing was sent');
  await check(page, 'provider-tried');
  // Then the census itself: tried, then sent.
  await page.selectOption('#collection', 'ward-bed-census');
  await page.fill('#period', process.env.TALLY_UPLOAD_PERIOD);
  await page.setInputFiles('#file', process.env.TALLY_UPLOAD);
  await page.click(`${form} button[formaction]`);
  await page.waitForLoadState('domcontentloaded');
  await expectText(page, 'The file passes for ward-bed-census');
  await page.selectOption('#collection', 'ward-bed-census');
  await page.fill('#period', process.env.TALLY_UPLOAD_PERIOD);
  await page.setInputFiles('#file', process.env.TALLY_UPLOAD);
  await page.click(`${form} button:not([formaction])`);
  await page.waitForLoadState('domcontentloaded');
  await expectText(page, `${process.env.TALLY_UPLOAD_PERIOD} was`);
  await check(page, 'provider-uploaded');
  // A correction of the same day: the page shows what it would change, and sends it only
  // once the provider confirms.
  await page.selectOption('#collection', 'ward-bed-census');
  await page.fill('#period', process.env.TALLY_UPLOAD_PERIOD);
  await page.setInputFiles('#file', process.env.TALLY_CORRECTION);
  await page.click(`${form} button:not([formaction])`);
  await page.waitForLoadState('domcontentloaded');
  await expectText(page, 'Changed: some figure differs');
  await check(page, 'provider-correction');
  await page.click('button[value=replace]');
  await page.waitForLoadState('domcontentloaded');
  await expectText(page, 'was amended as version 2');
  say('provider: a correction was shown with what it changes, then sent as version 2');
  // A question about the coming survey, for DAP.
  await page.selectOption('#question-collection', 'discharge-readiness-survey');
  await page.fill('#question', 'Does a patient waiting for a care home bed count under pathway 3?');
  await page.click('form[action$="/questions"] button[type=submit]');
  await page.waitForLoadState('domcontentloaded');
  await expectText(page, 'is with DAP');
  await check(page, 'provider-asked');
  // The held figure is right: the ward was closed.
  await page.fill('#note-1', 'W1 closed for a deep clean');
  await page.click('button:has-text("The figures are right")');
  await page.waitForLoadState('domcontentloaded');
  await expectText(page, 'are confirmed');
  if ((await page.locator('text=Figures to confirm').count()) !== 0) throw new Error('the confirmed hold is still shown');
  await check(page, 'provider-confirmed');
  say('provider: the held figure was confirmed');
});

// DAP sees who is getting ready for the survey: the trust that tried a file.
await step('dap readiness', async () => {
  const page = await (await context()).newPage();
  await signIn(page, tokens.dap);
  await expectText(page, 'Readiness for coming collections');
  await page.click('a[href="/dap/readiness/discharge-readiness-survey"]');
  await page.waitForLoadState('domcontentloaded');
  await expectText(page, 'Who is ready for Daily survey of patients ready for discharge');
  await expectText(page, 'tried, not passing yet');
  await check(page, 'dap-readiness');
  // The trust's question, answered and published as the survey's FAQ.
  await page.goto(`${base}/dap`);
  await expectText(page, 'Does a patient waiting for a care home bed count under pathway 3?');
  const question = page.locator('form[action="/dap/questions"]').first();
  await question.locator('textarea[name=answer]').fill('Yes: pathway 3 is a new care home placement.');
  await question.locator('input[name=publish]').check();
  await question.locator('button[type=submit]').click();
  await page.waitForLoadState('domcontentloaded');
  await expectText(page, 'published as the collection');
  await check(page, 'dap-answered');
  await page.goto(`${base}/collections/discharge-readiness-survey`);
  await expectText(page, 'Questions providers asked');
  await expectText(page, 'pathway 3 is a new care home placement');
  await check(page, 'collection-faq');
});

await step('dhsc', async () => {
  const page = await (await context()).newPage();
  await signIn(page, tokens.dhsc);
  if (!page.url().endsWith('/returns')) throw new Error(`DHSC landed on ${page.url()}`);
  await expectText(page, 'National returns');
  await check(page, 'returns');
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.click('a[href*="kh03-quarterly"][href*="format=csv"]'),
  ]);
  const saved = path.join(out, download.suggestedFilename());
  await download.saveAs(saved);
  const head = fs.readFileSync(saved, 'utf8').split('\n')[0];
  if (!head.startsWith('level')) throw new Error(`the download starts "${head}"`);
  say(`dhsc: downloaded ${download.suggestedFilename()}`);
  // A revised period says why, and offers every version.
  await page.click('summary:has-text("Revised: 2 versions of 2026-04-10")');
  await expectText(page, 'version 1 amended by version 2');
  await check(page, 'returns-revised');
});

await step('ics', async () => {
  const page = await (await context()).newPage();
  await signIn(page, tokens.ics);
  if (!page.url().endsWith('/returns')) throw new Error(`the ICS landed on ${page.url()}`);
  await expectText(page, 'Only the rows of QMJ');
  await check(page, 'returns-ics');
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.click('a[href*="kh03-quarterly"][href*="format=csv"]'),
  ]);
  const saved = path.join(out, `ics-${download.suggestedFilename()}`);
  await download.saveAs(saved);
  const rows = fs.readFileSync(saved, 'utf8').trim().split(/\r?\n/).slice(1);
  if (rows.length !== 2 || !rows.every((r) => r.split(',')[2] === 'QMJ')) {
    throw new Error(`the ICS downloaded rows not all its own: ${rows.join(' | ')}`);
  }
  say(`ics: downloaded ${rows.length} rows of QMJ`);
});

await step('admin', async () => {
  const page = await (await context()).newPage();
  await signIn(page, tokens.admin);
  if (!page.url().endsWith('/returns')) throw new Error(`the admin landed on ${page.url()}`);
  // The admin reads every provider's page, but has no upload form: only a provider uploads.
  await page.goto(`${base}/providers/${provider}`);
  await expectText(page, 'Periods sent and tried');
  if ((await page.locator('input[type=file]').count()) !== 0) throw new Error('the admin was offered the upload form');
  await check(page, 'admin-provider');
  // A token for a new provider user, shown once; then revoked, after a confirm step.
  await page.goto(`${base}/admin/tokens`);
  await page.fill('#token-name', 'Bramley data lead');
  await page.selectOption('#token-role', 'provider');
  await page.fill('#token-providers', 'RXB');
  await page.click('form[action="/admin/tokens"] button[type=submit]');
  await page.waitForLoadState('domcontentloaded');
  const issued = (await page.textContent('#issued-token')).trim();
  if (!issued.startsWith('tly_')) throw new Error(`no token was shown: "${issued}"`);
  await check(page, 'admin-tokens');
  await page.click('button:has-text("Revoke the token for Bramley data lead")');
  await page.waitForLoadState('domcontentloaded');
  await expectText(page, 'Revoke the token for Bramley data lead?');
  await page.click('main button[type=submit]');
  await page.waitForLoadState('domcontentloaded');
  await expectText(page, 'The token for Bramley data lead is revoked');
  // Signing out ends the session: the page asks to sign in again.
  await page.click('header button[type=submit]');
  await page.waitForLoadState('domcontentloaded');
  const again = await page.goto(`${base}/providers/${provider}`);
  if (again.status() !== 401) throw new Error(`after signing out the page answered ${again.status()}`);
});

// A provider and DHSC are refused DAP's and admin's pages.
await step('refused', async () => {
  for (const [role, token] of [['provider', tokens.provider], ['dhsc', tokens.dhsc]]) {
    const page = await (await context()).newPage();
    await signIn(page, token);
    for (const path of ['/dap', '/dap/proposals/new', '/dap/budget', '/audit', '/admin/tokens']) {
      const answer = await page.goto(`${base}${path}`);
      if (answer.status() !== 403) throw new Error(`${role} got ${answer.status()} on ${path}`);
    }
    await check(page, `refused-${role}`);
  }
});

await browser.close();
if (failures.length > 0) {
  console.error(`${failures.length} failure(s):\n  ${failures.join('\n  ')}`);
  process.exit(1);
}
say(`All pages walked; screenshots in ${out}.`);
