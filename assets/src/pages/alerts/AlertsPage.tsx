import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { Alert as MuiAlert, Box, Checkbox, FormControlLabel, LinearProgress, Snackbar, Stack, Typography } from '@mui/material';
import { useNavigate, useParams, useSearchParams } from 'react-router-dom';
import { api, errorMessage } from '../../api/client';
import type { Alert, BulkAction } from '../../api/types';
import { canWrite, useMe } from '../../state/auth';
import { useTenantScope } from '../../state/tenant';
import { ErrorNotice } from '../../components/ErrorNotice';
import { AlertFilterBar } from './AlertFilterBar';
import { AlertList } from './AlertList';
import { AlertDetailDrawer } from './AlertDetailDrawer';
import { BulkActionBar } from './BulkActionBar';
import { filtersFromParams, filtersToParams, type AlertFilters } from './alertFilters';
import { useAlertFeed } from './useAlertFeed';
import { useTriageShortcuts } from './useTriageShortcuts';

const STATUS_AFTER: Partial<Record<BulkAction, Alert['status']>> = {
  acknowledge: 'acknowledged',
  close: 'closed',
  suppress: 'suppressed',
  reopen: 'new',
};

export default function AlertsPage() {
  const me = useMe();
  const { tenant, canSwitch } = useTenantScope();
  const { alertId } = useParams();
  const navigate = useNavigate();
  const [params, setParams] = useSearchParams();
  const filters = useMemo(() => filtersFromParams(params), [params]);
  const feed = useAlertFeed(filters, tenant);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [active, setActive] = useState(-1);
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState<{ text: string; error: boolean } | null>(null);
  const searchRef = useRef<HTMLInputElement>(null);
  const search = params.toString();

  const setFilters = useCallback((f: AlertFilters) => setParams(filtersToParams(f), { replace: true }), [setParams]);
  const hrefFor = useCallback((a: Alert) => `/alerts/${encodeURIComponent(a.id)}${search ? `?${search}` : ''}`, [search]);

  useEffect(() => {
    setSelected(new Set());
    setActive(-1);
  }, [filters, tenant]);

  const toggle = useCallback((id: string) => {
    setSelected((s) => {
      const n = new Set(s);
      if (n.has(id)) n.delete(id);
      else n.add(id);
      return n;
    });
  }, []);

  const runBulk = useCallback(
    async (ids: string[], action: BulkAction, extra: { assignee?: string; reason?: string }) => {
      if (!ids.length) return;
      setBusy(true);
      try {
        const res = await api.bulkAlerts(ids, action, extra);
        const ok = res.results.filter((r) => r.ok).map((r) => r.id);
        const failed = res.results.filter((r) => !r.ok);
        const patch: Partial<Alert> = action === 'assign' ? { assignee: extra.assignee ?? null } : { status: STATUS_AFTER[action] };
        feed.patchLocal(ok, patch);
        setSelected((s) => {
          const n = new Set(s);
          ok.forEach((id) => n.delete(id));
          return n;
        });
        setNotice({
          text: `${action}: ${ok.length} done${failed.length ? `, ${failed.length} failed` : ''}`,
          error: failed.length > 0,
        });
      } catch (e) {
        setNotice({ text: errorMessage(e), error: true });
      } finally {
        setBusy(false);
      }
    },
    [feed],
  );

  const open = useCallback((i: number) => {
    const a = feed.items[i];
    if (!a) return;
    setActive(i);
    navigate(hrefFor(a));
  }, [feed.items, navigate, hrefFor]);

  const writable = canWrite(me);
  useTriageShortcuts({
    next: () => {
      const i = Math.min(feed.items.length - 1, active + 1);
      setActive(i);
      if (alertId && feed.items[i]) navigate(hrefFor(feed.items[i]), { replace: true });
    },
    previous: () => {
      const i = Math.max(0, active - 1);
      setActive(i);
      if (alertId && feed.items[i]) navigate(hrefFor(feed.items[i]), { replace: true });
    },
    toggleSelect: () => {
      const a = feed.items[active];
      if (a) toggle(a.id);
    },
    acknowledge: () => {
      if (!writable) return;
      const ids = selected.size ? [...selected] : feed.items[active] ? [feed.items[active].id] : [];
      void runBulk(ids, 'acknowledge', {});
    },
    open: () => open(active),
    focusSearch: () => searchRef.current?.focus(),
  });

  const allSelected = feed.items.length > 0 && selected.size === feed.items.length;
  return (
    <Stack gap={1.5} sx={{ height: '100%' }}>
      <Stack direction="row" alignItems="baseline" justifyContent="space-between" flexWrap="wrap" gap={1}>
        <Typography variant="h5" component="h1">
          Alerts{tenant ? ` — ${tenant}` : ''}
        </Typography>
        <Typography variant="body2" color="text.secondary" data-testid="alert-count">
          {feed.items.length}
          {feed.hasMore ? '+' : ''} shown · <kbd>j</kbd>/<kbd>k</kbd> move · <kbd>x</kbd> select · <kbd>a</kbd> acknowledge ·{' '}
          <kbd>/</kbd> search
        </Typography>
      </Stack>
      <AlertFilterBar filters={filters} onChange={setFilters} searchRef={searchRef} />
      <ErrorNotice error={feed.error} />
      {writable && selected.size > 0 && (
        <BulkActionBar
          count={selected.size}
          busy={busy}
          defaultAssignee={me.username}
          onAction={(action, extra) => void runBulk([...selected], action, extra)}
          onClear={() => setSelected(new Set())}
        />
      )}
      <Stack direction="row" alignItems="center" gap={1}>
        {writable && (
          <FormControlLabel
            control={
              <Checkbox
                size="small"
                checked={allSelected}
                indeterminate={selected.size > 0 && !allSelected}
                onChange={() => setSelected(allSelected ? new Set() : new Set(feed.items.map((a) => a.id)))}
              />
            }
            label="Select all loaded"
            sx={{ ml: 0 }}
          />
        )}
        <Box sx={{ flex: 1 }}>{feed.loading && <LinearProgress aria-label="Loading alerts" />}</Box>
      </Stack>
      <AlertList
        alerts={feed.items}
        activeIndex={active}
        selected={selected}
        showTenant={canSwitch && !tenant}
        hrefFor={hrefFor}
        onToggle={toggle}
        onActivate={open}
        onEndReached={feed.loadMore}
      />
      <AlertDetailDrawer
        alertId={alertId ?? null}
        onClose={() => navigate(`/alerts${search ? `?${search}` : ''}`)}
        onChanged={feed.replace}
      />
      <Snackbar open={!!notice} autoHideDuration={5000} onClose={() => setNotice(null)} anchorOrigin={{ vertical: 'bottom', horizontal: 'left' }}>
        {notice ? (
          <MuiAlert severity={notice.error ? 'warning' : 'success'} variant="filled" onClose={() => setNotice(null)} data-testid="bulk-result">
            {notice.text}
          </MuiAlert>
        ) : undefined}
      </Snackbar>
    </Stack>
  );
}
