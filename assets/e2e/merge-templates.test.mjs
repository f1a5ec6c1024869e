// Incident merge from the detail page, and new incidents from a category template.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  adminApi,
  adminPage,
  assertNoViolations,
  auditPage,
  launchBrowser,
  newPage,
  signIn,
  skipUnlessRoutes,
  startServer,
  uniq,
  waitFor,
  waitForShell,
} from './harness.mjs';

let server;
let browser;
let admin;
let tenant;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  admin = await adminApi(server.base);
  tenant = uniq('merge');
  await admin.tenant(tenant);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Admin signed in, looking at `tenant` (the MSP tenant switcher's stored choice). */
const signedIn = () => adminPage(browser.browser, server.base, { tenant });

const MERGE_ROUTES = [
  ['GET', '/api/v1/incidents'],
  ['GET', '/api/v1/incidents/probe-none'],
  ['GET', '/api/v1/incidents/probe-none/timeline'],
  ['POST', '/api/v1/incidents/probe-none/merge'],
  ['POST', '/api/v1/alerts/probe-none/escalate'],
];

/** An incident of `tenant` with one webhook alert linked to it (so its timeline has two entries). */
async function incidentWithAlert(token, title) {
  const alertTitle = uniq(`Alert for ${title}`);
  const [alertId] = (await admin.webhook(token, { title: alertTitle, severity: 'medium', host: uniq('host') })).ids;
  const inc = await admin.post('/api/v1/incidents', { title, severity: 'medium', tenant });
  await waitFor(() => admin.get(`/api/v1/alerts/${alertId}`), { what: `alert ${alertId} stored` });
  await admin.post(`/api/v1/alerts/${alertId}/escalate`, { incident_id: inc.id, include_group: false });
  return { ...inc, alertId };
}

/** Opens the Merge… dialog of the incident page shown. */
async function openMerge(page) {
  await page.getByRole('button', { name: 'Merge…' }).click();
  const dialog = page.getByRole('dialog', { name: 'Merge incident' });
  await dialog.waitFor();
  return dialog;
}

/** Searches the merge dialog for `inc` by title and picks it. */
async function pickOther(page, dialog, inc) {
  const box = dialog.getByRole('combobox', { name: 'Other incident' });
  await box.fill(inc.title);
  await page.locator(`[data-testid="merge-candidate"][data-incident-id="${inc.id}"]`).click();
  await waitFor(async () => (await box.inputValue()).includes(inc.id), { what: `${inc.id} picked` });
}

test('merge an incident into another from its page: the survivor holds both timelines and alerts', async (t) => {
  if (await skipUnlessRoutes(t, admin, MERGE_ROUTES)) return;
  const token = await admin.ingestToken(tenant);
  const survivor = await incidentWithAlert(token, uniq('Survivor incident'));
  const absorbed = await incidentWithAlert(token, uniq('Duplicate incident'));
  await admin.post(`/api/v1/incidents/${absorbed.id}/observables`, { type: 'ip', value: '198.51.100.77', tlp: 'amber' });
  const absorbedTimeline = (await admin.get(`/api/v1/incidents/${absorbed.id}/timeline`)).items;
  assert.ok(absorbedTimeline.length >= 2, 'the duplicate has its own timeline (created, alert linked)');

  const { page, errors, context } = await signedIn();
  try {
    // Work from the duplicate's page and fold it into the other one.
    await page.goto(`${server.base}/incidents/${absorbed.id}`);
    await page.getByRole('heading', { name: absorbed.title }).waitFor();
    let dialog;
    assertNoViolations(
      assert,
      'incident-merge-dialog',
      await auditPage(page, 'incident-merge-dialog', async () => {
        await page.getByRole('heading', { name: absorbed.title }).waitFor();
        dialog = await openMerge(page);
      }),
    );
    await pickOther(page, dialog, survivor);
    await dialog.getByRole('radio', { name: 'The other incident; this one is merged into it' }).check();
    await dialog.getByTestId('merge-summary').filter({ hasText: `“${absorbed.title}” will be closed as a duplicate` }).waitFor();
    await dialog.getByRole('button', { name: 'Merge', exact: true }).click();

    // The page moves to the surviving incident, whose timeline now holds both histories.
    await page.waitForURL(new RegExp(`/incidents/${survivor.id}$`));
    await page.getByRole('heading', { name: survivor.title }).waitFor();
    const timeline = page.getByTestId('incident-timeline');
    await timeline.getByText(survivor.title).first().waitFor();
    await timeline.getByText(absorbed.title).first().waitFor();
    await timeline.getByText('Merged from').waitFor();
    await page.getByRole('link', { name: absorbed.alertId }).waitFor();
    await page.getByRole('link', { name: survivor.alertId }).waitFor();
    await page.getByTestId('observable-row').filter({ hasText: '198.51.100.77' }).waitFor();
    assert.equal(await page.getByTestId('merged-into').count(), 0, 'the page shows the survivor, not the duplicate it came from');

    // What the API reports agrees.
    const kept = await admin.get(`/api/v1/incidents/${survivor.id}`);
    assert.equal(kept.merged_into ?? null, null);
    assert.ok(kept.alerts.includes(survivor.alertId) && kept.alerts.includes(absorbed.alertId), 'both alerts on the survivor');
    const keptTimeline = (await admin.get(`/api/v1/incidents/${survivor.id}/timeline`)).items;
    const keptIds = new Set(keptTimeline.map((e) => e.id));
    assert.ok(absorbedTimeline.every((e) => keptIds.has(e.id)), "every entry of the duplicate's timeline is on the survivor's");
    assert.ok(keptTimeline.some((e) => e.action === 'merged_from'));
    const gone = await admin.get(`/api/v1/incidents/${absorbed.id}`);
    assert.equal(gone.merged_into, survivor.id);
    assert.equal(gone.status, 'closed');
    assert.equal(gone.resolution, 'duplicate');
    assert.equal((await admin.get(`/api/v1/alerts/${absorbed.alertId}`)).incident, survivor.id, 'the alert points at the survivor');

    // The duplicate's page says where it went and offers no more merging.
    await page.goto(`${server.base}/incidents/${absorbed.id}`);
    await page.getByTestId('merged-into').getByRole('link', { name: survivor.id }).waitFor();
    assertNoViolations(
      assert,
      'incident-merged',
      await auditPage(page, 'incident-merged', () => page.getByTestId('merged-into').waitFor()),
    );
    await page.locator('[data-testid="incident-status"][data-status="closed"]').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Merge…' }).count(), 0, 'no merge on a merged incident');

    // The survivor no longer offers the closed duplicate as a merge candidate.
    await page.goto(`${server.base}/incidents/${survivor.id}`);
    await page.getByRole('heading', { name: survivor.title }).waitFor();
    dialog = await openMerge(page);
    await dialog.getByRole('combobox', { name: 'Other incident' }).fill(absorbed.title);
    await page.getByText('No open incident matches').waitFor();
    assert.equal(await page.locator(`[data-testid="merge-candidate"][data-incident-id="${absorbed.id}"]`).count(), 0);
    assert.deepEqual(errors, [], `console errors: ${errors.join('\n')}`);
  } finally {
    await context.close();
  }
});

test('a refused merge shows the server\'s reason; this incident can then absorb another', async (t) => {
  if (await skipUnlessRoutes(t, admin, MERGE_ROUTES)) return;
  const target = await admin.post('/api/v1/incidents', { title: uniq('Merge target'), severity: 'low', tenant });
  const other = await admin.post('/api/v1/incidents', { title: uniq('Merge candidate'), severity: 'low', tenant });
  const elsewhere = await admin.post('/api/v1/incidents', { title: uniq('Merge elsewhere'), severity: 'low', tenant });
  const fresh = await admin.post('/api/v1/incidents', { title: uniq('Merge fresh'), severity: 'high', tenant });
  const { page, errors, context } = await signedIn();
  try {
    await page.goto(`${server.base}/incidents/${target.id}`);
    await page.getByRole('heading', { name: target.title }).waitFor();
    const dialog = await openMerge(page);
    await pickOther(page, dialog, other);
    // Someone else merges the candidate away while the dialog is open: the server refuses (409).
    await admin.post(`/api/v1/incidents/${elsewhere.id}/merge`, { source: other.id });
    await dialog.getByRole('button', { name: 'Merge', exact: true }).click();
    await dialog.getByRole('alert').filter({ hasText: 'incident.invalid_merge' }).waitFor();
    assert.ok(await dialog.isVisible(), 'the dialog stays open with the error');
    assert.equal((await admin.get(`/api/v1/incidents/${target.id}`)).status, 'new');
    assert.match(page.url(), new RegExp(`/incidents/${target.id}$`));

    // Another candidate, this incident kept (the default): the page stays and shows the merge.
    await pickOther(page, dialog, fresh);
    await dialog.getByTestId('merge-summary').filter({ hasText: `“${fresh.title}” will be closed as a duplicate` }).waitFor();
    await dialog.getByRole('button', { name: 'Merge', exact: true }).click();
    await dialog.waitFor({ state: 'detached' });
    const timeline = page.getByTestId('incident-timeline');
    await timeline.getByText('Merged from').waitFor();
    await timeline.getByText(fresh.title).first().waitFor();
    assert.match(page.url(), new RegExp(`/incidents/${target.id}$`));
    const gone = await admin.get(`/api/v1/incidents/${fresh.id}`);
    assert.equal(gone.merged_into, target.id);
    assert.equal(gone.status, 'closed');
    // The absorbed incident was high: the survivor takes the more severe of the two, and shows it.
    assert.equal((await admin.get(`/api/v1/incidents/${target.id}`)).severity, 'high');
    await waitFor(async () => (await page.getByRole('combobox', { name: 'Severity' }).textContent()).includes('High'), { what: 'severity shown as High' });
    const real = errors.filter((e) => !/status of 409/.test(e));
    assert.deepEqual(real, [], `console errors: ${real.join('\n')}`);
  } finally {
    await context.close();
  }
});

test('a viewer is not offered the merge action', async (t) => {
  if (await skipUnlessRoutes(t, admin, MERGE_ROUTES)) return;
  const inc = await admin.post('/api/v1/incidents', { title: uniq('Viewer incident'), severity: 'low', tenant });
  const username = uniq('merge-viewer');
  const password = 'Quartz-Lantern-Orchard-62';
  await admin.post('/api/v1/users', { username, password, role: 'viewer', tenant });
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
    await page.goto(`${server.base}/incidents/${inc.id}`);
    await page.getByRole('heading', { name: inc.title }).waitFor();
    await page.getByTestId('incident-status').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Merge…' }).count(), 0);
    assert.equal(await page.getByRole('button', { name: 'Edit' }).count(), 0);
    assert.deepEqual(errors, [], `console errors: ${errors.join('\n')}`);
  } finally {
    await context.close();
  }
});

