// Sign-in, the overview with data, the admin settings pages, theme and layout.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ADMIN_PASSWORD,
  adminApi,
  assertNoViolations,
  auditPage,
  launchBrowser,
  newPage,
  routeMissing,
  skipUnlessRoutes,
  screenshot,
  signIn,
  startServer,
  uniq,
  waitFor,
  waitForShell,
} from './harness.mjs';

let server;
let browser;
let admin;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  admin = await adminApi(server.base);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('login page: wrong password is refused, right password opens the shell', async () => {
  const { page, errors, context } = await newPage(browser.browser);
  try {
    await page.goto(`${server.base}/`);
    await page.getByRole('heading', { name: 'CoreRecon' }).waitFor();
    assertNoViolations(assert, 'login', await auditPage(page, 'login', () => page.getByLabel('Username').waitFor()));

    await signIn(page, server.base, 'admin', 'definitely-not-it');
    await page.getByRole('alert').waitFor();
    await signIn(page, server.base, 'admin', ADMIN_PASSWORD);
    await waitForShell(page);
    await page.getByRole('heading', { name: /^Overview/ }).waitFor();
    await page.locator('[data-testid="live-indicator"][data-state="connected"]').waitFor();
    assert.deepEqual(errors, [], `console errors: ${errors.join('\n')}`);
  } finally {
    await context.close();
  }
});

test('overview renders KPIs, trend and top lists from ingested alerts', async (t) => {
  if (await skipUnlessRoutes(t, admin, [['GET', '/api/v1/dashboard/summary?range=24h']])) return;
  const tenant = uniq('ov');
  await admin.tenant(tenant);
  const token = await admin.ingestToken(tenant);
  // Distinct titles: identical ones would be folded into one alert by deduplication.
  for (const [i, [severity, host]] of [
    ['critical', 'dc01'],
    ['high', 'web01'],
    ['high', 'web01'],
    ['medium', 'db01'],
    ['low', 'ws17'],
  ].entries()) {
    await admin.webhook(token, { title: `Overview ${severity} #${i} on ${host}`, severity, host, rule: `rule-${severity}-${i}` });
  }
  // A refused body counts as a drop against the sender's tenant and source.
  await admin.req('POST', '/api/v1/webhooks/generic', { severity: 'high' }, { headers: { Authorization: `Bearer ${token}` }, expect: [400, 422] });
  const { page, errors, context } = await newPage(browser.browser);
  try {
    await signIn(page, server.base, 'admin', ADMIN_PASSWORD);
    await waitForShell(page);
    const open = page.getByTestId('kpi-open-alerts');
    await open.waitFor();
    // The card shows the server's count of open alerts (at least the five just sent).
    await waitFor(
      async () => {
        const server = (await admin.get('/api/v1/dashboard/summary?range=24h')).alerts.open_total;
        const shown = Number(await page.locator('[data-testid="kpi-open-alerts"] h2 + p').textContent());
        return server >= 5 && shown === server;
      },
      { timeout: 40_000, interval: 250, what: 'open alerts KPI = server count >= 5' },
    );
    await page.getByRole('img', { name: /Alert trend over the last 24h/ }).waitFor();
    await page.getByRole('heading', { name: 'Top hosts' }).waitFor();
    await page.getByText('web01').first().waitFor();
    await page.getByRole('heading', { name: 'Drops and refusals per source' }).waitFor();
    await page.getByRole('table', { name: 'Drops and refusals per source' }).getByRole('row').filter({ hasText: tenant }).first().waitFor();
    await page.getByRole('button', { name: 'Last 7 d' }).click();
    await page.getByRole('img', { name: /Alert trend over the last 7d/ }).waitFor();
    await page.getByRole('button', { name: 'Last 24 h' }).click();
    assertNoViolations(assert, 'overview', await auditPage(page, 'overview', () => page.getByTestId('kpi-open-alerts').waitFor()));
    assert.deepEqual(errors, [], `console errors: ${errors.join('\n')}`);
  } finally {
    await context.close();
  }
});

