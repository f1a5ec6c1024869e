import { useCallback, useEffect, useState, type ReactNode } from 'react';
import {
  Box,
  Button,
  Chip,
  Divider,
  Drawer,
  IconButton,
  Link,
  List,
  ListItem,
  ListItemText,
  MenuItem,
  Stack,
  Tab,
  Tabs,
  TextField,
  Typography,
} from '@mui/material';
import Close from '@mui/icons-material/Close';
import { Link as RouterLink, useNavigate } from 'react-router-dom';
import { api } from '../../api/client';
import { SEVERITIES, type Alert, type LiveFrame } from '../../api/types';
import { useLiveFrames } from '../../state/live';
import { canWrite, useMe } from '../../state/auth';
import { SeverityChip } from '../../components/SeverityChip';
import { StatusChip } from '../../components/StatusChip';
import { ErrorNotice } from '../../components/ErrorNotice';
import { PageLoading } from '../../components/PageLoading';
import { absoluteTime, label } from '../../format';
import { AssigneeField } from '../../components/AssigneeField';
import { AddToIncidentDialog } from './AddToIncidentDialog';

function Field({ name, children }: { name: string; children: ReactNode }) {
  if (children === null || children === undefined || children === '') return null;
  return (
    <Box sx={{ display: 'grid', gridTemplateColumns: '130px 1fr', gap: 1, py: 0.5 }}>
      <Typography variant="body2" color="text.secondary" component="dt">
        {name}
      </Typography>
      <Typography variant="body2" component="dd" sx={{ m: 0, wordBreak: 'break-word' }}>
        {children}
      </Typography>
    </Box>
  );
}

// Fields every alert has and the Details tab lays out; anything else the server adds
// (enrichments such as GeoIP or threat-intel matches) is listed after them as it comes.
const KNOWN = new Set([
  'id', 'tenant', 'source', 'source_ref', 'source_link', 'title', 'description', 'severity', 'status', 'assignee',
  'rule', 'category', 'host', 'user', 'src_ip', 'dst_ip', 'src_port', 'dst_port', 'tactics', 'techniques',
  'observables', 'first_seen', 'last_seen', 'count', 'fingerprint', 'group', 'incident', 'storm', 'raw',
  'comments', 'history', 'created_at', 'updated_at',
]);

function Enrichments({ a }: { a: Alert }) {
  const extra = Object.entries(a as unknown as Record<string, unknown>).filter(
    ([k, v]) => !KNOWN.has(k) && v !== null && v !== undefined && !(Array.isArray(v) && v.length === 0),
  );
  if (!extra.length) return null;
  return (
    <>
      <Typography variant="subtitle2" component="h3" sx={{ mt: 2, mb: 0.5 }}>
        Enrichments
      </Typography>
      <Box component="dl" sx={{ m: 0 }}>
        {extra.map(([k, v]) => (
          <Field key={k} name={k}>
            {typeof v === 'object' ? (
              <Box component="pre" sx={{ m: 0, fontSize: 12, whiteSpace: 'pre-wrap' }}>
                {JSON.stringify(v, null, 2)}
              </Box>
            ) : (
              String(v)
            )}
          </Field>
        ))}
      </Box>
    </>
  );
}

const endpoint = (ip?: string | null, port?: number | null) => (ip ? (port ? `${ip}:${port}` : ip) : null);

function AlertFields({ a }: { a: Alert }) {
  return (
    <Box component="dl" sx={{ m: 0 }}>
      <Field name="Description">{a.description}</Field>
      <Field name="Tenant">{a.tenant}</Field>
      <Field name="Source">{a.source}</Field>
      <Field name="Source ref">
        {a.source_link ? (
          <Link href={a.source_link} target="_blank" rel="noreferrer">
            {a.source_ref ?? a.source_link}
          </Link>
        ) : (
          a.source_ref
        )}
      </Field>
      <Field name="Rule">{a.rule}</Field>
      <Field name="Category">{a.category}</Field>
      <Field name="Host">{a.host}</Field>
      <Field name="User">{a.user}</Field>
      <Field name="Source address">{endpoint(a.src_ip, a.src_port)}</Field>
      <Field name="Destination">{endpoint(a.dst_ip, a.dst_port)}</Field>
      <Field name="Assignee">{a.assignee ?? 'Unassigned'}</Field>
      <Field name="Tactics">{a.tactics?.length ? a.tactics.join(', ') : null}</Field>
      <Field name="Techniques">
        {a.techniques?.length ? (
          <Stack direction="row" gap={0.5} flexWrap="wrap">
            {a.techniques.map((t) => (
              <Chip key={t} size="small" variant="outlined" label={t} />
            ))}
          </Stack>
        ) : null}
      </Field>
      <Field name="Observables">
        {a.observables?.length ? (
          <Stack gap={0.25}>
            {a.observables.map((o) => (
              <span key={`${o.type}:${o.value}`}>
                <strong>{o.type}</strong> {o.value}
              </span>
            ))}
          </Stack>
        ) : null}
      </Field>
      <Field name="First seen">{absoluteTime(a.first_seen)}</Field>
      <Field name="Last seen">{absoluteTime(a.last_seen)}</Field>
      <Field name="Count">{a.count}</Field>
      <Field name="Fingerprint">{a.fingerprint}</Field>
      <Field name="Storm">{a.storm ? 'Yes — part of an alert storm' : null}</Field>
      <Field name="Incident">
        {a.incident ? (
          <Link component={RouterLink} to={`/incidents/${a.incident}`}>
            {a.incident}
          </Link>
        ) : null}
      </Field>
    </Box>
  );
}

