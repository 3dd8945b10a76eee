import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { Environment } from './support/environment.js';
import { ECHO_APP } from './support/processes.js';

// Issue 12: a real browser (Debian's chromium, driven by playwright-core) opens a preview on
// <id>.preview.localhost, which Chromium resolves to loopback itself, so no DNS is set up.
// .ci/run installs chromium; without it this test says so and skips.
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/** DETOUR_E2E_SCREENSHOT=docs/images/preview-banner.png refreshes the README's picture. */
const SCREENSHOT = process.env.DETOUR_E2E_SCREENSHOT;

test('a browser opens a preview URL and stays in it through a link and a form post (issue 12)', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is absent (apt-get install chromium; .ci/run does)` }, async (t) => {
  const env = await Environment.create({ managerArgs: ['--preview-listen', '0', '--preview-banner'] });
  t.after(() => env.close());
  const app = await env.app('web', [ECHO_APP, '--name', 'web']);
  await env.agent('web', app.url);
  const alice = await env.developer('alice', [ECHO_APP, '--name', 'alice-laptop']);
  await alice.intercept('web');
  const created = await alice.cli(['preview', 'create', 'web', '--output', 'json']);
  assert.equal(created.code, 0, created.stderr);
  const preview = JSON.parse(created.stdout) as { url: string; shareUrl: string };

  const profile = await mkdtemp(join(tmpdir(), 'detour-chromium-'));
  t.after(() => rm(profile, { recursive: true, force: true }));
  const browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true, viewport: { width: 900, height: 360 } });
  t.after(() => browser.close());
  const page = browser.pages()[0] ?? (await browser.newPage());

  await page.goto(`${preview.url}page`);
  assert.equal(await page.textContent('#app'), 'alice-laptop');
  assert.match((await page.textContent('#detour-preview-banner')) ?? '', /You are viewing alice's preview of web/);
  if (SCREENSHOT !== undefined) await page.screenshot({ path: SCREENSHOT });

  await page.click('#about');
  await page.waitForSelector('#about-page');
  assert.equal(new URL(page.url()).host, new URL(preview.url).host);
  assert.equal(await page.textContent('#app'), 'alice-laptop');

  await page.goBack();
  await page.fill('input[name=note]', 'looks good');
  await Promise.all([page.waitForSelector('#note'), page.click('#send')]);
  assert.equal(await page.textContent('#note'), 'looks good');
  assert.equal(await page.textContent('#app'), 'alice-laptop');

  // The share link: a cookie on the gateway's own host, then the laptop's pages there too.
  const shared = await browser.newPage();
  await shared.goto(preview.shareUrl);
  const origin = new URL(preview.shareUrl).origin;
  assert.equal(shared.url(), `${origin}/`);
  const [cookie] = await browser.cookies(origin);
  assert.equal(cookie?.name, 'detour-preview');
  assert.equal(cookie?.httpOnly, true);
  assert.equal(cookie?.sameSite, 'Lax');
  await shared.goto(`${origin}/page`);
  assert.equal(await shared.textContent('#app'), 'alice-laptop');
});
