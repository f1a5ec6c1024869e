// Wire types of the CoreRecon REST API (contract v1). Every field name the dashboard
// reads from the server is spelled here once.

export const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'] as const;
export type Severity = (typeof SEVERITIES)[number];

export const ALERT_STATUSES = ['new', 'acknowledged', 'in_progress', 'closed', 'suppressed'] as const;
export type AlertStatus = (typeof ALERT_STATUSES)[number];

export const INCIDENT_STATES = [
  'new',
  'acknowledged',
  'investigating',
  'contained',
  'eradicated',
  'recovered',
  'resolved',
  'closed',
] as const;
export type IncidentState = (typeof INCIDENT_STATES)[number];

export const SOURCES = ['elastic', 'sentinel', 'splunk', 'generic', 'hec', 'syslog'] as const;
export type IngestSource = (typeof SOURCES)[number];

export const ROLES = ['admin', 'analyst', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

export const TLPS = ['clear', 'green', 'amber', 'amber+strict', 'red'] as const;
export type Tlp = (typeof TLPS)[number];

export const RESOLUTIONS = ['true_positive', 'false_positive', 'benign', 'duplicate'] as const;
export type Resolution = (typeof RESOLUTIONS)[number];

export type Priority = 'p1' | 'p2' | 'p3' | 'p4';

export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
}

export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  code?: string;
  detail?: string;
}

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  token_type: string;
  expires_in: number;
}

export interface Me {
  id: string;
  username: string;
  role: Role;
  tenant: string | null;
  must_change_password: boolean;
}

export interface Observable {
  type: string;
  value: string;
}

export interface AlertComment {
  id: string;
  author: string;
  at: string;
  text: string;
}

export interface HistoryEntry {
  at: string;
  actor: string;
  action: string;
  before?: unknown;
  after?: unknown;
  detail?: unknown;
}

export interface Alert {
  id: string;
  tenant: string;
  source: string;
  source_ref?: string | null;
  source_link?: string | null;
  title: string;
  description?: string | null;
  severity: Severity;
  status: AlertStatus;
  assignee?: string | null;
  rule?: string | null;
  category?: string | null;
  host?: string | null;
  user?: string | null;
  src_ip?: string | null;
  dst_ip?: string | null;
  src_port?: number | null;
  dst_port?: number | null;
  tactics?: string[];
  techniques?: string[];
  observables?: Observable[];
  first_seen?: string;
  last_seen?: string;
  count?: number;
  fingerprint?: string | null;
  group?: string | null;
  incident?: string | null;
  storm?: boolean;
  raw?: unknown;
  comments?: AlertComment[];
  history?: HistoryEntry[];
  created_at?: string;
  updated_at?: string;
}

export interface AlertQuery {
  status?: string[];
  severity?: string[];
  source?: string[];
  tenant?: string | null;
  assignee?: string;
  q?: string;
  since?: string;
  until?: string;
  limit?: number;
  cursor?: string | null;
}

export type BulkAction = 'acknowledge' | 'assign' | 'close' | 'suppress' | 'reopen';

export interface BulkResult {
  results: { id: string; ok: boolean; error?: string | Problem | null }[];
}

export const OBSERVABLE_KINDS = ['ip', 'domain', 'url', 'md5', 'sha1', 'sha256', 'email', 'filename', 'user', 'host'] as const;

/** An incident's SLA clocks, as normalised by the client (see `normalizeSla`). */
export interface SlaStatus {
  acknowledge_due?: string | null;
  resolve_due?: string | null;
  warn_acknowledge_at?: string | null;
  warn_resolve_at?: string | null;
  state: 'ok' | 'warning' | 'breached' | 'met' | 'paused';
  paused?: boolean;
  pause_reason?: string | null;
  /** per clock, when the server says: null while running, then whether it was met */
  acknowledged_met?: boolean | null;
  resolved_met?: boolean | null;
  warned_ack?: boolean;
  warned_resolve?: boolean;
  breached_ack?: boolean;
  breached_resolve?: boolean;
}

export interface Incident {
  id: string;
  tenant: string;
  title: string;
  description?: string | null;
  severity: Severity;
  priority?: Priority | null;
  status: IncidentState;
  assignee?: string | null;
  alerts?: string[];
  techniques?: string[];
  tags?: string[];
  resolution?: string | null;
  summary?: string | null;
  created_at: string;
  updated_at?: string;
  allowed_transitions?: IncidentState[];
  sla?: SlaStatus | null;
  /** set once this incident was folded into another one (it is then closed as a duplicate) */
  merged_into?: string | null;
  closed_at?: string | null;
}

