// Not part of `npm run e2e`: loads 100,000 alerts into the list (from the development mock,
// which can seed them instantly) and measures frame times while scrolling.
//   node e2e/perf-alert-list.mjs [rows]
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ADMIN_PASSWORD, freePort, launchBrowser, newPage, signIn, waitFor, waitForShell } from './harness.mjs';

const rows = Number(process.argv[2] ?? 100_000);
const port = await freePort();
const mock = spawn(process.execPath, [join(dirname(fileURLToPath(import.meta.url)), 'mock-server.mjs'), '--http', `127.0.0.1:${port}`, '--seed', String(rows)], {
  env: { ...process.env, CORERECON_ADMIN_PASSWORD: ADMIN_PASSWORD },
  stdio: 'ignore',
});
const base = `http://127.0.0.1:${port}`;
const b = await launchBrowser();
try {
  await waitFor(() => fetch(`${base}/readyz`).then((r) => r.ok, () => false), { timeout: 60_000, what: 'mock ready' });
  const { page } = await newPage(b.browser);
  await signIn(page, base, 'admin', ADMIN_PASSWORD);
  await waitForShell(page);
  await page.goto(`${base}/alerts`);
  const list = page.getByTestId('alert-list');
  await list.waitFor();
  const t0 = Date.now();
  await waitFor(
    async () => {
      await list.evaluate((el) => el.scrollTo(0, el.scrollHeight));
      const n = Number((await page.getByTestId('alert-count').textContent()).match(/^\d+/)[0]);
      return n >= rows;
    },
    { timeout: 600_000, interval: 20, what: `${rows} rows loaded` },
  );
  console.log(`loaded_rows=${rows} load_ms=${Date.now() - t0}`);
  for (const STEP of [60, 600, 2400]) {
  const stats = await list.evaluate(async (el, STEP) => {
    const frames = [];
    let last = performance.now();
    const end = last + 3000;
    await new Promise((done) => {
      const step = (now) => {
        frames.push(now - last);
        last = now;
        el.scrollTop = (el.scrollTop + STEP) % el.scrollHeight;
        if (now < end) requestAnimationFrame(step);
        else done();
      };
      requestAnimationFrame(step);
    });
    frames.sort((a, b) => a - b);
    return {
      frames: frames.length,
      p50: frames[Math.floor(frames.length * 0.5)],
      p95: frames[Math.floor(frames.length * 0.95)],
      max: frames[frames.length - 1],
      domRows: el.querySelectorAll('[data-testid="alert-row"]').length,
    };
  }, STEP);
  console.log(`scroll_step_px=${STEP} scroll_frames=${stats.frames} frame_ms_p50=${stats.p50.toFixed(1)} p95=${stats.p95.toFixed(1)} max=${stats.max.toFixed(1)} dom_rows=${stats.domRows}`);
}
} finally {
  await b.close();
  mock.kill();
}
