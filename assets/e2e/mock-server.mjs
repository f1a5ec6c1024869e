// A small in-memory stand-in for `corerecon serve`, written to the public contract, for
// developing the dashboard (and its browser suite, with CORERECON_E2E_MOCK=1) while the
// Rust server is still being built. It is not the product and proves nothing about it.
//
//   node e2e/mock-server.mjs --http 127.0.0.1:8080      (serves dist/ too, with SPA fallback)
import { createServer } from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

const DIST = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
const argAt = process.argv.indexOf('--http');
const [HOST, PORT] = (argAt > 0 ? process.argv[argAt + 1] : '127.0.0.1:8080').split(':');
const ADMIN_PASSWORD = process.env.CORERECON_ADMIN_PASSWORD || 'Mock-Admin-Password-1';

let seq = 0;
let idn = 0;
const id = (p) => `${p}${Date.now().toString(36)}${(idn++).toString(36).padStart(4, '0')}`;
const now = () => new Date().toISOString();
const SEV = ['critical', 'high', 'medium', 'low', 'info'];
const STATES = ['new', 'acknowledged', 'investigating', 'contained', 'eradicated', 'recovered', 'resolved', 'closed'];
const defaultPolicy = () => ({
  critical: { acknowledge_s: 900, resolve_s: 14400, warn_ratio: 0.8 },
  high: { acknowledge_s: 1800, resolve_s: 28800, warn_ratio: 0.8 },
  medium: { acknowledge_s: 7200, resolve_s: 86400, warn_ratio: 0.8 },
  low: { acknowledge_s: 28800, resolve_s: 259200, warn_ratio: 0.8 },
  info: { acknowledge_s: 86400, resolve_s: 604800, warn_ratio: 0.8 },
});

const db = {
  tenants: [{ slug: 'default', name: 'Default', created_at: now() }],
  users: [{ id: 'u-admin', username: 'admin', password: ADMIN_PASSWORD, role: 'admin', tenant: null, disabled: false, must_change_password: false, created_at: now() }],
  tokens: [], // {id, tenant, source, token, signed, created_at}
  sessions: new Map(), // access -> userId
  refresh: new Map(),
  alerts: [],
  incidents: [],
  timeline: new Map(),
  observables: new Map(),
  tasks: new Map(),
  evidence: new Map(),
  policies: new Map([['default', defaultPolicy()]]),
  sockets: new Set(),
  breached: new Set(),
  drops: new Map(),
};

const problem = (res, status, code, detail) => {
  res.writeHead(status, { 'Content-Type': 'application/problem+json' });
  res.end(JSON.stringify({ type: 'about:blank', title: code, status, code, detail }));
};
const json = (res, status, body) => {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(body === undefined ? '' : JSON.stringify(body));
};

function transitionsFrom(s) {
  const i = STATES.indexOf(s);
  if (s === 'closed') return ['investigating'];
  if (s === 'resolved') return ['closed', 'investigating'];
  const next = STATES.slice(i + 1, STATES.length - 1);
  return next;
}

function slaOf(inc) {
  const p = (db.policies.get(inc.tenant) ?? defaultPolicy())[inc.severity];
  const c = Date.parse(inc.created_at);
  const ackDue = c + p.acknowledge_s * 1000;
  const resDue = c + p.resolve_s * 1000;
  const t = Date.now();
  const acked = inc.status !== 'new';
  const resolved = inc.status === 'resolved' || inc.status === 'closed';
  let state = 'ok';
  if (resolved) state = 'met';
  else if ((!acked && t >= ackDue) || t >= resDue) state = 'breached';
  else if ((!acked && t >= c + p.acknowledge_s * p.warn_ratio * 1000) || t >= c + p.resolve_s * p.warn_ratio * 1000) state = 'warning';
  return {
    acknowledge_due: new Date(ackDue).toISOString(),
    resolve_due: new Date(resDue).toISOString(),
    warn_acknowledge_at: new Date(c + p.acknowledge_s * p.warn_ratio * 1000).toISOString(),
    warn_resolve_at: new Date(c + p.resolve_s * p.warn_ratio * 1000).toISOString(),
    state: acked && state === 'breached' && t < resDue ? 'ok' : state,
    paused: !!inc.paused,
    pause_reason: inc.pause_reason ?? null,
  };
}
const incView = (i) => ({ ...i, allowed_transitions: transitionsFrom(i.status), sla: slaOf(i) });