/** The states an incident can still be worked in (every state but `closed`). */
export const OPEN_INCIDENT_STATES: IncidentState[] = INCIDENT_STATES.filter((s) => s !== 'closed');

export interface IncidentQuery {
  status?: string[];
  severity?: string[];
  tenant?: string | null;
  assignee?: string;
  q?: string;
  limit?: number;
  cursor?: string | null;
}

export interface NewIncident {
  title: string;
  description?: string;
  severity: Severity;
  tenant?: string;
  assignee?: string;
  tags?: string[];
  /** a template's category (`phishing`, `ransomware`, ...): its tasks and tags are added */
  template?: string;
}

/** One step of an incident template; `due_after_s` counts from the incident's creation. */
export interface TemplateTask {
  title: string;
  due_after_s?: number | null;
}

/** A response playbook per category, as `GET /incident-templates` lists them. */
export interface IncidentTemplate {
  category: string;
  title: string;
  severity: Severity;
  tags: string[];
  tasks: TemplateTask[];
}

/** `POST /incidents/{id}/merge`: `source` is folded into `{id}` and closed as a duplicate. */
export interface MergeRequest {
  source: string;
}

export interface IncidentPatch {
  title?: string;
  description?: string;
  severity?: Severity;
  priority?: Priority;
  assignee?: string | null;
  tags?: string[];
}

export interface TransitionRequest {
  to: IncidentState;
  note?: string;
  resolution?: Resolution;
  summary?: string;
}

export interface TimelineEntry {
  id: string;
  at: string;
  actor: string;
  action: string;
  detail?: unknown;
  before?: unknown;
  after?: unknown;
}

export interface IncidentObservable {
  id?: string;
  type: string;
  value: string;
  tlp: Tlp;
  pap?: string | null;
  ioc?: boolean;
  sightings?: string[];
}

export interface IncidentTask {
  id: string;
  title: string;
  assignee?: string | null;
  due?: string | null;
  status: 'open' | 'done';
}

export interface Evidence {
  id: string;
  filename: string;
  size: number;
  sha256: string;
  uploaded_by?: string;
  uploaded_at?: string;
}

export interface CountByKey {
  key: string;
  count: number;
}

export type SeverityCounts = Record<Severity, number>;

export interface TrendBucket extends Partial<SeverityCounts> {
  t: string | number;
}

export interface DropRow {
  tenant: string;
  source: string;
  reason: string;
  count: number;
  last_at?: string | null;
}

export interface DashboardSummary {
  alerts: { open_total: number; open_by_severity: Partial<SeverityCounts> };
  incidents: { open_total: number; by_state: Partial<Record<IncidentState, number>> };
  mtta_s: number | null;
  mttr_s: number | null;
  sla_breaches: number;
  trend: { bucket_s: number; buckets: TrendBucket[] };
  top: { sources: CountByKey[]; hosts: CountByKey[]; rules: CountByKey[] };
  drops: DropRow[];
}

export interface Tenant {
  slug: string;
  name: string;
  created_at?: string;
}

export interface User {
  id: string;
  username: string;
  role: Role;
  tenant: string | null;
  disabled?: boolean;
  created_at?: string;
}

export interface NewUser {
  username: string;
  password: string;
  role: Role;
  tenant?: string;
}

export interface IngestToken {
  id: string;
  source: IngestSource;
  signed?: boolean;
  created_at?: string;
}

export interface CreatedIngestToken {
  id: string;
  token: string;
  source: IngestSource;
}

export interface SlaTarget {
  acknowledge_s: number;
  resolve_s: number;
  warn_ratio: number;
}

export type SlaPolicy = Record<Severity, SlaTarget>;

export type LiveFrameType =
  | 'alert.created'
  | 'alert.updated'
  | 'incident.created'
  | 'incident.updated'
  | 'sla.warning'
  | 'sla.breached'
  /** sent once on connect, with the current sequence number */
  | 'hello'
  /** the server could not replay what was missed: reload lists */
  | 'resync';

export interface LiveFrame {
  type: LiveFrameType | string;
  seq?: number;
  at?: string;
  tenant?: string;
  data: unknown;
}

export interface CustodyEntry {
  seq: number;
  at: string;
  evidence_id: string;
  incident_id: string;
  actor: string;
  ip?: string | null;
  action: string;
  reason?: string | null;
  prev_hash: string;
  hash: string;
}

export interface CustodyChain {
  items: CustodyEntry[];
  valid: boolean;
  problem?: string | null;
}
