import { useCallback, useEffect, useRef, useState, type ReactNode } from 'react';
import { Alert as MuiAlert, Box, Breadcrumbs, Button, Card, CardContent, Chip, Link, List, ListItem, MenuItem, Stack, TextField, Typography } from '@mui/material';
import Grid from '@mui/material/Grid2';
import { Link as RouterLink, useNavigate, useParams } from 'react-router-dom';
import { api } from '../../api/client';
import {
  SEVERITIES,
  type Evidence,
  type Incident,
  type IncidentObservable,
  type IncidentTask,
  type LiveFrame,
  type Priority,
  type Severity,
  type TimelineEntry,
  type TransitionRequest,
} from '../../api/types';
import { canWrite, useMe } from '../../state/auth';
import { useLiveFrames } from '../../state/live';
import { ErrorNotice } from '../../components/ErrorNotice';
import { PageLoading } from '../../components/PageLoading';
import { SeverityChip } from '../../components/SeverityChip';
import { StatusChip } from '../../components/StatusChip';
import { SlaCountdown } from '../../components/SlaCountdown';
import { absoluteTime, label } from '../../format';
import { TransitionBar } from './TransitionBar';
import { IncidentTimeline } from './IncidentTimeline';
import { ObservablesPanel } from './ObservablesPanel';
import { TasksPanel } from './TasksPanel';
import { EvidencePanel } from './EvidencePanel';
import { SlaPauseButton } from './SlaPauseButton';
import { EditIncidentDialog } from './EditIncidentDialog';
import { MergeIncidentDialog } from './MergeIncidentDialog';
import { AssigneeField } from '../../components/AssigneeField';

function Section({ title, children, testId }: { title: string; children: ReactNode; testId?: string }) {
  return (
    <Card component="section" aria-label={title} data-testid={testId}>
      <CardContent>
        <Typography variant="h6" component="h2" gutterBottom>
          {title}
        </Typography>
        {children}
      </CardContent>
    </Card>
  );
}

const PRIORITIES: Priority[] = ['p1', 'p2', 'p3', 'p4'];

