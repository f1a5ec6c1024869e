import { memo, useEffect, useRef, type MouseEvent } from 'react';
import { Box, Stack, Typography } from '@mui/material';
import { styled } from '@mui/material/styles';
import { useVirtualizer } from '@tanstack/react-virtual';
import { Link as RouterLink } from 'react-router-dom';
import type { Alert } from '../../api/types';
import { SEVERITY_COLORS } from '../../theme';
import { label, relativeTime } from '../../format';

const ROW_HEIGHT = 60;

// Rows are plain elements styled from their list (one emotion class computed per list
// render, not per row): at 100k alerts a fast scroll mounts dozens of rows a frame.
const RowList = styled('div')(({ theme }) => ({
  position: 'relative',
  width: '100%',
  '& > .alert-row': {
  position: 'absolute',
  top: 0,
  left: 0,
  width: '100%',
  display: 'flex',
  alignItems: 'center',
  gap: theme.spacing(1),
  height: ROW_HEIGHT,
  padding: theme.spacing(0, 1.5),
  borderBottom: `1px solid ${theme.palette.divider}`,
  cursor: 'pointer',
  '&:hover': { backgroundColor: theme.palette.action.hover },
  '&[data-selected="true"]': { backgroundColor: theme.palette.action.hover },
  '&[aria-current="true"]': {
    backgroundColor: theme.palette.action.selected,
    boxShadow: `inset 3px 0 0 ${theme.palette.primary.main}`,
  },
  '& input[type="checkbox"]': { width: 18, height: 18, margin: 0, accentColor: theme.palette.primary.main, cursor: 'pointer' },
  '& input[type="checkbox"]:focus-visible': { outline: `3px solid ${theme.palette.primary.main}`, outlineOffset: 2 },
  '& .sev': {
    display: 'inline-block',
    minWidth: 72,
    padding: '2px 10px',
    borderRadius: 12,
    fontSize: 13,
    fontWeight: 600,
    textAlign: 'center',
    lineHeight: '20px',
  },
  '& .main': { flex: 1, minWidth: 0 },
  '& .title': {
    display: 'block',
    color: theme.palette.text.primary,
    textDecoration: 'none',
    overflow: 'hidden',
    textOverflow: 'ellipsis',
    whiteSpace: 'nowrap',
    fontSize: 15,
  },
  '& .title:hover': { textDecoration: 'underline' },
  '& .title:focus-visible': { outline: `3px solid ${theme.palette.primary.main}`, outlineOffset: 1 },
  '& .title[data-new="true"]': { fontWeight: 700 },
  '& .meta, & .muted': { color: theme.palette.text.secondary, fontSize: 12.5, whiteSpace: 'nowrap', overflow: 'hidden', textOverflow: 'ellipsis' },
  '& .muted': { fontSize: 14 },
  '& .badge': {
    padding: '1px 8px',
    borderRadius: 12,
    fontSize: 12.5,
    border: `1px solid ${theme.palette.divider}`,
    color: theme.palette.text.primary,
    whiteSpace: 'nowrap',
  },
  '& .storm': { borderColor: theme.palette.warning.main, color: theme.palette.text.primary },
  '& .status': { border: `1px solid ${theme.palette.primary.main}`, color: theme.palette.primary.main },
  '& .status[data-status="acknowledged"], & .status[data-status="in_progress"]': {
    borderColor: theme.palette.text.secondary,
    color: theme.palette.text.primary,
  },
  '& .status[data-status="closed"], & .status[data-status="suppressed"]': {
    borderColor: theme.palette.divider,
    color: theme.palette.text.secondary,
  },
  '& .status-cell': { width: 110, display: 'flex', justifyContent: 'flex-end' },
  '& .assignee': { width: 100, [theme.breakpoints.down('md')]: { display: 'none' } },
  '& .when': { width: 84, textAlign: 'right' },
  },
}));

const Header = styled('div')(({ theme }) => ({
  display: 'flex',
  alignItems: 'center',
  gap: theme.spacing(1),
  padding: theme.spacing(0.5, 1.5),
  fontSize: 12.5,
  fontWeight: 600,
  color: theme.palette.text.secondary,
  '& .check': { width: 18 },
  '& .sev': { minWidth: 80 },
  '& .main': { flex: 1 },
  '& .status': { width: 110, textAlign: 'right' },
  '& .assignee': { width: 100, [theme.breakpoints.down('md')]: { display: 'none' } },
  '& .when': { width: 84, textAlign: 'right' },
}));

/** Column captions over the rows (decorative: each row names its own fields). */
function AlertListHeader() {
  return (
    <Header aria-hidden="true">
      <span className="check" />
      <span className="sev">Severity</span>
      <span className="main">Alert</span>
      <span className="status">Status</span>
      <span className="assignee">Assignee</span>
      <span className="when">Last seen</span>
    </Header>
  );
}

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
  const sev = SEVERITY_COLORS[a.severity] ?? SEVERITY_COLORS.info;
  return (
    <div
      className="alert-row"
      role="listitem"
      aria-posinset={index + 1}
      aria-setsize={total}
      aria-current={active ? 'true' : undefined}
      data-selected={selected ? 'true' : undefined}
      data-alert-id={a.id}
      data-testid="alert-row"
      style={{ transform: `translateY(${offset}px)` }}
      onClick={(e: MouseEvent) => {
        if ((e.target as HTMLElement).closest('input,a,button')) return;
        onActivate(index);
      }}
    >
      <input type="checkbox" checked={selected} onChange={() => onToggle(a.id)} aria-label={`Select alert ${a.title}`} />
      <span className="sev" data-severity={a.severity} style={{ backgroundColor: sev.bg, color: sev.fg }}>
        {label(a.severity)}
      </span>
      <div className="main">
        <RouterLink className="title" to={href} data-new={a.status === 'new' ? 'true' : undefined}>
          {a.title}
        </RouterLink>
        <div className="meta">{[showTenant ? a.tenant : null, a.source, a.host, a.rule].filter(Boolean).join(' · ')}</div>
      </div>
      {a.storm && <span className="badge storm">Storm</span>}
      {a.count !== undefined && a.count > 1 && (
        <span className="badge" title={`${a.count} occurrences`}>
          ×{a.count}
        </span>
      )}
      <span className="status-cell">
        <span className="badge status" data-status={a.status}>
          {label(a.status)}
        </span>
      </span>
      <span className="muted assignee">{a.assignee ?? 'Unassigned'}</span>
      <span className="muted when">{relativeTime(a.last_seen ?? a.created_at)}</span>
    </div>
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
    <Box sx={{ flex: 1, minHeight: 200, display: 'flex', flexDirection: 'column' }}>
    <AlertListHeader />
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
        <RowList role="list" aria-label="Alerts" style={{ height: virtualizer.getTotalSize() }}>
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
        </RowList>
      )}
    </Box>
    </Box>
  );
}
