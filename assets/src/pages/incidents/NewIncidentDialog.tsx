import { useState } from 'react';
import { Button, Dialog, DialogActions, DialogContent, DialogTitle, MenuItem, Stack, TextField } from '@mui/material';
import { api } from '../../api/client';
import { SEVERITIES, type Incident, type Severity } from '../../api/types';
import { useTenantScope } from '../../state/tenant';
import { ErrorNotice } from '../../components/ErrorNotice';
import { label } from '../../format';

interface Props {
  open: boolean;
  onClose: () => void;
  onCreated: (i: Incident) => void;
}

export function NewIncidentDialog({ open, onClose, onCreated }: Props) {
  const { tenant, tenants, canSwitch } = useTenantScope();
  const [title, setTitle] = useState('');
  const [description, setDescription] = useState('');
  const [severity, setSeverity] = useState<Severity>('high');
  const [forTenant, setForTenant] = useState(tenant ?? '');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
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
