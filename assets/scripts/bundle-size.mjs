// Gzip size of what the browser loads for the first route: index.html's entry script with
// every module it imports statically (lazy pages excluded), plus CSS; then the same with
// the Overview page's lazy chunk, which is what a signed-in analyst's first screen loads.
//   npm run size          (after npm run build)
import { readFileSync, readdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';

const dist = new URL('../dist/', import.meta.url).pathname;
const html = readFileSync(join(dist, 'index.html'), 'utf8');
const gz = (file) => gzipSync(readFileSync(join(dist, file)), { level: 9 }).length;
const STATIC_IMPORT = /import\s*(?:[^"'()]*?from\s*)?["']\.\/([^"']+\.js)["']/g;

function graph(entries) {
  const seen = new Set();
  const todo = [...entries];
  while (todo.length) {
    const f = todo.pop();
    if (seen.has(f)) continue;
    seen.add(f);
    const src = readFileSync(join(dist, f), 'utf8');
    for (const m of src.matchAll(STATIC_IMPORT)) todo.push(join('assets', m[1]));
  }
  return seen;
}

const entry = [...html.matchAll(/<script[^>]+src="\/([^"]+)"/g)].map((m) => m[1]);
const preload = [...html.matchAll(/<link[^>]+rel="modulepreload"[^>]+href="\/([^"]+)"/g)].map((m) => m[1]);
const css = [...html.matchAll(/<link[^>]+rel="stylesheet"[^>]+href="\/([^"]+)"/g)].map((m) => m[1]);
const first = graph([...entry, ...preload]);
const sum = (files) => [...files].reduce((n, f) => n + gz(f), 0);
const htmlGz = gzipSync(html).length;
const firstTotal = sum(first) + sum(css) + htmlGz;
const overview = readdirSync(join(dist, 'assets')).find((f) => /^OverviewPage-.*\.js$/.test(f));
const withOverview = overview ? graph([...first, join('assets', overview)]) : first;
const overviewTotal = sum(withOverview) + sum(css) + htmlGz;
const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
console.log(`first_route_gzip=${firstTotal} (${kb(firstTotal)}; ${first.size} js files)`);
console.log(`first_route_with_overview_gzip=${overviewTotal} (${kb(overviewTotal)}; ${withOverview.size} js files)`);
if (overviewTotal > 500 * 1024) {
  console.error('over the 500 KB budget');
  process.exit(1);
}