export default function IncidentDetailPage() {
  const { incidentId = '' } = useParams();
  const me = useMe();
  const navigate = useNavigate();
  const writable = canWrite(me);
  const [incident, setIncident] = useState<Incident | null>(null);
  const [timeline, setTimeline] = useState<TimelineEntry[]>([]);
  const [observables, setObservables] = useState<IncidentObservable[]>([]);
  const [tasks, setTasks] = useState<IncidentTask[]>([]);
  const [evidence, setEvidence] = useState<Evidence[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [editing, setEditing] = useState(false);
  const [merging, setMerging] = useState(false);

  // Each loader applies only its latest answer: after a merge moves the page to another
  // incident, a read of the previous one still in flight must not overwrite the new page.
  const seq = useRef<Record<string, number>>({});
  const latest = useCallback(<T,>(key: string, p: Promise<T>, onOk: (v: T) => void, onErr: (e: unknown) => void = () => undefined) => {
    const n = (seq.current[key] = (seq.current[key] ?? 0) + 1);
    return p.then(
      (v) => {
        if (seq.current[key] === n) onOk(v);
      },
      (e) => {
        if (seq.current[key] === n) onErr(e);
      },
    );
  }, []);

  const loadIncident = useCallback(
    () =>
      latest(
        'incident',
        api.getIncident(incidentId),
        (i) => {
          setIncident(i);
          setError(null);
        },
        setError,
      ),
    [incidentId, latest],
  );

  // The side panels load independently: one missing endpoint must not blank the page.
  const loadTimeline = useCallback(() => latest('timeline', api.incidentTimeline(incidentId), (p) => setTimeline(p.items)), [incidentId, latest]);
  const loadObservables = useCallback(() => latest('observables', api.incidentObservables(incidentId), (p) => setObservables(p.items)), [incidentId, latest]);
  const loadTasks = useCallback(() => latest('tasks', api.incidentTasks(incidentId), (p) => setTasks(p.items)), [incidentId, latest]);
  const loadEvidence = useCallback(() => latest('evidence', api.incidentEvidence(incidentId), (p) => setEvidence(p.items)), [incidentId, latest]);

  useEffect(() => {
    setIncident(null);
    setTimeline([]);
    setObservables([]);
    setTasks([]);
    setEvidence([]);
    void loadIncident();
    void loadTimeline();
    void loadObservables();
    void loadTasks();
    void loadEvidence();
  }, [loadIncident, loadTimeline, loadObservables, loadTasks, loadEvidence]);

  useEffect(() => {
    const t = setInterval(() => {
      void loadIncident();
      void loadTimeline();
    }, 30_000);
    return () => clearInterval(t);
  }, [loadIncident, loadTimeline]);

  useLiveFrames((f: LiveFrame) => {
    if (!f.type.startsWith('incident.') && !f.type.startsWith('sla.')) return;
    const d = (f.data ?? {}) as { id?: string; incident?: string; incident_id?: string };
    if ([d.incident_id, d.incident, d.id].includes(incidentId)) {
      void loadIncident();
      void loadTimeline();
    }
  });

  const run = async (fn: () => Promise<Incident>) => {
    setBusy(true);
    try {
      const next = await fn();
      // A read issued before this change would bring back the old state: drop it.
      seq.current.incident = (seq.current.incident ?? 0) + 1;
      setIncident(next);
      setError(null);
      void loadTimeline();
    } catch (e) {
      setError(e);
      void loadIncident();
    } finally {
      setBusy(false);
    }
  };

  if (!incident) return error ? <ErrorNotice error={error} /> : <PageLoading label="Loading incident" />;
  const done = incident.status === 'resolved' || incident.status === 'closed';
  // A merged incident is frozen, and a closed one is not worked any more: neither merges.
  const mergeable = writable && !incident.merged_into && incident.status !== 'closed';

  return (
    <Stack gap={2}>
      <Breadcrumbs aria-label="Breadcrumb">
        <Link component={RouterLink} to="/incidents">
          Incidents
        </Link>
        <Typography color="text.primary">{incident.id}</Typography>
      </Breadcrumbs>
      <Stack direction="row" gap={1} alignItems="center" flexWrap="wrap">
        <Typography variant="h5" component="h1" sx={{ mr: 1, wordBreak: 'break-word' }}>
          {incident.title}
        </Typography>
        <SeverityChip severity={incident.severity} size="medium" />
        <Box data-testid="incident-status" data-status={incident.status}>
          <StatusChip status={incident.status} />
        </Box>
        {incident.priority && <Chip size="small" label={incident.priority.toUpperCase()} />}
        {writable && (
          <Button size="small" onClick={() => setEditing(true)}>
            Edit
          </Button>
        )}
        {mergeable && (
          <Button size="small" onClick={() => setMerging(true)}>
            Merge…
          </Button>
        )}
      </Stack>
      {incident.merged_into && (
        <MuiAlert severity="info" role="status" data-testid="merged-into">
          Merged into{' '}
          <Link component={RouterLink} to={`/incidents/${incident.merged_into}`}>
            {incident.merged_into}
          </Link>
          ; this incident is closed as a duplicate and kept for the record.
        </MuiAlert>
      )}
      {merging && (
        <MergeIncidentDialog
          incident={incident}
          onClose={() => setMerging(false)}
          onMerged={(survivor) => {
            setMerging(false);
            if (survivor.id === incident.id) {
              // This one absorbed the other: its alerts, observables and timeline are new.
              seq.current.incident = (seq.current.incident ?? 0) + 1;
              setIncident(survivor);
              setError(null);
              void loadTimeline();
              void loadObservables();
              void loadTasks();
            } else {
              navigate(`/incidents/${survivor.id}`);
            }
          }}
        />
      )}
      {editing && (
        <EditIncidentDialog
          incident={incident}
          onClose={() => setEditing(false)}
          onSave={(patch) => {
            setEditing(false);
            void run(() => api.patchIncident(incident.id, patch));
          }}
        />
      )}
      <ErrorNotice error={error} />
      <Stack direction="row" gap={1} alignItems="center" flexWrap="wrap" data-testid="sla-clocks">
        {!done && (incident.status === 'new' || incident.sla?.acknowledged_met != null) && <SlaCountdown sla={incident.sla} clock="acknowledge" />}
        {!done && <SlaCountdown sla={incident.sla} clock="resolve" />}
        {incident.sla?.state === 'met' && <Chip size="small" color="success" label="SLA met" />}
        {incident.sla?.paused && <Chip size="small" label={`Paused${incident.sla.pause_reason ? `: ${incident.sla.pause_reason}` : ''}`} />}
        {writable && (
          <SlaPauseButton
            incident={incident}
            busy={busy}
            onPause={(reason) => void run(() => api.pauseSla(incident.id, reason || undefined))}
            onResume={() => void run(() => api.resumeSla(incident.id))}
          />
        )}
      </Stack>
      {writable && <TransitionBar incident={incident} busy={busy} onTransition={(req: TransitionRequest) => void run(() => api.transitionIncident(incident.id, req))} />}
      <Grid container spacing={2}>
        <Grid size={{ xs: 12, lg: 7 }}>
          <Stack gap={2}>
            <Section title="Summary">
              <Stack gap={1.5}>
                <Typography sx={{ whiteSpace: 'pre-wrap' }}>{incident.description || 'No description'}</Typography>
                <Stack direction="row" gap={2} flexWrap="wrap" alignItems="center">
                  <Typography variant="body2">Tenant: {incident.tenant}</Typography>
                  <Typography variant="body2">Assignee: {incident.assignee ?? 'Unassigned'}</Typography>
                  <Typography variant="body2">Opened: {absoluteTime(incident.created_at)}</Typography>
                  {incident.resolution && <Typography variant="body2">Resolution: {label(incident.resolution)}</Typography>}
                </Stack>
                {incident.summary && <Typography variant="body2">Summary: {incident.summary}</Typography>}
                {writable && (
                  <Stack direction="row" gap={1} flexWrap="wrap" alignItems="center">
                    <TextField
                      select
                      size="small"
                      label="Severity"
                      value={incident.severity}
                      onChange={(e) => void run(() => api.patchIncident(incident.id, { severity: e.target.value as Severity }))}
                      sx={{ width: 140 }}
                    >
                      {SEVERITIES.map((s) => (
                        <MenuItem key={s} value={s}>
                          {label(s)}
                        </MenuItem>
                      ))}
                    </TextField>
                    <TextField
                      select
                      size="small"
                      label="Priority"
                      value={incident.priority ?? ''}
                      onChange={(e) => void run(() => api.patchIncident(incident.id, { priority: e.target.value as Priority }))}
                      sx={{ width: 120 }}
                    >
                      {PRIORITIES.map((p) => (
                        <MenuItem key={p} value={p}>
                          {p.toUpperCase()}
                        </MenuItem>
                      ))}
                    </TextField>
                    <AssigneeField
                      label="Assign incident"
                      value={incident.assignee ?? ''}
                      me={me.username}
                      busy={busy}
                      onAssign={(assignee) => void run(() => api.patchIncident(incident.id, { assignee: assignee || null }))}
                    />
                  </Stack>
                )}
                {(incident.techniques?.length ?? 0) + (incident.tags?.length ?? 0) > 0 && (
                  <Stack direction="row" gap={0.5} flexWrap="wrap">
                    {incident.techniques?.map((t) => <Chip key={t} size="small" variant="outlined" label={t} />)}
                    {incident.tags?.map((t) => <Chip key={t} size="small" label={`#${t}`} />)}
                  </Stack>
                )}
              </Stack>
            </Section>
            <Section title="Timeline">
              <IncidentTimeline entries={timeline} />
            </Section>
          </Stack>
        </Grid>
        <Grid size={{ xs: 12, lg: 5 }}>
          <Stack gap={2}>
            <Section title="Tasks">
              <TasksPanel
                tasks={tasks}
                writable={writable}
                onAdd={async (title) => {
                  await api.addTask(incident.id, { title });
                  await loadTasks();
                }}
                onToggle={async (t) => {
                  await api.patchTask(incident.id, t.id, { status: t.status === 'done' ? 'open' : 'done' });
                  await loadTasks();
                }}
              />
            </Section>
            <Section title="Evidence" testId="evidence-section">
              <EvidencePanel
                incidentId={incident.id}
                evidence={evidence}
                writable={writable}
                onUploaded={() => {
                  void loadEvidence();
                  void loadTimeline();
                }}
              />
            </Section>
            <Section title="Linked alerts">
              {(incident.alerts ?? []).length === 0 ? (
                <Typography color="text.secondary">No alerts linked</Typography>
              ) : (
                <List dense disablePadding>
                  {(incident.alerts ?? []).map((id) => (
                    <ListItem key={id} disableGutters>
                      <Link component={RouterLink} to={`/alerts/${id}?status=any`}>
                        {id}
                      </Link>
                    </ListItem>
                  ))}
                </List>
              )}
            </Section>
          </Stack>
        </Grid>
        <Grid size={12}>
          <Section title="Observables">
            <ObservablesPanel
              observables={observables}
              incidentId={incident.id}
              writable={writable}
              onAdd={async (o) => {
                await api.addObservable(incident.id, o);
                await loadObservables();
              }}
            />
          </Section>
        </Grid>
      </Grid>
    </Stack>
  );
}
