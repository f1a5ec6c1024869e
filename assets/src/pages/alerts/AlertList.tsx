import { memo, useEffect, useRef, type MouseEvent } from 'react';
import { Box, Checkbox, Chip, Link, Stack, Tooltip, Typography } from '@mui/material';
import { useVirtualizer } from '@tanstack/react-virtual';
import { Link as RouterLink } from 'react-router-dom';
import type { Alert } from '../../api/types';
import { SeverityChip } from '../../components/SeverityChip';
import { StatusChip } from '../../components/StatusChip';
import { relativeTime } from '../../format';

const ROW_HEIGHT = 60;

interface RowProps {
  alert: Alert;
  index: number;
  total: number;
  active: boolean;
  selected: boolean;
  showTenant: boolean;
  href: string;
  offset: number;
  onToggle: (id: string) => void;
  onActivate: (index: number) => void;
}

const AlertRow = memo(function AlertRow({ alert: a, index, total, active, selected, showTenant, href, offset, onToggle, onActivate }: RowProps) {
  return (
    <Box
      role="listitem"
      aria-posinset={index + 1}
      aria-setsize={total}
      aria-current={active ? 'true' : undefined}
      data-alert-id={a.id}
      data-testid="alert-row"
      onClick={(e: MouseEvent) => {
        if ((e.target as HTMLElement).closest('input,a,button')) return;
        onActivate(index);
      }}
      sx={{
        position: 'absolute',
        top: 0,
        left: 0,
        width: '100%',
        transform: `translateY(${offset}px)`,
        display: 'flex',
        alignItems: 'center',
        gap: 1,
        height: ROW_HEIGHT,
        px: 1,
        borderBottom: 1,
        borderColor: 'divider',
        cursor: 'pointer',
        bgcolor: active ? 'action.selected' : selected ? 'action.hover' : 'transparent',
        boxShadow: active ? (t) => `inset 3px 0 0 ${t.palette.primary.main}` : 'none',
        '&:hover': { bgcolor: 'action.hover' },
      }}
    >
      <Checkbox
        size="small"
        checked={selected}
        onChange={() => onToggle(a.id)}
        slotProps={{ input: { 'aria-label': `Select alert ${a.title}` } }}
      />
      <SeverityChip severity={a.severity} />
      <Box sx={{ flex: 1, minWidth: 0 }}>
        <Link
          component={RouterLink}
          to={href}
          underline="hover"
          color="text.primary"
          sx={{ fontWeight: a.status === 'new' ? 700 : 400, display: 'block', overflow: 'hidden', textOverflow: 'ellipsis', whiteSpace: 'nowrap' }}
        >
          {a.title}
        </Link>
        <Typography variant="caption" color="text.secondary" noWrap component="div">
          {[showTenant ? a.tenant : null, a.source, a.host, a.rule].filter(Boolean).join(' · ')}
        </Typography>
      </Box>
      {a.storm && <Chip size="small" color="warning" label="Storm" />}
      {a.count !== undefined && a.count > 1 && (
        <Tooltip title={`${a.count} occurrences`}>
          <Chip size="small" variant="outlined" label={`×${a.count}`} />
        </Tooltip>
      )}
      <StatusChip status={a.status} />
      <Typography variant="body2" color="text.secondary" noWrap sx={{ width: 96, display: { xs: 'none', md: 'block' } }}>
        {a.assignee ?? 'Unassigned'}
      </Typography>
      <Typography variant="body2" color="text.secondary" noWrap sx={{ width: 84, textAlign: 'right' }}>
        {relativeTime(a.last_seen ?? a.created_at)}
      </Typography>
    </Box>
  );
});

interface Props {
  alerts: Alert[];
  activeIndex: number;
  selected: Set<string>;
  showTenant: boolean;
  hrefFor: (a: Alert) => string;
  onToggle: (id: string) => void;
  onActivate: (index: number) => void;
  onEndReached: () => void;
}

/** The triage queue: a virtualised list that renders only the rows on screen, smooth at 100k alerts. */
export function AlertList({ alerts, activeIndex, selected, showTenant, hrefFor, onToggle, onActivate, onEndReached }: Props) {
  const parentRef = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: alerts.length,
    getScrollElement: () => parentRef.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 10,
    getItemKey: (i) => alerts[i]?.id ?? i,
  });
  const rows = virtualizer.getVirtualItems();
  const last = rows.length ? rows[rows.length - 1].index : -1;

  useEffect(() => {
    if (last >= alerts.length - 50) onEndReached();
  }, [last, alerts.length, onEndReached]);

  useEffect(() => {
    if (activeIndex >= 0 && activeIndex < alerts.length) virtualizer.scrollToIndex(activeIndex, { align: 'auto' });
  }, [activeIndex, alerts.length, virtualizer]);

  return (
    <Box
      ref={parentRef}
      data-testid="alert-list"
      sx={{ flex: 1, minHeight: 200, overflow: 'auto', border: 1, borderColor: 'divider', borderRadius: 2, bgcolor: 'background.paper' }}
    >
      {alerts.length === 0 ? (
        <Stack sx={{ p: 4 }} alignItems="center">
          <Typography color="text.secondary">No alerts match these filters</Typography>
        </Stack>
      ) : (
        <Box role="list" aria-label="Alerts" sx={{ height: virtualizer.getTotalSize(), position: 'relative', width: '100%' }}>
          {rows.map((v) => {
            const a = alerts[v.index];
            return (
                <AlertRow
                  key={v.key}
                  offset={v.start}
                  alert={a}
                  index={v.index}
                  total={alerts.length}
                  active={v.index === activeIndex}
                  selected={selected.has(a.id)}
                  showTenant={showTenant}
                  href={hrefFor(a)}
                  onToggle={onToggle}
                  onActivate={onActivate}
                />
            );
          })}
        </Box>
      )}
    </Box>
  );
}
