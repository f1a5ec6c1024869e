// The one typed client of the CoreRecon API. Every route the dashboard calls is a
// function here, so a renamed field or route is one edit.
import type {
  Alert,
  AlertQuery,
  BulkAction,
  BulkResult,
  CreatedIngestToken,
  CustodyChain,
  DashboardSummary,
  Evidence,
  Incident,
  IncidentObservable,
  IncidentPatch,
  IncidentQuery,
  IncidentTask,
  IncidentTemplate,
  IngestSource,
  IngestToken,
  Me,
  MergeRequest,
  NewIncident,
  NewUser,
  Page,
  Problem,
  Role,
  SlaPolicy,
  SlaStatus,
  Tenant,
  TimelineEntry,
  TokenPair,
  TransitionRequest,
  User,
} from './types';

const BASE = '/api/v1';

type Loose = Record<string, unknown>;
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const bool = (v: unknown): boolean | undefined => (typeof v === 'boolean' ? v : undefined);

/**
 * The SLA block as the dashboard reads it. The appliance names the warning instants
 * `acknowledge_warn_at`/`resolve_warn_at` and the summary word `status`; the contract
 * text says `warn_acknowledge_at`/`warn_resolve_at` and `state`. Both are accepted here.
 */
export function normalizeSla(raw: unknown): SlaStatus | null {
  if (!raw || typeof raw !== 'object') return null;
  const r = raw as Loose;
  const state = (str(r.state) ?? str(r.status) ?? 'ok') as SlaStatus['state'];
  const metOrNull = (v: unknown) => (typeof v === 'boolean' ? v : null);
  return {
    acknowledge_due: str(r.acknowledge_due),
    resolve_due: str(r.resolve_due),
    warn_acknowledge_at: str(r.warn_acknowledge_at) ?? str(r.acknowledge_warn_at),
    warn_resolve_at: str(r.warn_resolve_at) ?? str(r.resolve_warn_at),
    state,
    paused: bool(r.paused) ?? state === 'paused',
    pause_reason: str(r.pause_reason),
    acknowledged_met: metOrNull(r.acknowledged_met),
    resolved_met: metOrNull(r.resolved_met),
    warned_ack: bool(r.warned_ack),
    warned_resolve: bool(r.warned_resolve),
    breached_ack: bool(r.breached_ack),
    breached_resolve: bool(r.breached_resolve),
  };
}

export function normalizeIncident(raw: Incident): Incident {
  return { ...raw, sla: normalizeSla(raw.sla) };
}

const incidentPage = (p: Page<Incident>): Page<Incident> => ({ ...p, items: p.items.map(normalizeIncident) });
const STORAGE_KEY = 'corerecon.session';

/** An HTTP error carrying the server's problem+json body. */
export class ApiError extends Error {
  readonly status: number;
  readonly code?: string;
  readonly problem: Problem;

  constructor(status: number, problem: Problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = problem.code;
    this.problem = problem;
  }
}

/** A human sentence for any error thrown by the client. */
export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) {
    const what = err.problem.title && err.problem.detail ? `${err.problem.title}: ${err.problem.detail}` : err.message;
    return err.code ? `${what} (${err.code})` : what;
  }
  if (err instanceof Error) return err.message;
  return String(err);
}

interface StoredSession {
  access: string;
  refresh: string;
  /** epoch ms when the access token expires */
  expiresAt: number;
}

type SessionListener = (signedIn: boolean) => void;

/**
 * Holds the token pair, refreshes it before it expires (and once on a 401), and tells
 * listeners when the session ends. The pair lives in sessionStorage: a reload keeps the
 * analyst signed in, closing the tab does not.
 */
class Session {
  private current: StoredSession | null = null;
  private refreshing: Promise<boolean> | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private listeners = new Set<SessionListener>();

  constructor() {
    try {
      const raw = sessionStorage.getItem(STORAGE_KEY);
      if (raw) this.current = JSON.parse(raw) as StoredSession;
    } catch {
      this.current = null;
    }
    if (this.current) this.schedule();
  }

