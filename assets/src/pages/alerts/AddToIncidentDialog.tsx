import { useEffect, useState } from 'react';
import { Button, Dialog, DialogActions, DialogContent, DialogTitle, MenuItem, TextField, Typography } from '@mui/material';
import { api } from '../../api/client';
import type { Alert, Incident } from '../../api/types';
import { ErrorNotice } from '../../components/ErrorNotice';

const OPEN = ['new', 'acknowledged', 'investigating', 'contained', 'eradicated', 'recovered'];

interface Props {
  alert: Alert;
  onClose: () => void;
  onAdded: (incident: Incident) => void;
}

/** Escalates the alert into an incident that is already open for its tenant. */
export function AddToIncidentDialog({ alert, onClose, onAdded }: Props) {
  const [incidents, setIncidents] = useState<Incident[] | null>(null);
  const [chosen, setChosen] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    api
      .listIncidents({ tenant: alert.tenant, status: OPEN, limit: 200 })
      .then((p) => setIncidents(p.items.filter((i) => i.tenant === alert.tenant)), setError);
  }, [alert.tenant]);
  return (
    <Dialog open onClose={onClose} aria-labelledby="add-to-incident-title" fullWidth maxWidth="sm">
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          try {
            onAdded(await api.escalateAlert(alert.id, chosen));
          } catch (err) {
            setError(err);
            setBusy(false);
          }
        }}
      >
        <DialogTitle id="add-to-incident-title">Add to an open incident</DialogTitle>
        <DialogContent>
          <ErrorNotice error={error} />
          {incidents && incidents.length === 0 ? (
            <Typography color="text.secondary">No open incident for {alert.tenant}</Typography>
          ) : (
            <TextField select fullWidth margin="dense" label="Incident" value={chosen} onChange={(e) => setChosen(e.target.value)} required>
              {(incidents ?? []).map((i) => (
                <MenuItem key={i.id} value={i.id}>
                  {i.title} ({i.status})
                </MenuItem>
              ))}
            </TextField>
          )}
        </DialogContent>
        <DialogActions>
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant="contained" disabled={!chosen || busy}>
            Add alert
          </Button>
        </DialogActions>
      </form>
    </Dialog>
  );
}
