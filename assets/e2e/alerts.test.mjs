// Triage: live arrival of webhook alerts, bulk actions, keyboard shortcuts, the detail drawer, escalation.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  adminApi,
  adminPage,
  assertNoViolations,
  auditPage,
  launchBrowser,
  routeMissing,
  startServer,
  uniq,
  waitFor,
  writeNote,
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

/** Signs in as admin scoped to `tenant` (the MSP tenant switcher's stored choice) and opens the alert list. */
async function openAlerts(tenant, query = '') {
  const ctx = await adminPage(browser.browser, server.base, { tenant });
  await ctx.page.goto(`${server.base}/alerts${query}`);
  await ctx.page.getByRole('heading', { name: /^Alerts/ }).waitFor();
  return ctx;
}

const row = (page, title) => page.getByTestId('alert-row').filter({ hasText: title });

test('a webhook alert appears live in the open alerts list', async () => {
  const tenant = uniq('live');
  await admin.tenant(tenant);
  const token = await admin.ingestToken(tenant);
  const { page, errors, context } = await openAlerts(null);
  try {
    await page.locator('[data-testid="live-indicator"][data-state="connected"]').waitFor();
    const title = uniq('Live webhook alert');
    // Record, in the browser, the moment the row is in the DOM.
    await page.evaluate((t) => {
      window.__seenAt = null;
      const check = () => {
        if (window.__seenAt) return;
        const rows = document.querySelectorAll('[data-testid="alert-row"]');
        for (const r of rows) if (r.textContent.includes(t)) window.__seenAt = Date.now();
      };
      new MutationObserver(check).observe(document.body, { subtree: true, childList: true, characterData: true });
    }, title);
    const t0 = Date.now();
    const res = await admin.webhook(token, { title, severity: 'high', host: 'h1' });
    assert.equal(res.accepted, 1);
    const seenAt = await waitFor(() => page.evaluate(() => window.__seenAt), { timeout: 10_000, what: 'live alert row' });
    const ms = seenAt - t0;
    console.log(`webhook_to_screen_ms=${ms}`);
    writeNote('webhook_to_screen_ms.txt', `${ms}\n`);
    await row(page, title).waitFor();

    // A critical alert also raises a toast that links to it.
    const critical = uniq('Critical live alert');
    await admin.webhook(token, { title: critical, severity: 'critical', host: 'h2' });
    const toast = page.getByTestId('live-toast').filter({ hasText: `Critical alert: ${critical}` });
    await toast.waitFor();
    await toast.getByRole('button', { name: 'Open' }).click();
    await page.getByTestId('alert-drawer').getByRole('heading', { name: critical }).waitFor();
    assert.deepEqual(errors, [], `console errors: ${errors.join('\n')}`);
  } finally {
    await context.close();
  }
});

test('bulk acknowledge selected alerts', async () => {
  const tenant = uniq('bulk');
  await admin.tenant(tenant);
  const token = await admin.ingestToken(tenant);
  const titles = [uniq('Bulk A'), uniq('Bulk B'), uniq('Bulk C')];
  const ids = [];
  for (const title of titles) ids.push(...(await admin.webhook(token, { title, severity: 'medium', host: 'bulk-host' })).ids);
  const { page, errors, context } = await openAlerts(tenant);
  try {
    for (const t of titles) await row(page, t).waitFor();
    assertNoViolations(assert, 'alerts', await auditPage(page, 'alerts', () => row(page, titles[0]).waitFor()));
    await page.getByRole('checkbox', { name: `Select alert ${titles[0]}` }).check();
    await page.getByRole('checkbox', { name: `Select alert ${titles[1]}` }).check();
    const bar = page.getByTestId('bulk-bar');
    await bar.getByText('2 selected').waitFor();
    await bar.getByRole('button', { name: 'Acknowledge' }).click();
    await page.getByTestId('bulk-result').getByText(/acknowledge: 2 done/).waitFor();
    for (const t of titles.slice(0, 2)) await row(page, t).locator('[data-status="acknowledged"]').waitFor();
    await row(page, titles[2]).locator('[data-status="new"]').waitFor();
    // The server agrees.
    for (const id of ids.slice(0, 2)) {
      await waitFor(async () => (await admin.get(`/api/v1/alerts/${id}`)).status === 'acknowledged', { what: `alert ${id} acknowledged` });
    }
    assert.equal((await admin.get(`/api/v1/alerts/${ids[2]}`)).status, 'new');
    assert.deepEqual(errors, [], `console errors: ${errors.join('\n')}`);
  } finally {
    await context.close();
  }
});