  get accessToken(): string | null {
    return this.current?.access ?? null;
  }

  get signedIn(): boolean {
    return this.current !== null;
  }

  onChange(fn: SessionListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  set(pair: TokenPair): void {
    const ttl = Number.isFinite(pair.expires_in) && pair.expires_in > 0 ? pair.expires_in : 900;
    this.current = { access: pair.access_token, refresh: pair.refresh_token, expiresAt: Date.now() + ttl * 1000 };
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(this.current));
    this.schedule();
    this.listeners.forEach((l) => l(true));
  }

  clear(): void {
    const had = this.current !== null;
    this.current = null;
    sessionStorage.removeItem(STORAGE_KEY);
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (had) this.listeners.forEach((l) => l(false));
  }

  /** Refreshes the pair once even when many callers ask at the same time. */
  refresh(): Promise<boolean> {
    if (!this.current) return Promise.resolve(false);
    if (!this.refreshing) {
      const token = this.current.refresh;
      this.refreshing = fetch(`${BASE}/auth/refresh`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify({ refresh_token: token }),
      })
        .then(async (res) => {
          if (!res.ok) {
            // Spent, revoked or unknown: the session is over. A 5xx (a restarting
            // appliance) keeps it, and the next call tries again.
            if (res.status >= 400 && res.status < 500) this.clear();
            return false;
          }
          this.set((await res.json()) as TokenPair);
          return true;
        })
        .catch(() => false)
        .finally(() => {
          this.refreshing = null;
        });
    }
    return this.refreshing;
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    if (!this.current) return;
    // Refresh a minute before expiry (or at 80% of a short lifetime).
    const left = this.current.expiresAt - Date.now();
    const wait = Math.max(5_000, Math.min(left - 60_000, left * 0.8));
    this.timer = setTimeout(() => void this.refresh(), wait);
  }
}

export const session = new Session();

type QueryValue = string | number | boolean | null | undefined | string[];

function queryString(params: Record<string, QueryValue>): string {
  const sp = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '') continue;
    if (Array.isArray(v)) {
      if (v.length) sp.set(k, v.join(','));
    } else {
      sp.set(k, String(v));
    }
  }
  const s = sp.toString();
  return s ? `?${s}` : '';
}

interface RequestOptions {
  query?: Record<string, QueryValue>;
  json?: unknown;
  form?: FormData;
  /** return the raw Response (downloads) */
  raw?: boolean;
  anonymous?: boolean;
}

async function parseProblem(res: Response): Promise<Problem> {
  const text = await res.text().catch(() => '');
  if (text) {
    try {
      return JSON.parse(text) as Problem;
    } catch {
      return { status: res.status, title: res.statusText, detail: text.slice(0, 300) };
    }
  }
  return { status: res.status, title: res.statusText || `HTTP ${res.status}` };
}

async function request<T>(method: string, path: string, opts: RequestOptions = {}, retried = false): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  const token = session.accessToken;
  if (token && !opts.anonymous) headers.Authorization = `Bearer ${token}`;
  let body: BodyInit | undefined;
  if (opts.form) body = opts.form;
  else if (opts.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.json);
  }
  const res = await fetch(`${BASE}${path}${opts.query ? queryString(opts.query) : ''}`, { method, headers, body });
  if (res.status === 401 && !opts.anonymous && !retried && session.signedIn) {
    if (await session.refresh()) return request<T>(method, path, opts, true);
    session.clear();
  }
  if (!res.ok) throw new ApiError(res.status, await parseProblem(res));
  if (opts.raw) return res as unknown as T;
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

function alertQuery(q: AlertQuery): Record<string, QueryValue> {
  return {
    status: q.status,
    severity: q.severity,
    source: q.source,
    tenant: q.tenant,
    assignee: q.assignee,
    q: q.q,
    since: q.since,
    until: q.until,
    limit: q.limit,
    cursor: q.cursor,
  };
}

