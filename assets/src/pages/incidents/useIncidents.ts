import { useCallback, useEffect, useState } from 'react';
import { api } from '../../api/client';
import type { Incident, LiveFrame } from '../../api/types';
import { useLiveFrames } from '../../state/live';

/** All incidents in scope (paged through), kept current from the live feed. */
export function useIncidents(tenant: string | null, q: string, severity: string[]) {
  const [items, setItems] = useState<Incident[]>([]);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<unknown>(null);
  const key = JSON.stringify([tenant, q, severity]);

  const load = useCallback(async () => {
    setLoading(true);
    try {
      const all: Incident[] = [];
      let cursor: string | null = null;
      // An MSP's active incidents fit in a few pages; stop at 2,000 to stay responsive.
      for (let i = 0; i < 4; i += 1) {
        const page = await api.listIncidents({ tenant, q: q || undefined, severity, limit: 500, cursor });
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

  useEffect(() => {
    void load();
  }, [load]);

  useLiveFrames((f: LiveFrame) => {
    if (f.type === 'resync') {
      void load();
      return;
    }
    if (f.type !== 'incident.created' && f.type !== 'incident.updated') return;
    const inc = f.data as Incident;
    if (!inc || typeof inc.id !== 'string') return;
    if (tenant && inc.tenant !== tenant) return;
    setItems((prev) => {
      const i = prev.findIndex((x) => x.id === inc.id);
      if (i < 0) return [inc, ...prev];
      const next = prev.slice();
      next[i] = { ...prev[i], ...inc };
      return next;
    });
  });

  return { items, loading, error, reload: load };
}