function CorrelatedGroup({ alert }: { alert: Alert }) {
  const [items, setItems] = useState<Alert[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    setItems(null);
    api
      .alertGroup(alert.id)
      .then((p) => setItems(p.items))
      .catch(setError);
  }, [alert.id]);
  if (error) return <ErrorNotice error={error} />;
  if (!items) return <PageLoading label="Loading correlated alerts" />;
  const others = items.filter((x) => x.id !== alert.id);
  if (!others.length) return <Typography color="text.secondary">No correlated alerts</Typography>;
  return (
    <List dense>
      {others.map((g) => (
        <ListItem key={g.id} disableGutters secondaryAction={<StatusChip status={g.status} />}>
          <Stack direction="row" gap={1} alignItems="center" sx={{ minWidth: 0, pr: 12 }}>
            <SeverityChip severity={g.severity} />
            <Link component={RouterLink} to={`/alerts/${g.id}`} noWrap>
              {g.title}
            </Link>
          </Stack>
        </ListItem>
      ))}
    </List>
  );
}

function Comments({ alert, onAdded }: { alert: Alert; onAdded: () => void }) {
  const me = useMe();
  const [text, setText] = useState('');
  const [error, setError] = useState<unknown>(null);
  return (
    <Stack gap={1}>
      {(alert.comments ?? []).length === 0 && <Typography color="text.secondary">No comments yet</Typography>}
      <List dense>
        {(alert.comments ?? []).map((c) => (
          <ListItem key={c.id} disableGutters alignItems="flex-start">
            <ListItemText primary={c.text} secondary={`${c.author} · ${absoluteTime(c.at)}`} />
          </ListItem>
        ))}
      </List>
      {canWrite(me) && (
        <Box
          component="form"
          onSubmit={async (e) => {
            e.preventDefault();
            if (!text.trim()) return;
            try {
              await api.commentAlert(alert.id, text.trim());
              setText('');
              setError(null);
              onAdded();
            } catch (err) {
              setError(err);
            }
          }}
        >
          <ErrorNotice error={error} />
          <TextField label="Add a comment" multiline minRows={2} fullWidth value={text} onChange={(e) => setText(e.target.value)} />
          <Button type="submit" sx={{ mt: 1 }} variant="outlined" disabled={!text.trim()}>
            Comment
          </Button>
        </Box>
      )}
    </Stack>
  );
}

function History({ alert }: { alert: Alert }) {
  const rows = alert.history ?? [];
  if (!rows.length) return <Typography color="text.secondary">No history</Typography>;
  return (
    <List dense>
      {rows.map((h, i) => (
        <ListItem key={`${h.at}-${i}`} disableGutters>
          <ListItemText
            primary={`${h.action}${h.after !== undefined ? ` → ${typeof h.after === 'string' ? h.after : JSON.stringify(h.after)}` : ''}`}
            secondary={`${h.actor} · ${absoluteTime(h.at)}`}
          />
        </ListItem>
      ))}
    </List>
  );
}

interface Props {
  alertId: string | null;
  onClose: () => void;
  onChanged: (a: Alert) => void;
}

const TABS = ['Details', 'Raw', 'Group', 'Comments', 'History'] as const;

