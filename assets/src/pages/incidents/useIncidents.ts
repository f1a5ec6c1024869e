import { useCallback, useEffect, useState } from 'react';
import { api, normalizeIncident } from '../../api/client';
import type { Incident, LiveFrame } from '../../api/types';
import { useLiveFrames } from '../../state/live';

/** All incidents in scope (paged through), kept current from the live feed. */
export function useIncidents(tenant: string | null, q: string, severity: string[], status: string[] = []) {
  const [items, setItems] = useState<Incident[]>([]);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<unknown>(null);
  const key = JSON.stringify([tenant, q, severity, status]);

  const load = useCallback(async () => {
    setLoading(true);
    try {
      const all: Incident[] = [];
      let cursor: string | null = null;
      // An MSP's active incidents fit in a few pages; stop at 2,000 to stay responsive.
      for (let i = 0; i < 4; i += 1) {
        const page = await api.listIncidents({ tenant, q: q || undefined, severity, status, limit: 500, cursor });
        all.push(...page.items);
        cursor = page.next_cursor ?? null;
        if (!cursor) break;
      }
      setItems(all);
      setError(null);
    } catch (e) {
      setError(e);
    } finally {
      setLoading(false);
    }
  }, [key]);

  // Live frames keep the board current; a slow poll covers whatever the feed does not carry.
  useEffect(() => {
    void load();
    const t = setInterval(() => void load(), 30_000);
    return () => clearInterval(t);
  }, [load]);

  useLiveFrames((f: LiveFrame) => {
    if (f.type === 'resync') {
      void load();
      return;
    }
    if (!f.type.startsWith('incident.')) return;
    if (tenant && f.tenant && f.tenant !== tenant) return;
    const d = (f.data ?? {}) as Partial<Incident> & { incident_id?: string };
    const upsert = (inc: Incident) => {
      if (tenant && inc.tenant !== tenant) return;
      setItems((prev) => {
        const i = prev.findIndex((x) => x.id === inc.id);
        if (i < 0) return [inc, ...prev];
        const next = prev.slice();
        next[i] = { ...prev[i], ...inc };
        return next;
      });
    };
    // A frame carrying the whole incident is applied as is; a smaller one names the
    // incident, which is then read back.
    if (typeof d.id === 'string' && typeof d.title === 'string' && typeof d.status === 'string') upsert(normalizeIncident(d as Incident));
    else {
      const id = typeof d.incident_id === 'string' ? d.incident_id : typeof d.id === 'string' ? d.id : null;
      if (id) api.getIncident(id).then(upsert, () => undefined);
    }
  });

  return { items, loading, error, reload: load };
}
