// Drives the StrataMail portal in headless Chromium, as an operator
// would: log in, load a domain's queue, start its primary, flush, and
// open the uptime page, with a screenshot at each step. Run by
// contrib/e2e/portal.sh, which starts stratamail and queues the mail.
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: opt } = parseArgs({
  options: {
    url: { type: 'string' },
    password: { type: 'string' },
    domain: { type: 'string' },
    messages: { type: 'string' },
    sink: { type: 'string' },
    'sink-listen': { type: 'string' },
    artifacts: { type: 'string' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
  },
});
const want = Number(opt.messages);

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  console.log(`ok: ${what}`);
}

let shot = 0;
async function screenshot(page, name) {
  shot++;
  const file = join(opt.artifacts, `${String(shot).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`screenshot ${file}`);
}

// startSink runs "stratamail sink" as the domain's primary and resolves
// once it listens.
function startSink() {
  const proc = spawn(opt.sink, ['sink', '-listen', opt['sink-listen']],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  proc.lines = [];
  return new Promise((resolve, reject) => {
    proc.on('error', reject);
    proc.on('exit', (code) => reject(new Error(`sink exited: ${code}`)));
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (chunk) => {
      for (const line of chunk.split('\n').filter(Boolean)) {
        proc.lines.push(line);
        console.log(`[sink] ${line}`);
        if (line.startsWith('sink: accepting')) resolve(proc);
      }
    });
  });
}

// queueCount reads the entry count of the Queue Manager page.
async function queueCount(page) {
  return Number(await page.locator('#count').textContent());
}

const profile = mkdtempSync(join(tmpdir(), 'portal-e2e-profile-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: opt.chromium,
  headless: true,
  viewport: { width: 1400, height: 900 },
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update',
    '--disable-sync'],
});
let sink;
try {
  const page = context.pages()[0] ?? await context.newPage();
  page.setDefaultTimeout(15000);

  // Not logged in: the portal sends us to its login form.
  await page.goto(`${opt.url}/`);
  check(new URL(page.url()).pathname === '/login', 'redirected to /login');
  await screenshot(page, 'login');

  // A wrong password is refused.
  await page.fill('input[name=name]', 'admin');
  await page.fill('input[name=password]', 'not the password');
  await page.click('button[type=submit]');
  await page.locator('.error').waitFor();
  check((await page.locator('.error').textContent()).includes('Wrong'),
    'wrong password refused');

  await page.fill('input[name=name]', 'admin');
  await page.fill('input[name=password]', opt.password);
  await page.click('button[type=submit]');
  await page.waitForURL(`${opt.url}/`);
  const row = page.locator(`tr[id="domain-${opt.domain}"]`);
  await row.waitFor();
  check(true, `domain list shows ${opt.domain}`);
  check((await row.locator('.state').textContent()).trim() === 'down',
    'its primary is down');
  await screenshot(page, 'domains');

  // The Queue Manager lists the queued messages.
  await row.locator('a', { hasText: 'Queue' }).click();
  await page.waitForURL(`${opt.url}/queue/${opt.domain}`);
  check(await queueCount(page) === want, `queue lists ${want} entries`);
  check(await page.locator('tr.entry').count() === want, `${want} table rows`);
  check(await page.getByText('user0@example.test').isVisible(),
    'a recipient is shown');
  await screenshot(page, 'queue');

  // An entry's detail view shows its header section.
  await page.locator('tr.entry a').first().click();
  await page.locator('pre.header').waitFor();
  check((await page.locator('pre.header').textContent())
    .includes('Subject: portal test'), 'entry detail shows the header');
  await screenshot(page, 'entry');
  await page.locator('a', { hasText: `Queue of ${opt.domain}` }).click();
  await page.locator('#flush-all').waitFor();

  // The primary returns; Flush all delivers the queue to it.
  sink = await startSink();
  await page.click('#flush-all');
  await page.locator('.flash').waitFor();
  check((await page.locator('.flash').textContent()).includes('Flushed'),
    'flush acknowledged');
  const deadline = Date.now() + 20000;
  while (await queueCount(page) !== 0) {
    if (Date.now() > deadline) throw new Error('the queue did not empty');
    await page.waitForTimeout(250);
    await page.reload();
  }
  check(true, 'queue empty after flush');
  check(sink.lines.filter((l) => !l.startsWith('sink: accepting')).length >= want,
    `the primary received ${want} messages`);
  await screenshot(page, 'flushed');

  // The uptime page draws the outage in its SVG chart.
  await page.locator('a', { hasText: `Uptime of ${opt.domain}` }).click();
  await page.waitForURL(`${opt.url}/uptime/${opt.domain}`);
  await page.locator('svg#timeline').waitFor();
  check(true, 'uptime chart drawn');
  check(await page.locator('svg#timeline rect.down').count() >= 1,
    'the chart shows the outage');
  check(await page.locator('tr.outage').count() >= 1, 'the outage is listed');
  await screenshot(page, 'uptime');

  // /metrics counts the deliveries.
  const metrics = await (await page.request.get(`${opt.url}/metrics`)).text();
  check(metrics.includes(`stratamail_deliveries_total{result="delivered"} ${want}`),
    'metrics count the deliveries');

  await page.click('button:has-text("Log out")');
  await page.waitForURL(`${opt.url}/login`);
  check(true, 'logged out');
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
  if (sink) {
    sink.removeAllListeners('exit');
    sink.kill('SIGTERM');
  }
}