/** Everything about one alert, with the analyst's actions on it. */
export function AlertDetailDrawer({ alertId, onClose, onChanged }: Props) {
  const me = useMe();
  const navigate = useNavigate();
  const [alert, setAlert] = useState<Alert | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [tab, setTab] = useState(0);
  const [busy, setBusy] = useState(false);
  const [adding, setAdding] = useState(false);

  const load = useCallback(async () => {
    if (!alertId) return;
    try {
      setAlert(await api.getAlert(alertId));
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, [alertId]);

  useEffect(() => {
    setAlert(null);
    setError(null);
    void load();
  }, [load]);

  useLiveFrames((f: LiveFrame) => {
    if (f.type === 'alert.updated' && (f.data as Alert)?.id === alertId) void load();
  });

  const act = async (fn: () => Promise<Alert | unknown>) => {
    setBusy(true);
    try {
      await fn();
      const fresh = alertId ? await api.getAlert(alertId) : null;
      if (fresh) {
        setAlert(fresh);
        onChanged(fresh);
      }
      setError(null);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  const escalate = async () => {
    if (!alert) return;
    setBusy(true);
    try {
      const incident = await api.escalateAlert(alert.id);
      navigate(`/incidents/${incident.id}`);
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };

  const writable = canWrite(me);
  return (
    <Drawer
      anchor="right"
      open={!!alertId}
      onClose={onClose}
      variant="temporary"
      slotProps={{ paper: { sx: { width: { xs: '100vw', sm: 600 }, maxWidth: '100vw' }, 'aria-label': 'Alert detail' } }}
      ModalProps={{ keepMounted: false }}
    >
      <Stack sx={{ p: 2, height: '100%' }} gap={1} data-testid="alert-drawer">
        <Stack direction="row" alignItems="flex-start" gap={1}>
          <Box sx={{ flex: 1, minWidth: 0 }}>
            <Typography variant="h6" component="h2" sx={{ wordBreak: 'break-word' }}>
              {alert?.title ?? 'Alert'}
            </Typography>
            {alert && (
              <Stack direction="row" gap={1} sx={{ mt: 0.5 }} alignItems="center" flexWrap="wrap">
                <SeverityChip severity={alert.severity} />
                <StatusChip status={alert.status} />
                <Typography variant="caption" color="text.secondary">
                  {alert.id}
                </Typography>
              </Stack>
            )}
          </Box>
          <IconButton aria-label="Close alert detail" onClick={onClose}>
            <Close />
          </IconButton>
        </Stack>
        <ErrorNotice error={error} />
        {alert && writable && (
          <Stack direction="row" gap={1} flexWrap="wrap">
            {alert.status === 'new' && (
              <Button size="small" variant="contained" disabled={busy} onClick={() => act(() => api.patchAlert(alert.id, { status: 'acknowledged' }))}>
                Acknowledge
              </Button>
            )}
            {alert.status !== 'closed' && alert.status !== 'suppressed' ? (
              <Button size="small" variant="outlined" disabled={busy} onClick={() => act(() => api.patchAlert(alert.id, { status: 'closed' }))}>
                Close
              </Button>
            ) : (
              <Button size="small" variant="outlined" disabled={busy} onClick={() => act(() => api.bulkAlerts([alert.id], 'reopen'))}>
                Reopen
              </Button>
            )}
            {alert.incident ? (
              <Button size="small" component={RouterLink} to={`/incidents/${alert.incident}`}>
                Open incident
              </Button>
            ) : (
              <>
                <Button size="small" color="error" variant="contained" disabled={busy} onClick={() => void escalate()}>
                  Escalate to incident
                </Button>
                <Button size="small" disabled={busy} onClick={() => setAdding(true)}>
                  Add to incident…
                </Button>
              </>
            )}
          </Stack>
        )}
        {alert && writable && (
          <Stack direction="row" gap={1} flexWrap="wrap" alignItems="center" sx={{ pt: 1 }}>
            <TextField
              select
              size="small"
              label="Severity"
              value={alert.severity}
              onChange={(e) => void act(() => api.patchAlert(alert.id, { severity: e.target.value }))}
              sx={{ width: 130 }}
            >
              {SEVERITIES.map((s) => (
                <MenuItem key={s} value={s}>
                  {label(s)}
                </MenuItem>
              ))}
            </TextField>
            <AssigneeField
              label="Assign alert"
              value={alert.assignee ?? ''}
              me={me.username}
              busy={busy}
              onAssign={(assignee) => void act(() => api.patchAlert(alert.id, { assignee: assignee || null }))}
            />
          </Stack>
        )}
        <Tabs value={tab} onChange={(_, v: number) => setTab(v)} aria-label="Alert detail sections" variant="scrollable">
          {TABS.map((t, i) => (
            <Tab key={t} label={t} id={`alert-tab-${i}`} aria-controls={`alert-tabpanel-${i}`} />
          ))}
        </Tabs>
        <Divider />
        <Box
          sx={{ flex: 1, overflow: 'auto' }}
          role="tabpanel"
          id={`alert-tabpanel-${tab}`}
          aria-labelledby={`alert-tab-${tab}`}
          tabIndex={0}
        >
          {!alert && !error && <PageLoading label="Loading alert" />}
          {alert && tab === 0 && (
            <>
              <AlertFields a={alert} />
              <Enrichments a={alert} />
            </>
          )}
          {alert && tab === 1 && (
            <Box
              component="pre"
              aria-label="Raw alert JSON"
              sx={{ m: 0, p: 1.5, bgcolor: 'action.hover', borderRadius: 1, fontSize: 12, overflow: 'auto', whiteSpace: 'pre-wrap', wordBreak: 'break-all' }}
            >
              {JSON.stringify(alert.raw ?? {}, null, 2)}
            </Box>
          )}
          {alert && tab === 2 && <CorrelatedGroup alert={alert} />}
          {alert && tab === 3 && <Comments alert={alert} onAdded={() => void load()} />}
          {alert && tab === 4 && <History alert={alert} />}
        </Box>
      </Stack>
      {adding && alert && (
        <AddToIncidentDialog alert={alert} onClose={() => setAdding(false)} onAdded={(i) => navigate(`/incidents/${i.id}`)} />
      )}
    </Drawer>
  );
}