// ---- WebSocket (RFC 6455, server side, text frames only) ----------------------------------
function wsFrame(text) {
  const payload = Buffer.from(text);
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0x81, len]) : len < 65536 ? Buffer.from([0x81, 126, len >> 8, len & 255]) : (() => {
    const b = Buffer.alloc(10);
    b[0] = 0x81;
    b[1] = 127;
    b.writeBigUInt64BE(BigInt(len), 2);
    return b;
  })();
  return Buffer.concat([head, payload]);
}
function broadcast(type, data, tenant) {
  seq += 1;
  const frame = wsFrame(JSON.stringify({ type, seq, data }));
  for (const s of db.sockets) if (s.user.tenant === null || s.user.tenant === tenant) s.socket.write(frame);
}

function userOf(req, url) {
  const h = req.headers.authorization ?? '';
  const tok = h.startsWith('Bearer ') ? h.slice(7) : url.searchParams.get('access_token');
  const uid = tok && db.sessions.get(tok);
  return uid ? db.users.find((u) => u.id === uid && !u.disabled) : null;
}
const visible = (user, tenant) => user.tenant === null || user.tenant === tenant;

function issue(user) {
  const access = randomBytes(18).toString('hex');
  const refresh = randomBytes(18).toString('hex');
  db.sessions.set(access, user.id);
  db.refresh.set(refresh, user.id);
  return { access_token: access, refresh_token: refresh, token_type: 'Bearer', expires_in: 900 };
}

async function body(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks);
}
async function jsonBody(req) {
  const b = await body(req);
  return b.length ? JSON.parse(b.toString()) : {};
}
function multipartFile(buf, contentType) {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/.exec(contentType ?? '');
  if (!m) return null;
  const boundary = Buffer.from(`--${m[1] ?? m[2]}`);
  let pos = buf.indexOf(boundary);
  while (pos >= 0) {
    const next = buf.indexOf(boundary, pos + boundary.length);
    if (next < 0) break;
    const part = buf.subarray(pos + boundary.length + 2, next - 2);
    const sep = part.indexOf('\r\n\r\n');
    const headers = part.subarray(0, sep).toString();
    if (/name="file"/.test(headers)) {
      const filename = /filename="([^"]*)"/.exec(headers)?.[1] ?? 'file';
      return { filename, data: part.subarray(sep + 4) };
    }
    pos = next;
  }
  return null;
}

function newAlert(tenant, source, a) {
  const t = now();
  const alert = {
    id: id('a'), tenant, source, source_ref: a.source_ref ?? null, source_link: null, title: a.title,
    description: a.description ?? null, severity: SEV.includes(a.severity) ? a.severity : 'medium', status: 'new',
    assignee: null, rule: a.rule ?? null, category: a.category ?? null, host: a.host ?? null, user: a.user ?? null,
    src_ip: a.src_ip ?? null, dst_ip: a.dst_ip ?? null, src_port: a.src_port ?? null, dst_port: a.dst_port ?? null,
    tactics: [], techniques: a.techniques ?? [], observables: a.observables ?? [], first_seen: a.timestamp ?? t, last_seen: t,
    count: 1, fingerprint: createHash('sha1').update(`${tenant}${a.title}${a.host}`).digest('hex').slice(0, 16),
    group: null, incident: null, storm: false, raw: a, comments: [], history: [{ at: t, actor: source, action: 'created' }],
    created_at: t, updated_at: t,
  };
  alert.group = alert.fingerprint;
  db.alerts.unshift(alert);
  broadcast('alert.created', alert, tenant);
  return alert;
}