test('a new incident from a template gets the template\'s tasks', async (t) => {
  if (await skipUnlessRoutes(t, admin, [['GET', '/api/v1/incident-templates'], ['GET', '/api/v1/incidents/probe-none/tasks']])) return;
  const templates = (await admin.get('/api/v1/incident-templates')).items;
  assert.ok(templates.length > 0, 'the appliance ships templates');
  // The template with the most tasks, so the check is not a trivial one.
  const tpl = templates.reduce((a, b) => (b.tasks.length > a.tasks.length ? b : a));
  assert.ok(tpl.tasks.length > 0);
  const expected = tpl.tasks.map((x) => x.title);
  const title = uniq(`${tpl.title} from template`);
  const { page, errors, context } = await signedIn();
  try {
    await page.goto(`${server.base}/incidents`);
    let dialog;
    const openWithTemplate = async () => {
      await page.getByRole('button', { name: 'New incident' }).click();
      dialog = page.getByRole('dialog', { name: 'New incident' });
      await dialog.waitFor();
      await dialog.getByRole('combobox', { name: 'Template' }).click();
      await page.getByRole('option', { name: `${tpl.title} (${tpl.tasks.length} tasks)` }).click();
      await dialog.getByTestId('template-preview').waitFor();
    };
    assertNoViolations(assert, 'new-incident-template', await auditPage(page, 'new-incident-template', openWithTemplate));

    // The preview lists exactly the template's tasks, and the severity follows the template.
    const shown = await dialog.getByTestId('template-task').evaluateAll((els) => els.map((e) => e.querySelector('.MuiListItemText-primary')?.textContent));
    assert.deepEqual(shown, expected);
    const severityLabel = tpl.severity.charAt(0).toUpperCase() + tpl.severity.slice(1);
    await waitFor(async () => (await dialog.getByRole('combobox', { name: 'Severity' }).textContent()).includes(severityLabel), { what: `severity ${tpl.severity}` });

    await dialog.getByLabel('Title').fill(title);
    await dialog.getByRole('button', { name: 'Create' }).click();
    await page.waitForURL(/\/incidents\/[^/]+$/);
    await page.getByRole('heading', { name: title }).waitFor();
    const id = page.url().split('/').pop();
    for (const task of expected) await page.getByRole('checkbox', { name: `Task done: ${task}` }).waitFor();
    const listed = await page.getByRole('checkbox', { name: /^Task done: / }).evaluateAll((els) => els.map((e) => e.getAttribute('aria-label').replace(/^Task done: /, '')));
    assert.deepEqual([...listed].sort(), [...expected].sort(), 'the Tasks panel shows the template tasks and nothing else');

    const inc = await admin.get(`/api/v1/incidents/${id}`);
    assert.equal(inc.tenant, tenant);
    assert.equal(inc.severity, tpl.severity);
    for (const tag of tpl.tags) assert.ok(inc.tags.includes(tag), `tag ${tag} from the template`);
    const tasks = (await admin.get(`/api/v1/incidents/${id}/tasks`)).items;
    assert.deepEqual(tasks.map((x) => x.title).sort(), [...expected].sort());
    assert.ok(tasks.every((x) => x.status === 'open'));
    assert.deepEqual(errors, [], `console errors: ${errors.join('\n')}`);
  } finally {
    await context.close();
  }
});