test('settings: users, tenants, ingest tokens (shown once) and SLA policy', async (t) => {
  const { page, errors, context } = await newPage(browser.browser);
  try {
    await signIn(page, server.base, 'admin', ADMIN_PASSWORD);
    await waitForShell(page);
    await page.getByRole('link', { name: 'Settings', exact: true }).click();
    await page.getByRole('tab', { name: 'Users & roles' }).waitFor();
    await page.getByTestId('user-row').first().waitFor();
    assertNoViolations(assert, 'settings-users', await auditPage(page, 'settings-users', () => page.getByTestId('user-row').first().waitFor()));

    // Create an analyst.
    const analyst = uniq('ana');
    await page.getByRole('button', { name: 'New user' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Username').fill(analyst);
    await dialog.getByLabel('Initial password').fill('Quiet-Otter-Lantern-91');
    await dialog.getByRole('button', { name: 'Create user' }).click();
    await page.getByTestId('user-row').filter({ hasText: analyst }).waitFor();

    // Tenants.
    const slug = uniq('st');
    await page.getByRole('tab', { name: 'Tenants' }).click();
    await page.getByLabel('Slug').fill(slug);
    await page.getByLabel('Display name').fill('Settings Test Co');
    await page.getByRole('button', { name: 'Create tenant' }).click();
    await page.getByTestId('tenant-row').filter({ hasText: slug }).waitFor();
    assertNoViolations(assert, 'settings-tenants', await auditPage(page, 'settings-tenants', () => page.getByTestId('tenant-row').first().waitFor()));

    // Ingest tokens: the token is shown once, then listed without its secret.
    await page.getByRole('tab', { name: 'Ingest tokens' }).click();
    await page.getByRole('button', { name: 'Create token' }).click();
    const value = await page.getByTestId('created-token-value').textContent();
    assert.ok(value && value.length >= 16, `token shown once: ${value}`);
    await page.getByTestId('token-row').first().waitFor();
    const listed = await page.getByRole('table', { name: 'Ingest tokens' }).textContent();
    assert.ok(!listed.includes(value), 'the token secret is not listed');
    assertNoViolations(assert, 'settings-tokens', await auditPage(page, 'settings-tokens', () => page.getByRole('button', { name: 'Create token' }).waitFor()));

    // System: the appliance's actors.
    await page.getByRole('tab', { name: 'System' }).click();
    await page.getByTestId('actor-card').first().waitFor();
    assertNoViolations(assert, 'settings-system', await auditPage(page, 'settings-system', () => page.getByTestId('actor-card').first().waitFor()));

    // SLA policy.
    if (await routeMissing(admin, 'GET', '/api/v1/tenants/default/sla-policy')) {
      t.diagnostic('server lacks GET /api/v1/tenants/{t}/sla-policy: SLA policy page not exercised');
      assert.deepEqual(errors, [], `console errors: ${errors.join('\n')}`);
      return;
    }
    await page.getByRole('tab', { name: 'SLA policy' }).click();
    await page.getByLabel('critical acknowledge seconds').fill('600');
    await page.getByRole('button', { name: 'Save policy' }).click();
    await page.getByText('SLA policy saved').waitFor();
    assertNoViolations(assert, 'settings-sla', await auditPage(page, 'settings-sla', () => page.getByRole('button', { name: 'Save policy' }).waitFor()));
    assert.deepEqual(errors, [], `console errors: ${errors.join('\n')}`);
  } finally {
    await context.close();
  }
});

test('theme toggle persists; layout works at tablet width', async () => {
  const { page, errors, context } = await newPage(browser.browser, { width: 800, height: 1024 });
  try {
    await signIn(page, server.base, 'admin', ADMIN_PASSWORD);
    await waitForShell(page);
    const before = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    await page.getByTestId('theme-toggle').click();
    await page.waitForFunction((b) => getComputedStyle(document.body).backgroundColor !== b, before);
    assert.equal(await page.evaluate(() => localStorage.getItem('corerecon.theme')), 'dark');
    await page.reload();
    await waitForShell(page);
    assert.equal(await page.evaluate(() => localStorage.getItem('corerecon.theme')), 'dark');
    // No horizontal page overflow at tablet width, on any main page.
    const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    for (const [link, heading, shot] of [
      ['Overview', /^Overview/, 'overview-tablet-dark'],
      ['Alerts', /^Alerts/, 'alerts-tablet-dark'],
      ['Incidents', /^Incidents/, 'incidents-tablet-dark'],
      ['Settings', /^Settings/, 'settings-tablet-dark'],
    ]) {
      await page.getByRole('link', { name: link, exact: true }).click();
      await page.getByRole('heading', { name: heading }).waitFor();
      const px = await overflow();
      assert.ok(px <= 0, `${link} overflows horizontally by ${px}px at 800px`);
      await screenshot(page, shot);
    }
    assert.deepEqual(errors, [], `console errors: ${errors.join('\n')}`);
  } finally {
    await context.close();
  }
});

test('an expired access token is refreshed on 401; sign out ends the session', async () => {
  const { page, errors, context } = await newPage(browser.browser);
  try {
    await signIn(page, server.base, 'admin', ADMIN_PASSWORD);
    await waitForShell(page);
    // Spoil the access token: the next call gets a 401, the client refreshes once and retries.
    await page.evaluate(() => {
      const s = JSON.parse(sessionStorage.getItem('corerecon.session'));
      s.access = 'spoiled';
      sessionStorage.setItem('corerecon.session', JSON.stringify(s));
    });
    await page.reload();
    await waitForShell(page);
    const access = await page.evaluate(() => JSON.parse(sessionStorage.getItem('corerecon.session')).access);
    assert.notEqual(access, 'spoiled');
    await page.getByRole('link', { name: 'Alerts', exact: true }).click();
    await page.getByRole('heading', { name: /^Alerts/ }).waitFor();

    await page.getByRole('button', { name: 'Account menu' }).click();
    await page.getByRole('menuitem', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('corerecon.session')), null);
    const res = await fetch(`${server.base}/api/v1/auth/me`, { headers: { Authorization: `Bearer ${access}` } });
    assert.equal(res.status, 401, 'the access token stops working at sign-out');
    assert.deepEqual(errors, [], `console errors: ${errors.join('\n')}`);
  } finally {
    await context.close();
  }
});