function newIncident(user, b) {
  const t = now();
  const inc = {
    id: id('i'), tenant: b.tenant ?? user.tenant ?? 'default', title: b.title, description: b.description ?? '',
    severity: b.severity ?? 'medium', priority: 'p2', status: 'new', assignee: b.assignee ?? null, alerts: [],
    techniques: [], tags: b.tags ?? [], resolution: null, summary: null, created_at: t, updated_at: t,
  };
  db.incidents.unshift(inc);
  db.timeline.set(inc.id, [{ id: id('t'), at: t, actor: user.username, action: 'created' }]);
  broadcast('incident.created', incView(inc), inc.tenant);
  return inc;
}
const addTimeline = (incId, actor, action, extra = {}) => db.timeline.get(incId)?.push({ id: id('t'), at: now(), actor, action, ...extra });

setInterval(() => {
  for (const inc of db.incidents) {
    const s = slaOf(inc);
    if (s.state === 'breached' && !db.breached.has(inc.id)) {
      db.breached.add(inc.id);
      addTimeline(inc.id, 'system', 'sla.breached');
      broadcast('sla.breached', { incident_id: inc.id, title: inc.title, clock: inc.status === 'new' ? 'acknowledge' : 'resolve' }, inc.tenant);
    }
  }
}, 250).unref();

function listAlerts(user, sp) {
  const f = (k) => (sp.get(k) ? sp.get(k).split(',') : null);
  const status = f('status');
  const sev = f('severity');
  const src = f('source');
  const tenant = sp.get('tenant');
  const q = (sp.get('q') ?? '').toLowerCase();
  const since = sp.get('since') ? Date.parse(sp.get('since')) : null;
  let items = db.alerts.filter(
    (a) =>
      visible(user, a.tenant) &&
      (!tenant || a.tenant === tenant) &&
      (!status || status.includes(a.status)) &&
      (!sev || sev.includes(a.severity)) &&
      (!src || src.includes(a.source)) &&
      (!sp.get('assignee') || a.assignee === sp.get('assignee')) &&
      (!since || Date.parse(a.created_at) >= since) &&
      (!q || JSON.stringify([a.title, a.host, a.description]).toLowerCase().includes(q)),
  );
  const limit = Math.min(500, Number(sp.get('limit') ?? 100));
  const start = Number(sp.get('cursor') ?? 0);
  const page = items.slice(start, start + limit);
  return { items: page, next_cursor: start + limit < items.length ? String(start + limit) : null };
}

function summary(user, sp) {
  const tenant = sp.get('tenant');
  const range = sp.get('range') === '7d' ? 7 * 86400 : 86400;
  const bucket = range === 86400 ? 3600 : 86400;
  const alerts = db.alerts.filter((a) => visible(user, a.tenant) && (!tenant || a.tenant === tenant));
  const open = alerts.filter((a) => ['new', 'acknowledged', 'in_progress'].includes(a.status));
  const bySev = Object.fromEntries(SEV.map((s) => [s, open.filter((a) => a.severity === s).length]));
  const incs = db.incidents.filter((i) => visible(user, i.tenant) && (!tenant || i.tenant === tenant));
  const openInc = incs.filter((i) => i.status !== 'closed' && i.status !== 'resolved');
  const byState = Object.fromEntries(STATES.map((s) => [s, incs.filter((i) => i.status === s).length]));
  const end = Math.ceil(Date.now() / 1000 / bucket) * bucket;
  const buckets = [];
  for (let t = end - range; t < end; t += bucket) {
    const b = { t: new Date(t * 1000).toISOString() };
    for (const s of SEV) b[s] = alerts.filter((a) => a.severity === s && Date.parse(a.created_at) / 1000 >= t && Date.parse(a.created_at) / 1000 < t + bucket).length;
    buckets.push(b);
  }
  const top = (k) =>
    Object.entries(alerts.reduce((m, a) => (a[k] ? ((m[a[k]] = (m[a[k]] ?? 0) + 1), m) : m), {}))
      .map(([key, count]) => ({ key, count }))
      .sort((x, y) => y.count - x.count)
      .slice(0, 10);
  return {
    alerts: { open_total: open.length, open_by_severity: bySev },
    incidents: { open_total: openInc.length, by_state: byState },
    mtta_s: 312,
    mttr_s: 5400,
    sla_breaches: incs.filter((i) => db.breached.has(i.id)).length,
    trend: { bucket_s: bucket, buckets },
    top: { sources: top('source'), hosts: top('host'), rules: top('rule') },
    drops: [...db.drops.values()].filter((d) => visible(user, d.tenant) && (!tenant || d.tenant === tenant)),
  };
}

