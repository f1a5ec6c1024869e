// Shared harness of the browser suite: starts the real `corerecon serve` on a fresh data dir
// and a free port, drives Debian's Chromium through playwright-core, and checks every page
// with axe-core. Synchronisation is always "poll a condition until a deadline", never a sleep.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const ASSETS = resolve(here, '..');
const require = createRequire(import.meta.url);
const AXE_PATH = require.resolve('axe-core/axe.min.js');
export const SCREENSHOTS = join(ASSETS, 'test-results', 'screenshots');

export const ADMIN_PASSWORD = 'Tr1cky-Falcon-Harbour-2026!';

export function serverBinary() {
  if (process.env.CORERECON_BIN) return resolve(process.env.CORERECON_BIN);
  const target = process.env.CARGO_TARGET_DIR ? resolve(process.env.CARGO_TARGET_DIR) : resolve(ASSETS, '..', 'target');
  return join(target, 'debug', 'corerecon');
}

export async function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

/** Polls `fn` until it returns a truthy value or the deadline passes. */
export async function waitFor(fn, { timeout = 10_000, interval = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let lastErr;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      lastErr = e;
    }
    await new Promise((r) => setTimeout(r, interval));
  }
  throw new Error(`timed out after ${timeout} ms waiting for ${what}${lastErr ? `: ${lastErr.message}` : ''}`);
}

/**
 * Starts `corerecon serve` (or, with CORERECON_E2E_MOCK=1, the in-repo mock of the API
 * used while the server is still being written) and waits for /readyz.
 */
export async function startServer() {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'corerecon-e2e-'));
  const mock = process.env.CORERECON_E2E_MOCK === '1';
  let cmd;
  let args;
  if (mock) {
    cmd = process.execPath;
    args = [join(here, 'mock-server.mjs'), '--http', `127.0.0.1:${port}`];
  } else {
    cmd = serverBinary();
    if (!existsSync(cmd)) throw new Error(`server binary not found at ${cmd} (build it with cargo build, or set CORERECON_BIN)`);
    args = ['serve', '--data-dir', dataDir, '--http', `127.0.0.1:${port}`, '--syslog-udp', 'off', '--syslog-tcp', 'off'];
  }
  const child = spawn(cmd, args, {
    env: { ...process.env, CORERECON_ADMIN_PASSWORD: ADMIN_PASSWORD, RUST_LOG: process.env.RUST_LOG ?? 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  let exited = null;
  child.on('exit', (code, sig) => (exited = { code, sig }));
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitFor(
      async () => {
        if (exited) throw new Error(`server exited (${JSON.stringify(exited)}):\n${log.slice(-3000)}`);
        const r = await fetch(`${base}/readyz`).catch(() => null);
        return r && r.status === 200;
      },
      { timeout: 60_000, interval: 100, what: '/readyz 200' },
    );
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`${e.message}\n--- server log ---\n${log.slice(-3000)}`);
  }
  return {
    base,
    mock,
    dataDir,
    log: () => log,
    async stop() {
      if (!exited) {
        child.kill('SIGTERM');
        await waitFor(() => exited, { timeout: 10_000, what: 'server exit' }).catch(() => child.kill('SIGKILL'));
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A minimal API client for arranging test data. */
export class Api {
  constructor(base, token = null) {
    this.base = base;
    this.token = token;
  }

  static async login(base, username, password) {
    const api = new Api(base);
    const pair = await api.req('POST', '/api/v1/auth/login', { username, password });
    api.token = pair.access_token;
    return api;
  }

  async req(method, path, body, { headers = {}, expect } = {}) {
    const h = { Accept: 'application/json', ...headers };
    if (this.token && !h.Authorization) h.Authorization = `Bearer ${this.token}`;
    let payload;
    if (body instanceof FormData) payload = body;
    else if (body !== undefined) {
      h['Content-Type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    const res = await fetch(`${this.base}${path}`, { method, headers: h, body: payload });
    const text = await res.text();
    let data = text;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON */
    }
    const ok = expect ? (Array.isArray(expect) ? expect.includes(res.status) : res.status === expect) : res.ok;
    if (!ok) throw new Error(`${method} ${path} → ${res.status}: ${text.slice(0, 500)}`);
    return data;
  }

  get(path) {
    return this.req('GET', path);
  }
  post(path, body) {
    return this.req('POST', path, body);
  }
  put(path, body) {
    return this.req('PUT', path, body);
  }

  async tenant(slug, name = slug) {
    return this.req('POST', '/api/v1/tenants', { slug, name }, { expect: [200, 201, 409] });
  }

  async ingestToken(tenant, source = 'generic') {
    const r = await this.post(`/api/v1/tenants/${tenant}/ingest-tokens`, { source });
    return r.token;
  }

  async webhook(ingestToken, alert) {
    return this.req('POST', '/api/v1/webhooks/generic', alert, {
      headers: { Authorization: `Bearer ${ingestToken}` },
      expect: [200, 202],
    });
  }
}

/** Signs in the admin through the API, changing a forced first password when asked. */
export async function adminApi(base) {
  const api = await Api.login(base, 'admin', ADMIN_PASSWORD);
  const me = await api.get('/api/v1/auth/me');
  if (me.must_change_password) throw new Error('admin must change password: the suite expects CORERECON_ADMIN_PASSWORD to be final');
  return api;
}

// playwright-core refuses --user-data-dir in launch(); it gives every launch a fresh
// temporary profile directory of its own, which is what the flag was for.
export async function launchBrowser() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    browser,
    async close() {
      await browser.close().catch(() => undefined);
    },
  };
}

/** A fresh context + page that records console errors and uncaught exceptions. */
export async function newPage(browser, { width = 1280, height = 720, theme = 'light' } = {}) {
  const context = await browser.newContext({ viewport: { width, height } });
  await context.addInitScript((t) => {
    if (!localStorage.getItem('corerecon.theme')) localStorage.setItem('corerecon.theme', t);
  }, theme);
  // axe is injected as an init script: the appliance's CSP (script-src 'self') rightly
  // refuses inline script tags, and init scripts run outside the page's CSP.
  await context.addInitScript({ path: AXE_PATH });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const errors = [];
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    // Network-level refusals (a wrong password, a 404 probe) are logged by Chromium itself, not by the app.
    if (/Failed to load resource: the server responded with a status of 4\d\d/.test(text)) return;
    errors.push(text);
  });
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  return { context, page, errors };
}

export async function signIn(page, base, username, password) {
  await page.goto(`${base}/`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel(/^Password/).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/**
 * A new page with the admin signed in and the app shell up. `tenant` pre-selects it in the
 * MSP tenant switcher (its stored choice) before the app loads.
 */
export async function adminPage(browser, base, { tenant } = {}) {
  const ctx = await newPage(browser);
  if (tenant) {
    await ctx.context.addInitScript((t) => localStorage.setItem('corerecon.tenant', t), tenant);
  }
  await signIn(ctx.page, base, 'admin', ADMIN_PASSWORD);
  await waitForShell(ctx.page);
  return ctx;
}

/** Waits until the app shell is up (navigation rail visible). */
export async function waitForShell(page) {
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
}

/** Runs axe-core and returns the serious and critical violations. */
export async function axeViolations(page) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) throw new Error('axe-core was not injected');
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] },
    });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => ({ target: n.target.join(' '), summary: n.failureSummary })),
    }));
  });
  return result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

