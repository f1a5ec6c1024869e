// Incident work: board and list, legal transitions only, evidence with its SHA-256, SLA clocks.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  adminApi,
  adminPage,
  assertNoViolations,
  auditPage,
  launchBrowser,
  skipUnlessRoutes,
  startServer,
  uniq,
  waitFor,
} from './harness.mjs';

let server;
let browser;
let admin;
let tenant;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  admin = await adminApi(server.base);
  tenant = uniq('inc');
  await admin.tenant(tenant);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const signedIn = () => adminPage(browser.browser, server.base);

const transitionButtons = (page) =>
  page.getByRole('group', { name: 'Move incident to' }).locator('[data-transition]').evaluateAll((els) => els.map((e) => e.getAttribute('data-transition')));

const INCIDENT_ROUTES = [
  ['GET', '/api/v1/incidents'],
  ['GET', '/api/v1/incidents/probe-none'],
];

test('board and list views show incidents; detail page is reachable by deep link', async (t) => {
  if (await skipUnlessRoutes(t, admin, INCIDENT_ROUTES)) return;
  const title = uniq('Board incident');
  const inc = await admin.post('/api/v1/incidents', { title, severity: 'high', tenant, description: 'Seen on the board' });
  const { page, errors, context } = await signedIn();
  try {
    await page.getByRole('link', { name: 'Incidents', exact: true }).click();
    const board = page.getByTestId('incident-board');
    await board.waitFor();
    await board.getByTestId('incident-card').filter({ hasText: title }).waitFor();
    assertNoViolations(assert, 'incidents-board', await auditPage(page, 'incidents-board', () => page.getByTestId('incident-card').first().waitFor()));
    // A new incident joins the board live (the page's own poll is 30 s; this waits 5 s).
    await page.locator('[data-testid="live-indicator"][data-state="connected"]').waitFor();
    const liveTitle = uniq('Live incident');
    await admin.post('/api/v1/incidents', { title: liveTitle, severity: 'critical', tenant });
    await board.getByTestId('incident-card').filter({ hasText: liveTitle }).waitFor({ timeout: 5000 });
    await page.getByRole('button', { name: 'List view' }).click();
    await page.getByTestId('incident-row').filter({ hasText: title }).waitFor();
    assertNoViolations(assert, 'incidents-list', await auditPage(page, 'incidents-list', () => page.getByTestId('incident-row').first().waitFor()));
    await page.goto(`${server.base}/incidents/${inc.id}`);
    await page.getByRole('heading', { name: title }).waitFor();
    assert.deepEqual(errors, [], `console errors: ${errors.join('\n')}`);
  } finally {
    await context.close();
  }
});

test('transitions offer only the allowed moves and walk the lifecycle to closed', async (t) => {
  if (await skipUnlessRoutes(t, admin, [...INCIDENT_ROUTES, ['POST', '/api/v1/incidents/probe-none/transition'], ['GET', '/api/v1/incidents/probe-none/timeline']])) return;
  const title = uniq('Lifecycle incident');
  const inc = await admin.post('/api/v1/incidents', { title, severity: 'medium', tenant });
  const { page, errors, context } = await signedIn();
  try {
    await page.goto(`${server.base}/incidents/${inc.id}`);
    await page.getByRole('heading', { name: title }).waitFor();
    const path = ['acknowledged', 'investigating', 'contained', 'eradicated', 'recovered', 'resolved', 'closed'];
    for (const to of path) {
      const fresh = await admin.get(`/api/v1/incidents/${inc.id}`);
      await waitFor(async () => JSON.stringify((await transitionButtons(page)).sort()) === JSON.stringify([...fresh.allowed_transitions].sort()), {
        what: `buttons = allowed_transitions ${JSON.stringify(fresh.allowed_transitions)} in ${fresh.status}`,
      });
      assert.ok(fresh.allowed_transitions.includes(to), `${to} allowed from ${fresh.status}`);
      await page.locator(`[data-transition="${to}"]`).click();
      if (to === 'resolved') {
        const dialog = page.getByRole('dialog', { name: 'Resolve incident' });
        await dialog.getByLabel('Summary').fill('Contained and cleaned; credentials rotated.');
        await dialog.getByRole('button', { name: 'Resolve' }).click();
      }
      await page.locator(`[data-testid="incident-status"][data-status="${to}"]`).waitFor();
    }
    const closed = await admin.get(`/api/v1/incidents/${inc.id}`);
    assert.equal(closed.status, 'closed');
    const timeline = await admin.get(`/api/v1/incidents/${inc.id}/timeline`);
    assert.ok(timeline.items.length >= path.length, 'each move is on the timeline');
    await page.getByTestId('incident-timeline').waitFor();
    assert.deepEqual(errors, [], `console errors: ${errors.join('\n')}`);
  } finally {
    await context.close();
  }
});

