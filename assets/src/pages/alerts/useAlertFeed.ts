import { useCallback, useEffect, useRef, useState } from 'react';
import { api } from '../../api/client';
import type { Alert, LiveFrame } from '../../api/types';
import { useLiveFrames } from '../../state/live';
import { matchesFilters, toQuery, type AlertFilters } from './alertFilters';

const PAGE = 500;

export interface AlertFeed {
  items: Alert[];
  loading: boolean;
  error: unknown;
  hasMore: boolean;
  loadMore: () => void;
  reload: () => void;
  /** apply a local change (after a PATCH or bulk action) without a round trip */
  patchLocal: (ids: string[], patch: Partial<Alert>) => void;
  replace: (alert: Alert) => void;
}

/** The alert list as filtered: cursor-paged from the API and kept current from the live feed. */
export function useAlertFeed(filters: AlertFilters, tenant: string | null): AlertFeed {
  const [items, setItems] = useState<Alert[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const generation = useRef(0);
  const loadingRef = useRef(false);
  const key = JSON.stringify([filters, tenant]);

  const fetchPage = useCallback(
    async (from: string | null, gen: number) => {
      loadingRef.current = true;
      setLoading(true);
      try {
        const page = await api.listAlerts({ ...toQuery(filters, tenant), limit: PAGE, cursor: from });
        if (gen !== generation.current) return;
        setItems((prev) => {
          if (!from) return page.items;
          const seen = new Set(prev.map((a) => a.id));
          return prev.concat(page.items.filter((a) => !seen.has(a.id)));
        });
        setCursor(page.next_cursor ?? null);
        setError(null);
      } catch (e) {
        if (gen === generation.current) setError(e);
      } finally {
        if (gen === generation.current) {
          loadingRef.current = false;
          setLoading(false);
        }
      }
    },
    [key],
  );

  const reload = useCallback(() => {
    generation.current += 1;
    setCursor(null);
    void fetchPage(null, generation.current);
  }, [fetchPage]);

  useEffect(() => {
    generation.current += 1;
    setItems([]);
    setCursor(null);
    void fetchPage(null, generation.current);
  }, [fetchPage]);

  const loadMore = useCallback(() => {
    if (cursor && !loadingRef.current) void fetchPage(cursor, generation.current);
  }, [cursor, fetchPage]);

  useLiveFrames((frame: LiveFrame) => {
    // The server could not replay everything missed while disconnected: start over.
    if (frame.type === 'resync') {
      reload();
      return;
    }
    if (frame.type !== 'alert.created' && frame.type !== 'alert.updated') return;
    const a = frame.data as Alert;
    if (!a || typeof a.id !== 'string') return;
    setItems((prev) => {
      const i = prev.findIndex((x) => x.id === a.id);
      if (i >= 0) {
        const next = prev.slice();
        next[i] = { ...prev[i], ...a };
        return next;
      }
      return matchesFilters(a, filters, tenant) ? [a, ...prev] : prev;
    });
  });

  const patchLocal = useCallback((ids: string[], patch: Partial<Alert>) => {
    const set = new Set(ids);
    setItems((prev) => prev.map((a) => (set.has(a.id) ? { ...a, ...patch } : a)));
  }, []);

  const replace = useCallback((alert: Alert) => {
    setItems((prev) => prev.map((a) => (a.id === alert.id ? { ...a, ...alert } : a)));
  }, []);

  return { items, loading, error, hasMore: cursor !== null, loadMore, reload, patchLocal, replace };
}