export function formatViolations(vs) {
  return vs
    .map((v) => `${v.impact} ${v.id}: ${v.help}\n${v.nodes.map((n) => `   at ${n.target}\n     ${n.summary}`).join('\n')}`)
    .join('\n');
}

/** Sets the theme (persisted in localStorage) and reloads; `ready` waits for the page's content. */
export async function setTheme(page, theme, ready) {
  await page.evaluate((t) => localStorage.setItem('corerecon.theme', t), theme);
  await page.reload();
  if (ready) await ready();
}

/** Screenshot of the page as it is, at the viewport size, into test-results/screenshots. */
export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
}

/**
 * For each theme: screenshot and axe check. Returns the violations found, keyed by theme.
 * Leaves the page in the light theme.
 */
export async function auditPage(page, name, ready) {
  const out = {};
  for (const theme of ['light', 'dark']) {
    await setTheme(page, theme, ready);
    // wait for MUI's transitions to finish so screenshots and contrast are final
    await page.waitForFunction(() => document.getAnimations().every((a) => a.playState !== 'running'), null, { timeout: 5000 }).catch(() => undefined);
    await screenshot(page, `${name}-${theme}`);
    out[theme] = await axeViolations(page);
  }
  await setTheme(page, 'light', ready);
  return out;
}

export function assertNoViolations(assert, name, byTheme) {
  for (const [theme, vs] of Object.entries(byTheme)) {
    assert.equal(vs.length, 0, `axe: ${name} (${theme}) has serious/critical violations:\n${formatViolations(vs)}`);
  }
}

export function writeNote(name, text) {
  mkdirSync(join(ASSETS, 'test-results'), { recursive: true });
  writeFileSync(join(ASSETS, 'test-results', name), text);
}

export const uniq = (p) => `${p}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

/**
 * True when the server answers `route.not_found` for this route. Any other answer —
 * including a real 404 for a missing object — means the route exists.
 */
export async function routeMissing(api, method, path, body = {}) {
  const res = await fetch(`${api.base}${path}`, {
    method,
    headers: { Authorization: `Bearer ${api.token}`, 'Content-Type': 'application/json' },
    body: method === 'GET' ? undefined : JSON.stringify(body),
  });
  if (res.status !== 404) return false;
  const text = await res.text();
  try {
    return JSON.parse(text).code === 'route.not_found';
  } catch {
    return false;
  }
}

/**
 * Against the in-repo mock (CORERECON_E2E_MOCK=1), which lacks some routes, skips test `t`
 * when any of them is missing and returns whether it skipped. Against the real binary a
 * missing route is a failure, never a skip.
 */
export async function skipUnlessRoutes(t, api, routes) {
  const missing = [];
  for (const [method, path] of routes) if (await routeMissing(api, method, path)) missing.push(`${method} ${path}`);
  if (!missing.length) return false;
  if (process.env.CORERECON_E2E_MOCK !== '1') throw new Error(`the appliance lacks ${missing.join(', ')}`);
  t.skip(`the mock lacks ${missing.join(', ')}`);
  return true;
}