const enc = encodeURIComponent;

export const api = {
  // --- auth ---------------------------------------------------------------------------
  async login(username: string, password: string): Promise<void> {
    const pair = await request<TokenPair>('POST', '/auth/login', { json: { username, password }, anonymous: true });
    session.set(pair);
  },
  async logout(): Promise<void> {
    try {
      await request<void>('POST', '/auth/logout');
    } finally {
      session.clear();
    }
  },
  me: () => request<Me>('GET', '/auth/me'),
  changePassword: (current_password: string, new_password: string) =>
    request<void>('POST', '/auth/password', { json: { current_password, new_password } }),

  // --- alerts -------------------------------------------------------------------------
  listAlerts: (q: AlertQuery) => request<Page<Alert>>('GET', '/alerts', { query: alertQuery(q) }),
  getAlert: (id: string) => request<Alert>('GET', `/alerts/${enc(id)}`),
  patchAlert: (id: string, patch: { status?: string; assignee?: string | null; severity?: string }) =>
    request<Alert>('PATCH', `/alerts/${enc(id)}`, { json: patch }),
  bulkAlerts: (ids: string[], action: BulkAction, extra: { assignee?: string; reason?: string } = {}) =>
    request<BulkResult>('POST', '/alerts/bulk', { json: { ids, action, ...extra } }),
  commentAlert: (id: string, text: string) => request<unknown>('POST', `/alerts/${enc(id)}/comments`, { json: { text } }),
  alertGroup: (id: string) => request<Page<Alert>>('GET', `/alerts/${enc(id)}/group`),
  escalateAlert: (id: string, incident_id?: string) =>
    request<Incident>('POST', `/alerts/${enc(id)}/escalate`, { json: incident_id ? { incident_id } : {} }).then(normalizeIncident),

  // --- incidents ----------------------------------------------------------------------
  listIncidents: (q: IncidentQuery) =>
    request<Page<Incident>>('GET', '/incidents', {
      query: {
        status: q.status,
        severity: q.severity,
        tenant: q.tenant,
        assignee: q.assignee,
        q: q.q,
        limit: q.limit,
        cursor: q.cursor,
      },
    }).then(incidentPage),
  createIncident: (body: NewIncident) => request<Incident>('POST', '/incidents', { json: body }).then(normalizeIncident),
  /** The shipped templates (phishing, ransomware, ...), each with the tasks it pre-fills. */
  incidentTemplates: () => request<Page<IncidentTemplate>>('GET', '/incident-templates'),
  getIncident: (id: string) => request<Incident>('GET', `/incidents/${enc(id)}`).then(normalizeIncident),
  patchIncident: (id: string, patch: IncidentPatch) =>
    request<Incident>('PATCH', `/incidents/${enc(id)}`, { json: patch }).then(normalizeIncident),
  transitionIncident: (id: string, body: TransitionRequest) =>
    request<Incident>('POST', `/incidents/${enc(id)}/transition`, { json: body }).then(normalizeIncident),
  /** Folds `source` into `target`: the target survives (and is returned), the source is closed as a duplicate. */
  mergeIncident: (target: string, source: string) =>
    request<Incident>('POST', `/incidents/${enc(target)}/merge`, { json: { source } satisfies MergeRequest }).then(normalizeIncident),
  pauseSla: (id: string, reason?: string) =>
    request<Incident>('POST', `/incidents/${enc(id)}/sla/pause`, { json: reason ? { reason } : {} }).then(normalizeIncident),
  resumeSla: (id: string) => request<Incident>('POST', `/incidents/${enc(id)}/sla/resume`, { json: {} }).then(normalizeIncident),
  custody: (id: string) => request<CustodyChain>('GET', `/incidents/${enc(id)}/custody`),
  incidentTimeline: (id: string) => request<Page<TimelineEntry>>('GET', `/incidents/${enc(id)}/timeline`),
  incidentObservables: (id: string) => request<Page<IncidentObservable>>('GET', `/incidents/${enc(id)}/observables`),
  addObservable: (id: string, body: Omit<IncidentObservable, 'id' | 'sightings'>) =>
    request<IncidentObservable>('POST', `/incidents/${enc(id)}/observables`, { json: body }),
  incidentTasks: (id: string) => request<Page<IncidentTask>>('GET', `/incidents/${enc(id)}/tasks`),
  addTask: (id: string, body: { title: string; assignee?: string; due?: string }) =>
    request<IncidentTask>('POST', `/incidents/${enc(id)}/tasks`, { json: body }),
  patchTask: (id: string, tid: string, patch: Partial<Omit<IncidentTask, 'id'>>) =>
    request<IncidentTask>('PATCH', `/incidents/${enc(id)}/tasks/${enc(tid)}`, { json: patch }),
  incidentEvidence: (id: string) => request<Page<Evidence>>('GET', `/incidents/${enc(id)}/evidence`),
  uploadEvidence: (id: string, file: File, reason?: string) => {
    const form = new FormData();
    form.append('file', file, file.name);
    if (reason) form.append('reason', reason);
    return request<Pick<Evidence, 'id' | 'sha256' | 'size' | 'filename'>>('POST', `/incidents/${enc(id)}/evidence`, {
      form,
    });
  },
  downloadEvidence: (id: string, eid: string) =>
    request<Response>('GET', `/incidents/${enc(id)}/evidence/${enc(eid)}`, { raw: true }),

  // --- dashboard ----------------------------------------------------------------------
  summary: (range: '24h' | '7d', tenant?: string | null) =>
    request<DashboardSummary>('GET', '/dashboard/summary', { query: { range, tenant } }),

  // --- administration -----------------------------------------------------------------
  /** Snapshots of the appliance's supervised actors (directories, hub, connectors). */
  actors: () => request<Record<string, unknown>>('GET', '/admin/actors'),
  listTenants: () => request<Page<Tenant>>('GET', '/tenants'),
  createTenant: (slug: string, name: string) => request<Tenant>('POST', '/tenants', { json: { slug, name } }),
  listUsers: () => request<Page<User>>('GET', '/users'),
  createUser: (body: NewUser) => request<User>('POST', '/users', { json: body }),
  patchUser: (id: string, patch: { role?: Role; password?: string; disabled?: boolean }) =>
    request<User>('PATCH', `/users/${enc(id)}`, { json: patch }),
  deleteUser: (id: string) => request<void>('DELETE', `/users/${enc(id)}`),
  listIngestTokens: (tenant: string) => request<Page<IngestToken>>('GET', `/tenants/${enc(tenant)}/ingest-tokens`),
  createIngestToken: (tenant: string, source: IngestSource, signing_secret?: string) =>
    request<CreatedIngestToken>('POST', `/tenants/${enc(tenant)}/ingest-tokens`, {
      json: signing_secret ? { source, signing_secret } : { source },
    }),
  revokeIngestToken: (tenant: string, id: string) =>
    request<void>('DELETE', `/tenants/${enc(tenant)}/ingest-tokens/${enc(id)}`),
  getSlaPolicy: (tenant: string) => request<SlaPolicy>('GET', `/tenants/${enc(tenant)}/sla-policy`),
  putSlaPolicy: (tenant: string, policy: SlaPolicy) =>
    request<SlaPolicy>('PUT', `/tenants/${enc(tenant)}/sla-policy`, { json: policy }),
};

/** The WebSocket URL of the live feed, resuming after `since` when given. */
export function liveFeedUrl(accessToken: string, since?: number): string {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const q = new URLSearchParams({ access_token: accessToken });
  if (since !== undefined) q.set('since', String(since));
  return `${proto}//${location.host}${BASE}/ws?${q.toString()}`;
}
