import { useEffect, useState, type Ref } from 'react';
import { Button, InputAdornment, MenuItem, Stack, TextField } from '@mui/material';
import { MultiSelect } from '../../components/MultiSelect';
import Search from '@mui/icons-material/Search';
import { ALERT_STATUSES, SEVERITIES, SOURCES } from '../../api/types';
import { OPEN_STATUSES, TIME_RANGES, type AlertFilters, type TimeRange } from './alertFilters';

const RANGE_TEXT: Record<TimeRange, string> = {
  '1h': 'Last hour',
  '24h': 'Last 24 h',
  '7d': 'Last 7 days',
  '30d': 'Last 30 days',
  all: 'Any time',
};

interface Props {
  filters: AlertFilters;
  onChange: (f: AlertFilters) => void;
  searchRef: Ref<HTMLInputElement>;
}

/** Severity, status, source, assignee and time filters plus the full-text search box. */
export function AlertFilterBar({ filters, onChange, searchRef }: Props) {
  const [q, setQ] = useState(filters.q);
  const [assignee, setAssignee] = useState(filters.assignee);
  useEffect(() => setQ(filters.q), [filters.q]);
  useEffect(() => setAssignee(filters.assignee), [filters.assignee]);

  // Typing settles for 350 ms before the search runs.
  useEffect(() => {
    if (q === filters.q) return;
    const t = setTimeout(() => onChange({ ...filters, q }), 350);
    return () => clearTimeout(t);
  }, [q, filters, onChange]);

  return (
    <Stack direction="row" gap={1} flexWrap="wrap" alignItems="center" role="search" aria-label="Alert filters">
      <TextField
        size="small"
        id="alert-search"
        label="Search alerts"
        placeholder="Press / to search"
        value={q}
        onChange={(e) => setQ(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter') onChange({ ...filters, q });
          if (e.key === 'Escape') (e.target as HTMLInputElement).blur();
        }}
        inputRef={searchRef}
        sx={{ minWidth: 220, flex: '1 1 220px' }}
        slotProps={{
          input: {
            startAdornment: (
              <InputAdornment position="start">
                <Search fontSize="small" />
              </InputAdornment>
            ),
          },
          htmlInput: { 'data-testid': 'alert-search' },
        }}
      />
      <MultiSelect id="filter-severity" name="Severity" options={SEVERITIES} value={filters.severity} onChange={(v) => onChange({ ...filters, severity: v })} />
      <MultiSelect id="filter-status" name="Status" options={ALERT_STATUSES} value={filters.status} onChange={(v) => onChange({ ...filters, status: v })} width={170} />
      <MultiSelect id="filter-source" name="Source" options={SOURCES} value={filters.source} onChange={(v) => onChange({ ...filters, source: v })} />
      <TextField
        size="small"
        id="filter-assignee"
        label="Assignee"
        value={assignee}
        onChange={(e) => setAssignee(e.target.value)}
        onBlur={() => assignee !== filters.assignee && onChange({ ...filters, assignee })}
        onKeyDown={(e) => e.key === 'Enter' && onChange({ ...filters, assignee })}
        sx={{ width: 130 }}
      />
      <TextField
        select
        size="small"
        id="filter-range"
        label="Time"
        value={filters.range}
        onChange={(e) => onChange({ ...filters, range: e.target.value as TimeRange })}
        sx={{ width: 140 }}
      >
        {TIME_RANGES.map((r) => (
          <MenuItem key={r} value={r}>
            {RANGE_TEXT[r]}
          </MenuItem>
        ))}
      </TextField>
      <Button
        size="small"
        onClick={() => onChange({ severity: [], status: OPEN_STATUSES, source: [], assignee: '', q: '', range: 'all' })}
      >
        Reset
      </Button>
    </Stack>
  );
}
