// The alert list's filters: read from and written to the URL so every view is a deep link.
import type { Alert, AlertQuery } from '../../api/types';

export const TIME_RANGES = ['1h', '24h', '7d', '30d', 'all'] as const;
export type TimeRange = (typeof TIME_RANGES)[number];
const RANGE_SECONDS: Record<TimeRange, number | null> = { '1h': 3600, '24h': 86400, '7d': 604800, '30d': 2592000, all: null };

export const OPEN_STATUSES = ['new', 'acknowledged', 'in_progress'];

export interface AlertFilters {
  severity: string[];
  status: string[];
  source: string[];
  assignee: string;
  q: string;
  range: TimeRange;
}

const list = (v: string | null) => (v ? v.split(',').filter(Boolean) : []);

export function filtersFromParams(sp: URLSearchParams): AlertFilters {
  const range = sp.get('range') as TimeRange | null;
  return {
    severity: list(sp.get('severity')),
    // No status in the URL means the open queue; "any" lists every status.
    status: sp.get('status') === 'any' ? [] : sp.has('status') ? list(sp.get('status')) : OPEN_STATUSES,
    source: list(sp.get('source')),
    assignee: sp.get('assignee') ?? '',
    q: sp.get('q') ?? '',
    range: range && TIME_RANGES.includes(range) ? range : 'all',
  };
}

export function filtersToParams(f: AlertFilters): URLSearchParams {
  const sp = new URLSearchParams();
  if (f.severity.length) sp.set('severity', f.severity.join(','));
  const open = f.status.length === OPEN_STATUSES.length && OPEN_STATUSES.every((s) => f.status.includes(s));
  if (!open) sp.set('status', f.status.length ? f.status.join(',') : 'any');
  if (f.source.length) sp.set('source', f.source.join(','));
  if (f.assignee) sp.set('assignee', f.assignee);
  if (f.q) sp.set('q', f.q);
  if (f.range !== 'all') sp.set('range', f.range);
  return sp;
}

export function toQuery(f: AlertFilters, tenant: string | null): AlertQuery {
  const secs = RANGE_SECONDS[f.range];
  return {
    severity: f.severity,
    status: f.status,
    source: f.source,
    assignee: f.assignee || undefined,
    q: f.q || undefined,
    tenant,
    since: secs ? new Date(Date.now() - secs * 1000).toISOString() : undefined,
  };
}

/** Whether a live alert belongs in the list as currently filtered (a close approximation of the server's search). */
export function matchesFilters(a: Alert, f: AlertFilters, tenant: string | null): boolean {
  if (tenant && a.tenant !== tenant) return false;
  if (f.severity.length && !f.severity.includes(a.severity)) return false;
  if (f.status.length && !f.status.includes(a.status)) return false;
  if (f.source.length && !f.source.includes(a.source)) return false;
  if (f.assignee && a.assignee !== f.assignee) return false;
  if (f.q) {
    const hay = [a.title, a.description, a.host, a.user, a.rule, a.category, a.src_ip, a.dst_ip, a.source, a.id]
      .filter(Boolean)
      .join(' ')
      .toLowerCase();
    if (!f.q.toLowerCase().split(/\s+/).filter(Boolean).every((term) => hay.includes(term.replace(/^"|"$/g, '')))) return false;
  }
  return true;
}
