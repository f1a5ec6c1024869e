import { useEffect, useState } from 'react';
import { Button, Chip, Dialog, DialogActions, DialogContent, DialogTitle, List, ListItem, ListItemText, MenuItem, Stack, TextField, Typography } from '@mui/material';
import { api } from '../../api/client';
import { SEVERITIES, type Incident, type IncidentTemplate, type Severity } from '../../api/types';
import { useTenantScope } from '../../state/tenant';
import { ErrorNotice } from '../../components/ErrorNotice';
import { formatDuration, label } from '../../format';

interface Props {
  open: boolean;
  onClose: () => void;
  onCreated: (i: Incident) => void;
}

/** What a template will add, shown before the incident is created. */
function TemplatePreview({ template }: { template: IncidentTemplate }) {
  return (
    <Stack gap={1} component="section" aria-labelledby="template-tasks-title" data-testid="template-preview">
      <Typography id="template-tasks-title" variant="subtitle2" component="h3">
        Tasks the {template.title} template creates
      </Typography>
      <List dense disablePadding data-testid="template-tasks">
        {template.tasks.map((t, n) => (
          <ListItem key={`${n}-${t.title}`} disableGutters data-testid="template-task">
            <ListItemText
              primary={t.title}
              secondary={t.due_after_s ? `due ${formatDuration(t.due_after_s)} after creation` : 'no due date'}
            />
          </ListItem>
        ))}
      </List>
      {template.tags.length > 0 && (
        <Stack direction="row" gap={0.5} flexWrap="wrap" alignItems="center">
          <Typography variant="body2">Tags added:</Typography>
          {template.tags.map((t) => (
            <Chip key={t} size="small" label={`#${t}`} />
          ))}
        </Stack>
      )}
    </Stack>
  );
}

export function NewIncidentDialog({ open, onClose, onCreated }: Props) {
  const { tenant, tenants, canSwitch } = useTenantScope();
  const [title, setTitle] = useState('');
  const [description, setDescription] = useState('');
  const [severity, setSeverity] = useState<Severity>('high');
  const [forTenant, setForTenant] = useState(tenant ?? '');
  const [templates, setTemplates] = useState<IncidentTemplate[] | null>(null);
  const [templateError, setTemplateError] = useState<unknown>(null);
  const [category, setCategory] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    let stale = false;
    api
      .incidentTemplates()
      .then((p) => !stale && setTemplates(p.items))
      .catch((e) => !stale && setTemplateError(e));
    return () => {
      stale = true;
    };
  }, []);

  const template = templates?.find((t) => t.category === category) ?? null;

  return (
    <Dialog open={open} onClose={onClose} aria-labelledby="new-incident-title" fullWidth maxWidth="sm">
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          try {
            const inc = await api.createIncident({
              title,
              description: description || undefined,
              severity,
              tenant: canSwitch && forTenant ? forTenant : undefined,
              template: category || undefined,
            });
            onCreated(inc);
          } catch (err) {
            setError(err);
          } finally {
            setBusy(false);
          }
        }}
      >
        <DialogTitle id="new-incident-title">New incident</DialogTitle>
        <DialogContent>
          <Stack gap={2} sx={{ pt: 1 }}>
            <ErrorNotice error={error} />
            {/* The template leads: choosing one sets the category and its usual severity. */}
            <TextField
              select
              label="Template"
              value={category}
              disabled={!templates}
              helperText={
                templateError
                  ? 'Templates could not be loaded; the incident starts without tasks'
                  : 'A category’s response steps, pre-filled as tasks'
              }
              onChange={(e) => {
                const c = e.target.value;
                setCategory(c);
                const t = templates?.find((x) => x.category === c);
                if (t) setSeverity(t.severity);
              }}
            >
              <MenuItem value="">
                <em>No template</em>
              </MenuItem>
              {(templates ?? []).map((t) => (
                <MenuItem key={t.category} value={t.category}>
                  {t.title} ({t.tasks.length} tasks)
                </MenuItem>
              ))}
            </TextField>
            <TextField label="Title" value={title} onChange={(e) => setTitle(e.target.value)} required autoFocus />
            <TextField label="Description" value={description} onChange={(e) => setDescription(e.target.value)} multiline minRows={3} />
            <TextField select label="Severity" value={severity} onChange={(e) => setSeverity(e.target.value as Severity)}>
              {SEVERITIES.map((s) => (
                <MenuItem key={s} value={s}>
                  {label(s)}
                </MenuItem>
              ))}
            </TextField>
            {canSwitch && (
              <TextField select label="Tenant" value={forTenant} onChange={(e) => setForTenant(e.target.value)} required>
                {tenants.map((t) => (
                  <MenuItem key={t.slug} value={t.slug}>
                    {t.name || t.slug}
                  </MenuItem>
                ))}
              </TextField>
            )}
            {template && <TemplatePreview template={template} />}
          </Stack>
        </DialogContent>
        <DialogActions>
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant="contained" disabled={busy || !title.trim()}>
            Create
          </Button>
        </DialogActions>
      </form>
    </Dialog>
  );
}