async function api(req, res, url) {
  const p = url.pathname;
  const m = (re) => re.exec(p);
  const method = req.method;
  if (p === '/api/v1/auth/login' && method === 'POST') {
    const b = await jsonBody(req);
    const u = db.users.find((x) => x.username === b.username && x.password === b.password && !x.disabled);
    return u ? json(res, 200, issue(u)) : problem(res, 401, 'auth.invalid_credentials', 'wrong username or password');
  }
  if (p === '/api/v1/auth/refresh' && method === 'POST') {
    const b = await jsonBody(req);
    const uid = db.refresh.get(b.refresh_token);
    if (!uid) return problem(res, 401, 'auth.invalid_refresh', 'refresh token spent or unknown');
    db.refresh.delete(b.refresh_token);
    return json(res, 200, issue(db.users.find((u) => u.id === uid)));
  }
  if (p === '/api/v1/webhooks/generic' && method === 'POST') {
    const tok = (req.headers.authorization ?? '').replace(/^Bearer /, '');
    const t = db.tokens.find((x) => x.token === tok);
    if (!t) return problem(res, 401, 'ingest.bad_token', 'unknown ingest token');
    const b = await jsonBody(req);
    const list = Array.isArray(b) ? b : [b];
    if (list.some((a) => !a || typeof a.title !== 'string')) {
      const key = `${t.tenant}/generic/missing_field`;
      const d = db.drops.get(key) ?? { tenant: t.tenant, source: 'generic', reason: 'missing_field', count: 0 };
      d.count += 1;
      d.last_at = now();
      db.drops.set(key, d);
      return problem(res, 422, 'ingest.missing_field', 'missing required field `title`');
    }
    const ids = list.map((a) => newAlert(t.tenant, 'generic', a).id);
    return json(res, 202, { accepted: ids.length, ids });
  }
  const user = userOf(req, url);
  if (!user) return problem(res, 401, 'auth.unauthenticated', 'sign in first');
  const admin = user.role === 'admin';
  const writer = user.role !== 'viewer';

  if (p === '/api/v1/auth/me') return json(res, 200, { id: user.id, username: user.username, role: user.role, tenant: user.tenant, must_change_password: user.must_change_password });
  if (p === '/api/v1/auth/logout') {
    db.sessions.delete((req.headers.authorization ?? '').replace(/^Bearer /, ''));
    return json(res, 204);
  }
  if (p === '/api/v1/auth/password' && method === 'POST') {
    const b = await jsonBody(req);
    if (b.current_password !== user.password) return problem(res, 403, 'auth.invalid_credentials', 'current password is wrong');
    user.password = b.new_password;
    user.must_change_password = false;
    return json(res, 204);
  }
  if (p === '/api/v1/admin/actors') return json(res, 200, { ws_hub: { actor: 'ws_hub', sessions: db.sockets.size }, alerts: [] });
  if (p === '/api/v1/dashboard/summary') return json(res, 200, summary(user, url.searchParams));
  if (p === '/api/v1/alerts' && method === 'GET') return json(res, 200, listAlerts(user, url.searchParams));
  if (p === '/api/v1/alerts/bulk' && method === 'POST') {
    const b = await jsonBody(req);
    const to = { acknowledge: 'acknowledged', close: 'closed', suppress: 'suppressed', reopen: 'new' }[b.action];
    const results = b.ids.map((aid) => {
      const a = db.alerts.find((x) => x.id === aid && visible(user, x.tenant));
      if (!a) return { id: aid, ok: false, error: 'not found' };
      if (b.action === 'assign') a.assignee = b.assignee;
      else a.status = to;
      a.history.push({ at: now(), actor: user.username, action: b.action, after: b.action === 'assign' ? b.assignee : to });
      broadcast('alert.updated', a, a.tenant);
      return { id: aid, ok: true };
    });
    return json(res, 200, { results });
  }
  let r;
  if ((r = m(/^\/api\/v1\/alerts\/([^/]+)(\/[a-z]+)?$/))) {
    const a = db.alerts.find((x) => x.id === r[1] && visible(user, x.tenant));
    if (!a) return problem(res, 404, 'alert.not_found', `no alert ${r[1]}`);
    if (!r[2] && method === 'GET') return json(res, 200, a);
    if (!r[2] && method === 'PATCH') {
      const b = await jsonBody(req);
      for (const k of ['status', 'assignee', 'severity']) if (k in b) {
        a.history.push({ at: now(), actor: user.username, action: k, before: a[k], after: b[k] });
        a[k] = b[k];
      }
      broadcast('alert.updated', a, a.tenant);
      return json(res, 200, a);
    }
    if (r[2] === '/comments') {
      const b = await jsonBody(req);
      const c = { id: id('c'), author: user.username, at: now(), text: b.text };
      a.comments.push(c);
      return json(res, 201, c);
    }
    if (r[2] === '/group') return json(res, 200, { items: db.alerts.filter((x) => x.group === a.group && visible(user, x.tenant)) });
    if (r[2] === '/escalate') {
      const b = await jsonBody(req);
      const existing = b.incident_id && db.incidents.find((x) => x.id === b.incident_id && x.tenant === a.tenant);
      if (existing) {
        existing.alerts.push(a.id);
        a.incident = existing.id;
        addTimeline(existing.id, user.username, 'alert.linked', { detail: a.id });
        broadcast('alert.updated', a, a.tenant);
        return json(res, 200, incView(existing));
      }
      const inc = newIncident(user, { title: a.title, severity: a.severity, tenant: a.tenant, description: a.description ?? '' });
      inc.alerts.push(a.id);
      a.incident = inc.id;
      a.status = 'in_progress';
      addTimeline(inc.id, user.username, 'alert.linked', { detail: a.id });
      broadcast('alert.updated', a, a.tenant);
      return json(res, 201, incView(inc));
    }
  }
  if (p === '/api/v1/incidents' && method === 'GET') {
    const t = url.searchParams.get('tenant');
    const q = (url.searchParams.get('q') ?? '').toLowerCase();
    return json(res, 200, { items: db.incidents.filter((i) => visible(user, i.tenant) && (!t || i.tenant === t) && (!q || i.title.toLowerCase().includes(q))).map(incView), next_cursor: null });
  }
  if (p === '/api/v1/incidents' && method === 'POST') {
    if (!writer) return problem(res, 403, 'auth.forbidden', 'read only');
    const inc = newIncident(user, await jsonBody(req));
    return json(res, 201, incView(inc));
  }
  if ((r = m(/^\/api\/v1\/incidents\/([^/]+)(?:\/([a-z]+))?(?:\/([^/]+))?$/))) {
    const inc = db.incidents.find((x) => x.id === r[1] && visible(user, x.tenant));
    if (!inc) return problem(res, 404, 'incident.not_found', `no incident ${r[1]}`);
    const sub = r[2];
    if (!sub && method === 'GET') return json(res, 200, incView(inc));
    if (!sub && method === 'PATCH') {
      const b = await jsonBody(req);
      for (const [k, v] of Object.entries(b)) {
        addTimeline(inc.id, user.username, `${k}.changed`, { before: inc[k], after: v });
        inc[k] = v;
      }
      broadcast('incident.updated', incView(inc), inc.tenant);
      return json(res, 200, incView(inc));
    }
    if (sub === 'transition') {
      const b = await jsonBody(req);
      if (!transitionsFrom(inc.status).includes(b.to)) return problem(res, 409, 'incident.invalid_transition', `${inc.status} → ${b.to} is not allowed`);
      if (b.resolution) inc.resolution = b.resolution;
      if (b.summary) inc.summary = b.summary;
      if (b.to === 'resolved' && (!inc.resolution || !inc.summary)) return problem(res, 422, 'incident.resolution_required', 'resolution and summary are required');
      addTimeline(inc.id, user.username, 'transition', { before: inc.status, after: b.to });
      inc.status = b.to;
      broadcast('incident.updated', incView(inc), inc.tenant);
      return json(res, 200, incView(inc));
    }
    if (sub === 'timeline') return json(res, 200, { items: db.timeline.get(inc.id) ?? [] });
    if (sub === 'sla' && (r[3] === 'pause' || r[3] === 'resume')) {
      const b = await jsonBody(req);
      inc.paused = r[3] === 'pause';
      inc.pause_reason = inc.paused ? (b.reason ?? null) : null;
      addTimeline(inc.id, user.username, `sla.${r[3]}d`, { detail: b.reason });
      return json(res, 200, incView(inc));
    }
    if (sub === 'custody') {
      const items = (db.evidence.get(inc.id) ?? []).map((e, i) => ({ seq: i + 1, at: e.uploaded_at, evidence_id: e.id, incident_id: inc.id, actor: e.uploaded_by, ip: '127.0.0.1', action: 'upload', reason: null, prev_hash: '', hash: e.sha256 }));
      return json(res, 200, { items, valid: true, problem: null });
    }
    if (sub === 'observables') {
      const list = db.observables.get(inc.id) ?? [];
      db.observables.set(inc.id, list);
      if (method === 'POST') {
        const o = { id: id('o'), ...(await jsonBody(req)) };
        list.push(o);
        addTimeline(inc.id, user.username, 'observable.added', { detail: `${o.type} ${o.value}` });
        return json(res, 201, o);
      }
      return json(res, 200, {
        items: list.map((o) => ({ ...o, sightings: [...db.observables.entries()].filter(([, l]) => l.some((x) => x.value === o.value)).map(([k]) => k) })),
      });
    }
    if (sub === 'tasks') {
      const list = db.tasks.get(inc.id) ?? [];
      db.tasks.set(inc.id, list);
      if (method === 'POST') {
        const t = { id: id('k'), status: 'open', ...(await jsonBody(req)) };
        list.push(t);
        return json(res, 201, t);
      }
      if (method === 'PATCH' && r[3]) {
        const t = list.find((x) => x.id === r[3]);
        Object.assign(t, await jsonBody(req));
        return json(res, 200, t);
      }
      return json(res, 200, { items: list });
    }
    if (sub === 'evidence') {
      const list = db.evidence.get(inc.id) ?? [];
      db.evidence.set(inc.id, list);
      if (method === 'POST') {
        const f = multipartFile(await body(req), req.headers['content-type']);
        if (!f) return problem(res, 422, 'evidence.no_file', 'multipart part "file" is required');
        const e = { id: id('e'), filename: f.filename, size: f.data.length, sha256: createHash('sha256').update(f.data).digest('hex'), uploaded_by: user.username, uploaded_at: now(), data: f.data };
        list.push(e);
        addTimeline(inc.id, user.username, 'evidence.added', { detail: `${e.filename} sha256:${e.sha256}` });
        const { data: _d, ...view } = e;
        return json(res, 201, view);
      }
      if (r[3]) {
        const e = list.find((x) => x.id === r[3]);
        res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
        return res.end(e.data);
      }
      return json(res, 200, { items: list.map(({ data: _d, ...v }) => v) });
    }
  }
  if (!admin && (p.startsWith('/api/v1/users') || (p.startsWith('/api/v1/tenants') && method !== 'GET'))) return problem(res, 403, 'auth.forbidden', 'admins only');
  if (p === '/api/v1/tenants') {
    if (method === 'POST') {
      const b = await jsonBody(req);
      if (db.tenants.some((t) => t.slug === b.slug)) return problem(res, 409, 'tenant.exists', 'exists');
      const t = { slug: b.slug, name: b.name || b.slug, created_at: now() };
      db.tenants.push(t);
      db.policies.set(t.slug, defaultPolicy());
      return json(res, 201, t);
    }
    return json(res, 200, { items: db.tenants.filter((t) => visible(user, t.slug)) });
  }
  if ((r = m(/^\/api\/v1\/tenants\/([^/]+)\/ingest-tokens(?:\/([^/]+))?$/))) {
    if (method === 'POST') {
      const b = await jsonBody(req);
      const t = { id: id('tok'), tenant: r[1], source: b.source, token: `crt_${randomBytes(20).toString('hex')}`, signed: !!b.signing_secret, created_at: now() };
      db.tokens.push(t);
      return json(res, 201, { id: t.id, token: t.token, source: t.source });
    }
    if (method === 'DELETE') {
      db.tokens = db.tokens.filter((t) => t.id !== r[2]);
      return json(res, 204);
    }
    return json(res, 200, { items: db.tokens.filter((t) => t.tenant === r[1]).map(({ token: _t, ...v }) => v) });
  }
  if ((r = m(/^\/api\/v1\/tenants\/([^/]+)\/sla-policy$/))) {
    if (method === 'PUT') db.policies.set(r[1], await jsonBody(req));
    return json(res, 200, db.policies.get(r[1]) ?? defaultPolicy());
  }
  if (p === '/api/v1/users') {
    if (method === 'POST') {
      const b = await jsonBody(req);
      const u = { id: id('u'), username: b.username, password: b.password, role: b.role, tenant: b.tenant ?? null, disabled: false, must_change_password: true, created_at: now() };
      db.users.push(u);
      return json(res, 201, { ...u, password: undefined });
    }
    return json(res, 200, { items: db.users.map(({ password: _p, ...u }) => u) });
  }
  if ((r = m(/^\/api\/v1\/users\/([^/]+)$/))) {
    const u = db.users.find((x) => x.id === r[1]);
    Object.assign(u, await jsonBody(req));
    return json(res, 200, { ...u, password: undefined });
  }
  return problem(res, 404, 'route.not_found', `no route ${method} ${p}`);
}