test('evidence upload shows the SHA-256; observables carry TLP chips; tasks', async (t) => {
  const sub = ['evidence', 'observables', 'tasks'].map((x) => ['GET', `/api/v1/incidents/probe-none/${x}`]);
  if (await skipUnlessRoutes(t, admin, [...INCIDENT_ROUTES, ...sub])) return;
  const title = uniq('Evidence incident');
  const inc = await admin.post('/api/v1/incidents', { title, severity: 'high', tenant });
  const bytes = Buffer.from(`suspicious payload ${title}\n`.repeat(50));
  const sha = createHash('sha256').update(bytes).digest('hex');
  const { page, errors, context } = await signedIn();
  try {
    await page.goto(`${server.base}/incidents/${inc.id}`);
    await page.getByRole('heading', { name: title }).waitFor();
    await page.getByTestId('evidence-input').setInputFiles({ name: 'payload.bin', mimeType: 'application/octet-stream', buffer: bytes });
    await page.getByTestId('evidence-uploaded').getByText(sha).waitFor();
    await page.getByTestId('evidence-sha256').filter({ hasText: sha }).waitFor();

    const obs = page.getByRole('form', { name: 'Add observable' });
    await obs.getByLabel('Value').fill('198.51.100.23');
    await obs.getByRole('button', { name: 'Add' }).click();
    await page.getByTestId('observable-row').filter({ hasText: '198.51.100.23' }).getByText('TLP:AMBER').waitFor();

    const tasks = page.getByRole('form', { name: 'Add task' });
    await tasks.getByLabel('New task').fill('Rotate domain admin credentials');
    await tasks.getByRole('button', { name: 'Add' }).click();
    const done = page.getByRole('checkbox', { name: 'Task done: Rotate domain admin credentials' });
    await done.click();
    await waitFor(() => done.isChecked(), { what: 'task checkbox checked' });
    await waitFor(async () => (await admin.get(`/api/v1/incidents/${inc.id}/tasks`)).items.some((t) => t.status === 'done'), { what: 'task done on server' });

    // The evidence's chain of custody, verified by the server.
    await page.getByRole('button', { name: 'Show chain of custody' }).click();
    await page.getByText('Chain verified').waitFor();

    // Pause and resume the SLA clocks.
    await page.getByRole('button', { name: 'Pause SLA…' }).click();
    const pause = page.getByRole('dialog', { name: 'Pause the SLA clocks' });
    await pause.getByLabel('Reason').fill('waiting on the client');
    await pause.getByRole('button', { name: 'Pause' }).click();
    await page.getByText('Paused: waiting on the client').waitFor();
    assert.equal((await admin.get(`/api/v1/incidents/${inc.id}`)).sla.paused, true);
    await page.getByRole('button', { name: 'Resume SLA' }).click();
    await page.getByRole('button', { name: 'Pause SLA…' }).waitFor();

    assertNoViolations(assert, 'incident-detail', await auditPage(page, 'incident-detail', () => page.getByRole('heading', { name: title }).waitFor()));
    assert.deepEqual(errors, [], `console errors: ${errors.join('\n')}`);
  } finally {
    await context.close();
  }
});

test('SLA countdown turns amber then red with a policy of seconds', async (t) => {
  const slaTenant = uniq('sla');
  await admin.tenant(slaTenant);
  if (await skipUnlessRoutes(t, admin, [...INCIDENT_ROUTES, ['GET', `/api/v1/tenants/${slaTenant}/sla-policy`]])) return;
  const policy = await admin.get(`/api/v1/tenants/${slaTenant}/sla-policy`);
  policy.high = { acknowledge_s: 4, resolve_s: 8, warn_ratio: 0.5 };
  await admin.put(`/api/v1/tenants/${slaTenant}/sla-policy`, policy);
  const { page, errors, context } = await signedIn();
  const frames = [];
  page.on('websocket', (ws) => ws.on('framereceived', (f) => frames.push(String(f.payload).slice(0, 300))));
  try {
    const title = uniq('SLA incident');
    const inc = await admin.post('/api/v1/incidents', { title, severity: 'high', tenant: slaTenant });
    await page.goto(`${server.base}/incidents/${inc.id}`);
    const clock = page.getByTestId('sla-acknowledge');
    await clock.waitFor();
    await assert.doesNotReject(clock.textContent());
    const tones = new Set();
    await waitFor(
      async () => {
        const tone = await clock.getAttribute('data-sla-tone');
        tones.add(tone);
        return tone === 'breached';
      },
      { timeout: 15_000, interval: 100, what: 'acknowledge SLA breached' },
    );
    assert.ok(tones.has('warning'), `the clock went amber before red (saw ${[...tones].join(', ')})`);
    assert.match(await clock.textContent(), /breached/);
    // The server's own SLA state agrees (its timer actor, not only the browser clock).
    await waitFor(async () => {
      const sla = (await admin.get(`/api/v1/incidents/${inc.id}`)).sla ?? {};
      return (sla.state ?? sla.status) === 'breached' || sla.breached_ack === true;
    }, {
      timeout: 10_000,
      what: 'server SLA state breached',
    });
    // The sla.breached frame raises a toast.
    const toast = await page
      .getByTestId('live-toast')
      .filter({ hasText: /SLA breached/ })
      .waitFor({ timeout: 15_000 })
      .then(() => true, () => false);
    console.log(`sla_breached_toast=${toast}`);
    if (!toast) console.log(`frames seen: ${frames.filter((f) => f.includes('sla.')).join('\n') || frames.map((f) => f.slice(0, 60)).join(' | ')}`);
    assert.ok(toast, 'an sla.breached frame shows a toast');
    assert.deepEqual(errors, [], `console errors: ${errors.join('\n')}`);
  } finally {
    await context.close();
  }
});
