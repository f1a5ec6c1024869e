import { useState } from 'react';
import { Button, Checkbox, FormControlLabel, LinearProgress, Stack, TextField, ToggleButton, ToggleButtonGroup, Typography } from '@mui/material';
import Add from '@mui/icons-material/Add';
import ViewKanbanOutlined from '@mui/icons-material/ViewKanbanOutlined';
import ViewListOutlined from '@mui/icons-material/ViewListOutlined';
import { useNavigate, useSearchParams } from 'react-router-dom';
import { canWrite, useMe } from '../../state/auth';
import { useTenantScope } from '../../state/tenant';
import { ErrorNotice } from '../../components/ErrorNotice';
import { IncidentBoard } from './IncidentBoard';
import { IncidentTable } from './IncidentTable';
import { NewIncidentDialog } from './NewIncidentDialog';
import { useIncidents } from './useIncidents';
import { MultiSelect } from '../../components/MultiSelect';
import { SEVERITIES } from '../../api/types';

const NOT_CLOSED = ['new', 'acknowledged', 'investigating', 'contained', 'eradicated', 'recovered', 'resolved'];

export default function IncidentsPage() {
  const me = useMe();
  const navigate = useNavigate();
  const { tenant, canSwitch } = useTenantScope();
  const [params, setParams] = useSearchParams();
  const view = params.get('view') === 'list' ? 'list' : 'board';
  const [q, setQ] = useState(params.get('q') ?? '');
  const [creating, setCreating] = useState(false);
  const severity = (params.get('severity') ?? '').split(',').filter(Boolean);
  const withClosed = params.get('closed') === '1';
  const { items, loading, error } = useIncidents(tenant, params.get('q') ?? '', severity, withClosed ? [] : NOT_CLOSED);
  const showTenant = canSwitch && !tenant;

  const setParam = (k: string, v: string | null) => {
    const next = new URLSearchParams(params);
    if (v) next.set(k, v);
    else next.delete(k);
    setParams(next, { replace: true });
  };

  return (
    <Stack gap={1.5} sx={{ height: '100%' }}>
      <Stack direction="row" alignItems="center" gap={1} flexWrap="wrap">
        <Typography variant="h5" component="h1" sx={{ flex: 1 }}>
          Incidents{tenant ? ` — ${tenant}` : ''}
        </Typography>
        <TextField
          size="small"
          label="Search incidents"
          value={q}
          onChange={(e) => setQ(e.target.value)}
          onKeyDown={(e) => e.key === 'Enter' && setParam('q', q)}
          onBlur={() => setParam('q', q)}
        />
        <MultiSelect id="incident-severity" name="Severity" options={SEVERITIES} value={severity} onChange={(v) => setParam('severity', v.join(',') || null)} />
        <FormControlLabel
          control={<Checkbox size="small" checked={withClosed} onChange={(e) => setParam('closed', e.target.checked ? '1' : null)} />}
          label="Show closed"
        />
        <ToggleButtonGroup size="small" exclusive value={view} onChange={(_, v: string | null) => v && setParam('view', v === 'board' ? null : v)} aria-label="Incident view">
          <ToggleButton value="board" aria-label="Board view">
            <ViewKanbanOutlined fontSize="small" />
          </ToggleButton>
          <ToggleButton value="list" aria-label="List view">
            <ViewListOutlined fontSize="small" />
          </ToggleButton>
        </ToggleButtonGroup>
        {canWrite(me) && (
          <Button variant="contained" startIcon={<Add />} onClick={() => setCreating(true)}>
            New incident
          </Button>
        )}
      </Stack>
      <ErrorNotice error={error} />
      {loading && <LinearProgress aria-label="Loading incidents" />}
      {view === 'board' ? <IncidentBoard incidents={items} showTenant={showTenant} /> : <IncidentTable incidents={items} showTenant={showTenant} />}
      {creating && (
        <NewIncidentDialog open onClose={() => setCreating(false)} onCreated={(i) => navigate(`/incidents/${i.id}`)} />
      )}
    </Stack>
  );
}