const MIME = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.png': 'image/png', '.json': 'application/json' };

const server = createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  try {
    if (url.pathname === '/healthz' || url.pathname === '/readyz') return json(res, 200, { status: 'ok' });
    if (url.pathname.startsWith('/api/')) return await api(req, res, url);
    const file = normalize(join(DIST, url.pathname));
    const path = file.startsWith(DIST) && existsSync(file) && statSync(file).isFile() ? file : join(DIST, 'index.html');
    if (!existsSync(path)) return problem(res, 404, 'ui.not_built', 'run npm run build first');
    res.writeHead(200, { 'Content-Type': MIME[extname(path)] ?? 'application/octet-stream' });
    res.end(readFileSync(path));
  } catch (e) {
    problem(res, 500, 'mock.error', String(e?.stack ?? e));
  }
});

server.on('upgrade', (req, socket) => {
  const url = new URL(req.url, 'http://x');
  const user = url.pathname === '/api/v1/ws' ? userOf(req, url) : null;
  if (!user) {
    socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n');
    return;
  }
  const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
  const entry = { socket, user };
  db.sockets.add(entry);
  socket.on('data', (buf) => {
    if ((buf[0] & 0x0f) === 0x8) socket.end();
  });
  socket.on('close', () => db.sockets.delete(entry));
  socket.on('error', () => db.sockets.delete(entry));
});

// --seed N: N synthetic alerts in tenant "default" (for trying the list at scale).
const seedAt = process.argv.indexOf('--seed');
if (seedAt > 0) {
  const n = Number(process.argv[seedAt + 1]);
  const t0 = Date.now();
  for (let i = 0; i < n; i += 1) {
    const at = new Date(t0 - i * 1000).toISOString();
    db.alerts.push({
      id: `seed${String(i).padStart(7, '0')}`, tenant: 'default', source: ['elastic', 'sentinel', 'splunk', 'syslog'][i % 4],
      title: `Synthetic alert ${i}: suspicious process on host-${i % 977}`, severity: SEV[i % 5], status: 'new', assignee: null,
      host: `host-${i % 977}`, rule: `rule-${i % 41}`, count: 1 + (i % 3), first_seen: at, last_seen: at, created_at: at, updated_at: at,
      tactics: [], techniques: [], observables: [], raw: {}, comments: [], history: [], storm: false, group: null, incident: null,
    });
  }
}

server.listen(Number(PORT), HOST, () => console.log(`mock corerecon on http://${HOST}:${PORT}`));
process.on('SIGTERM', () => process.exit(0));
