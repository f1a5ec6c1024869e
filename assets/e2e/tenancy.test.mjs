// Tenancy in the browser: the MSP tenant switcher, and a tenant-bound analyst who must never
// see another client's alert — not in the list, not live, not by deep link.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ADMIN_PASSWORD,
  Api,
  adminApi,
  assertNoViolations,
  auditPage,
  launchBrowser,
  newPage,
  signIn,
  startServer,
  uniq,
  waitForShell,
} from './harness.mjs';

let server;
let browser;
let admin;
const A = uniq('acme');
const B = uniq('globex');
let tokenA;
let tokenB;
let alertA;
let alertB;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  admin = await adminApi(server.base);
  await admin.tenant(A, 'Acme Corp');
  await admin.tenant(B, 'Globex');
  tokenA = await admin.ingestToken(A);
  tokenB = await admin.ingestToken(B);
  alertA = { title: uniq('Acme only alert'), severity: 'high', host: 'acme-dc' };
  alertB = { title: uniq('Globex only alert'), severity: 'high', host: 'globex-dc' };
  alertA.id = (await admin.webhook(tokenA, alertA)).ids[0];
  alertB.id = (await admin.webhook(tokenB, alertB)).ids[0];
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const row = (page, title) => page.getByTestId('alert-row').filter({ hasText: title });

test('the MSP tenant switcher shows only the chosen tenant', async () => {
  const { page, errors, context } = await newPage(browser.browser);
  try {
    await signIn(page, server.base, 'admin', ADMIN_PASSWORD);
    await waitForShell(page);
    await page.getByRole('link', { name: 'Alerts', exact: true }).click();
    await row(page, alertA.title).waitFor();
    await row(page, alertB.title).waitFor();

    await page.getByRole('combobox', { name: /^Tenant/ }).click();
    await page.getByRole('option', { name: 'Acme Corp' }).click();
    await page.getByRole('heading', { name: `Alerts — ${A}` }).waitFor();
    await row(page, alertA.title).waitFor();
    assert.equal(await row(page, alertB.title).count(), 0, 'Globex alert hidden when Acme is selected');

    await page.getByRole('combobox', { name: /^Tenant/ }).click();
    await page.getByRole('option', { name: 'Globex' }).click();
    await page.getByRole('heading', { name: `Alerts — ${B}` }).waitFor();
    await row(page, alertB.title).waitFor();
    assert.equal(await row(page, alertA.title).count(), 0, 'Acme alert hidden when Globex is selected');

    // A live alert of the other tenant does not slip into the scoped list.
    const liveA = uniq('Acme live');
    const liveB = uniq('Globex live');
    await admin.webhook(tokenA, { title: liveA, severity: 'low' });
    await admin.webhook(tokenB, { title: liveB, severity: 'low' });
    await row(page, liveB).waitFor();
    assert.equal(await row(page, liveA).count(), 0);
    assert.deepEqual(errors, [], `console errors: ${errors.join('\n')}`);
  } finally {
    await context.close();
  }
});

test('a tenant-bound analyst never sees another tenant\'s alert', async () => {
  const username = uniq('acme-analyst');
  const password = 'Amber-Kestrel-Meadow-47';
  await admin.post('/api/v1/users', { username, password, role: 'analyst', tenant: A });
  // The API agrees before the browser is asked.
  const analystApi = await Api.login(server.base, username, password);
  const listed = await analystApi.get('/api/v1/alerts?limit=500&status=new,acknowledged,in_progress,closed,suppressed');
  assert.ok(listed.items.every((a) => a.tenant === A), 'API lists only Acme alerts');

  const { page, errors, context } = await newPage(browser.browser);
  try {
    await signIn(page, server.base, username, password);
    const change = page.getByRole('heading', { name: 'Choose a new password' });
    const shell = page.getByRole('navigation', { name: 'Main' });
    await Promise.race([change.waitFor(), shell.waitFor()]);
    if (await change.isVisible()) {
      assertNoViolations(assert, 'change-password', await auditPage(page, 'change-password', () => change.waitFor()));
      await page.getByLabel('Current password').fill(password);
      await page.getByLabel(/^New password/).fill(`${password}-2`);
      await page.getByLabel('Confirm new password').fill(`${password}-2`);
      await page.getByRole('button', { name: 'Change password' }).click();
    }
    await waitForShell(page);
    assert.equal(await page.getByRole('combobox', { name: /^Tenant/ }).count(), 0, 'no tenant switcher for tenant-bound users');
    assert.equal(await page.getByRole('link', { name: 'Settings', exact: true }).count(), 0, 'no settings for analysts');

    await page.getByRole('link', { name: 'Alerts', exact: true }).click();
    await page.locator('[data-testid="live-indicator"][data-state="connected"]').waitFor();
    await row(page, alertA.title).waitFor();
    assert.equal(await row(page, alertB.title).count(), 0);

    // Live: Globex's alert is sent first, Acme's second; once Acme's shows, Globex's would have too.
    const liveB = uniq('Globex secret');
    const liveA = uniq('Acme barrier');
    await admin.webhook(tokenB, { title: liveB, severity: 'critical' });
    await admin.webhook(tokenA, { title: liveA, severity: 'low' });
    await row(page, liveA).waitFor();
    assert.equal(await row(page, liveB).count(), 0, 'Globex live alert never reaches an Acme analyst');
    assert.equal(await page.getByText(liveB).count(), 0, 'nor as a toast');

    // Deep link to the other tenant's alert shows an error, not the alert.
    await page.goto(`${server.base}/alerts/${alertB.id}`);
    await page.getByTestId('alert-drawer').getByRole('alert').waitFor();
    assert.equal(await page.getByText(alertB.title).count(), 0);
    const real = errors.filter((e) => !/WebSocket/.test(e));
    assert.deepEqual(real, [], `console errors: ${real.join('\n')}`);
  } finally {
    await context.close();
  }
});

test('a viewer reads but is offered no triage actions', async () => {
  const username = uniq('viewer');
  const password = 'Slate-Heron-Window-83';
  await admin.post('/api/v1/users', { username, password, role: 'viewer', tenant: A });
  const { page, errors, context } = await newPage(browser.browser);
  try {
    await signIn(page, server.base, username, password);
    const change = page.getByRole('heading', { name: 'Choose a new password' });
    await Promise.race([change.waitFor(), page.getByRole('navigation', { name: 'Main' }).waitFor()]);
    if (await change.isVisible()) {
      await page.getByLabel('Current password').fill(password);
      await page.getByLabel(/^New password/).fill(`${password}-2`);
      await page.getByLabel('Confirm new password').fill(`${password}-2`);
      await page.getByRole('button', { name: 'Change password' }).click();
    }
    await waitForShell(page);
    await page.getByRole('link', { name: 'Alerts', exact: true }).click();
    await row(page, alertA.title).waitFor();
    assert.equal(await page.getByText('Select all loaded').count(), 0, 'no bulk selection for viewers');
    await row(page, alertA.title).getByRole('link', { name: alertA.title }).click();
    await page.getByTestId('alert-drawer').getByRole('heading', { name: alertA.title }).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Escalate to incident' }).count(), 0);
    assert.equal(await page.getByRole('button', { name: 'Acknowledge' }).count(), 0);
    assert.deepEqual(errors, [], `console errors: ${errors.join('\n')}`);
  } finally {
    await context.close();
  }
});
