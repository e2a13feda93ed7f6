// End-to-end check of the EHR page (/ehr/) in headless Chromium, driven by
// pkg/cdshooks/ehr_e2e_test.go, which starts the hub's HTTP side with a patient's results indexed
// and checks the decisions and statistics afterwards. It uses the dashboard test's
// playwright-core (`npm ci` in pkg/dashboard/e2e).
//
// Environment:
//   MRHUB_URL        base URL of the hub (required)
//   MRHUB_TOKEN      a his or clinician token (required)
//   MRHUB_BUREAU     a bureau token: the dashboard is opened with it at the end (required)
//   MRHUB_NAME, MRHUB_NID  the patient to type in (required)
//   MRHUB_OUT        directory for screenshots (required)
//   PLAYWRIGHT_FROM  directory whose node_modules holds playwright-core (required)
//   CHROMIUM         browser binary (default /usr/bin/chromium)
// Exit status 0 when every check passed; otherwise the failures are printed and it is 1.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';

const env = (k, def) => {
  const v = process.env[k];
  if (v === undefined || v === '') {
    if (def === undefined) throw new Error(`${k} is required`);
    return def;
  }
  return v;
};
const { chromium } = createRequire(path.join(env('PLAYWRIGHT_FROM'), 'x.js'))('playwright-core');
const base = env('MRHUB_URL').replace(/\/$/, '');
const out = env('MRHUB_OUT');
fs.mkdirSync(out, { recursive: true });

const failures = [];
function check(ok, what) {
  if (!ok) {
    failures.push(what);
    console.error('FAIL ' + what);
  }
}
const step = (s) => console.log('-- ' + s);

const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrhub-chromium-'));
const ctx = await chromium.launchPersistentContext(userDir, {
  executablePath: env('CHROMIUM', '/usr/bin/chromium'),
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1280, height: 900 },
  locale: 'zh-CN',
  timezoneId: 'Asia/Shanghai',
});
const pageErrors = [];
try {
  const page = ctx.pages()[0] || await ctx.newPage();
  page.setDefaultTimeout(15000);
  page.on('pageerror', (e) => pageErrors.push('page error: ' + e.message));
  page.on('console', (m) => { if (m.type() === 'error') pageErrors.push('console error: ' + m.text()); });

  step('open the EHR page, in Chinese, with the catalogue loaded');
  await page.goto(base + '/ehr/');
  await page.waitForFunction(() => document.querySelectorAll('#item option').length > 10);
  check((await page.textContent('h1')).includes('模拟 HIS 开单'), 'title (zh): ' + await page.textContent('h1'));
  check((await page.locator('#patient option').count()) >= 2, 'the patient list has the tour patient and "other"');

  step('log in and type in the patient');
  await page.fill('#token', env('MRHUB_TOKEN'));
  await page.selectOption('#patient', 'other');
  await page.fill('#pname', env('MRHUB_NAME'));
  await page.fill('#pnid', env('MRHUB_NID'));

  step('order a blood routine (JY001): one card, reuse it');
  await page.selectOption('#item', 'JY001');
  await page.click('#add');
  await page.locator('.card').first().waitFor();
  check((await page.locator('.card').count()) === 1, 'one card for the blood routine');
  const summary = await page.textContent('.card .summary');
  check(summary.includes('可互认') && summary.includes('血常规') && summary.includes('清溪区第二人民医院'), 'summary: ' + summary);
  check((await page.locator('.card table tr').count()) === 9, 'the values table has a header and 8 rows');
  check((await page.locator('.card select.reason option').count()) === 8, 'the 8 decline reasons are offered');
  await page.screenshot({ path: path.join(out, 'ehr-card-zh.png'), fullPage: true });
  await page.click('.card button.accept');
  await page.waitForFunction(() => document.querySelector('.card')?.dataset.outcome === 'accepted');
  const accepted = await page.textContent('.card .outcome');
  check(accepted.includes('已互认') && accepted.includes('cds.'), 'accepted: ' + accepted);
  check((await page.getAttribute('#orders li', 'class')) === 'cancelled', 'the reused order is cancelled');

  step('order a urine routine (JY002): decline with reason 1');
  await page.selectOption('#item', 'JY002');
  await page.click('#add');
  await page.waitForFunction(() => { const c = document.querySelector('.card'); return c && !c.dataset.outcome && c.textContent.includes('尿常规'); });
  await page.selectOption('.card select.reason', '1');
  await page.fill('.card input.comment', '病情变化，需复查');
  await page.click('.card button.override');
  await page.waitForFunction(() => document.querySelector('.card')?.dataset.outcome === 'overridden');
  check((await page.textContent('.card .outcome')).includes('已记录不互认'), 'declined: ' + await page.textContent('.card .outcome'));

  step('switch to English and order the liver function panel (JY010): nothing recognisable');
  await page.click('#lang');
  check((await page.textContent('h1')).includes('Simulated EHR ordering'), 'title (en)');
  await page.selectOption('#item', 'JY010');
  await page.click('#add');
  await page.waitForFunction(() => document.querySelector('#status').textContent.includes('No recognisable prior result'));
  check((await page.locator('.card').count()) === 0, 'no card for the liver function panel');
  check((await page.locator('#orders li').count()) === 3, 'three orders listed');

  step('sign the draft orders left (urine routine, liver function): order-sign shows the urine routine again, in English');
  await page.click('#sign');
  await page.locator('.card').first().waitFor();
  const signed = await page.textContent('.card .summary');
  check((await page.locator('.card').count()) === 1 && signed.includes('Recognisable: Urinalysis'), 'order-sign card: ' + signed);
  await page.screenshot({ path: path.join(out, 'ehr-en.png'), fullPage: true });

  step('the dashboard shows the rate');
  await page.goto(base + '/');
  await page.fill('#token', env('MRHUB_BUREAU'));
  await page.click('#login-form button[type=submit]');
  await page.locator('#app').waitFor({ state: 'visible' });
  await page.screenshot({ path: path.join(out, 'dashboard-after.png') });
} catch (e) {
  failures.push('exception: ' + (e && e.stack || e));
  console.error(e);
} finally {
  await ctx.close();
  fs.rmSync(userDir, { recursive: true, force: true });
}
for (const e of pageErrors) failures.push(e);
if (failures.length) {
  console.error(`${failures.length} failure(s):\n` + failures.join('\n'));
  process.exit(1);
}
console.log('all EHR page checks passed');