test('keyboard triage: j/k move, x selects, a acknowledges, / focuses search', async () => {
  const tenant = uniq('keys');
  await admin.tenant(tenant);
  const token = await admin.ingestToken(tenant);
  const titles = [uniq('Key one'), uniq('Key two')];
  for (const title of titles) await admin.webhook(token, { title, severity: 'low', host: 'kb' });
  const { page, errors, context } = await openAlerts(tenant);
  try {
    for (const t of titles) await row(page, t).waitFor();
    await page.evaluate(() => document.activeElement instanceof HTMLElement && document.activeElement.blur());
    await page.keyboard.press('j');
    const active = page.locator('[data-testid="alert-row"][aria-current="true"]');
    await active.waitFor();
    const first = await active.getAttribute('data-alert-id');
    await page.keyboard.press('j');
    await waitFor(async () => (await active.getAttribute('data-alert-id')) !== first, { what: 'j moves down' });
    await page.keyboard.press('k');
    await waitFor(async () => (await active.getAttribute('data-alert-id')) === first, { what: 'k moves up' });
    await page.keyboard.press('x');
    await page.getByTestId('bulk-bar').getByText('1 selected').waitFor();
    await page.keyboard.press('a');
    await active.locator('[data-status="acknowledged"]').waitFor();
    await page.keyboard.press('/');
    await waitFor(() => page.evaluate(() => document.activeElement?.id === 'alert-search'), { what: 'search focused' });
    assert.deepEqual(errors, [], `console errors: ${errors.join('\n')}`);
  } finally {
    await context.close();
  }
});

test('alert drawer shows details and raw JSON; escalate opens the new incident', async (t) => {
  const tenant = uniq('esc');
  await admin.tenant(tenant);
  const token = await admin.ingestToken(tenant);
  const title = uniq('Escalate me');
  const [id] = (await admin.webhook(token, { title, severity: 'critical', host: 'esc-host', src_ip: '203.0.113.7', custom_field: 'kept-in-raw' })).ids;
  const { page, errors, context } = await openAlerts(tenant);
  try {
    await row(page, title).getByRole('link', { name: title }).click();
    const drawer = page.getByTestId('alert-drawer');
    await drawer.getByRole('heading', { name: title }).waitFor();
    assert.match(page.url(), new RegExp(`/alerts/${id}`));
    await drawer.getByText('esc-host').waitFor();
    await drawer.getByRole('tab', { name: 'Raw' }).click();
    await drawer.getByText(/kept-in-raw/).waitFor();
    await drawer.getByRole('tab', { name: 'Details' }).click();
    assertNoViolations(assert, 'alert-drawer', await auditPage(page, 'alert-drawer', () => drawer.getByRole('heading', { name: title }).waitFor()));

    // A comment is kept with the alert.
    await drawer.getByRole('tab', { name: 'Comments' }).click();
    await drawer.getByLabel('Add a comment').fill('Checked with the client: not a change window.');
    await drawer.getByRole('button', { name: 'Comment' }).click();
    await drawer.getByText('Checked with the client: not a change window.').waitFor();
    assert.ok((await admin.get(`/api/v1/alerts/${id}`)).comments.some((c) => c.text.startsWith('Checked with the client')));
    await drawer.getByRole('tab', { name: 'Details' }).click();

    // A deep link opens the same drawer.
    await page.goto(`${server.base}/alerts/${id}`);
    await drawer.getByRole('heading', { name: title }).waitFor();

    if ((await routeMissing(admin, 'POST', '/api/v1/alerts/probe-none/escalate')) || (await routeMissing(admin, 'GET', '/api/v1/incidents/probe-none'))) {
      t.diagnostic('server lacks escalation or incidents: escalate not exercised');
      assert.deepEqual(errors, [], `console errors: ${errors.join('\n')}`);
      return;
    }
    await drawer.getByRole('button', { name: 'Escalate to incident' }).click();
    await page.waitForURL(/\/incidents\/[^/]+$/);
    const incidentId = page.url().split('/').pop();
    await page.getByTestId('incident-status').waitFor();
    const alert = await admin.get(`/api/v1/alerts/${id}`);
    assert.equal(alert.incident, incidentId);
    const incident = await admin.get(`/api/v1/incidents/${incidentId}`);
    assert.ok(incident.alerts.includes(id));
    assert.deepEqual(errors, [], `console errors: ${errors.join('\n')}`);
  } finally {
    await context.close();
  }
});

test('add an alert to an open incident', async () => {
  const tenant = uniq('join');
  await admin.tenant(tenant);
  const token = await admin.ingestToken(tenant);
  const incident = await admin.post('/api/v1/incidents', { title: uniq('Ongoing intrusion'), severity: 'high', tenant });
  const title = uniq('Related alert');
  const [id] = (await admin.webhook(token, { title, severity: 'high', host: 'join-host' })).ids;
  const { page, errors, context } = await openAlerts(tenant);
  try {
    await row(page, title).getByRole('link', { name: title }).click();
    const drawer = page.getByTestId('alert-drawer');
    await drawer.getByRole('button', { name: 'Add to incident…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Add to an open incident' });
    await dialog.getByRole('combobox', { name: /Incident/ }).click();
    await page.getByRole('option', { name: new RegExp(incident.title) }).click();
    await dialog.getByRole('button', { name: 'Add alert' }).click();
    await page.waitForURL(new RegExp(`/incidents/${incident.id}$`));
    await page.getByRole('link', { name: id }).waitFor();
    assert.ok((await admin.get(`/api/v1/incidents/${incident.id}`)).alerts.includes(id));
    assert.deepEqual(errors, [], `console errors: ${errors.join('\n')}`);
  } finally {
    await context.close();
  }
});
