import { useState } from 'react';
import { Button, Dialog, DialogActions, DialogContent, DialogTitle, MenuItem, Stack, TextField } from '@mui/material';
import { RESOLUTIONS, type Incident, type IncidentState, type Resolution, type TransitionRequest } from '../../api/types';
import { label } from '../../format';

interface Props {
  incident: Incident;
  busy: boolean;
  onTransition: (req: TransitionRequest) => void;
}

/** Buttons for the legal next states only, as the server lists them. */
export function TransitionBar({ incident, busy, onTransition }: Props) {
  const [resolving, setResolving] = useState<IncidentState | null>(null);
  const [resolution, setResolution] = useState<Resolution>((incident.resolution as Resolution) || 'true_positive');
  const [summary, setSummary] = useState(incident.summary ?? '');
  const [note, setNote] = useState('');
  const moves = incident.allowed_transitions ?? [];
  const needsResolution = (to: IncidentState) => to === 'resolved' && (!incident.resolution || !incident.summary);
  if (!moves.length) return null;
  return (
    <Stack direction="row" gap={1} flexWrap="wrap" role="group" aria-label="Move incident to">
      {moves.map((to) => (
        <Button
          key={to}
          size="small"
          variant={to === 'closed' || to === 'resolved' ? 'contained' : 'outlined'}
          disabled={busy}
          data-transition={to}
          onClick={() => (needsResolution(to) ? setResolving(to) : onTransition({ to }))}
        >
          {incident.status === 'resolved' || incident.status === 'closed' ? (to === 'investigating' ? 'Reopen' : label(to)) : label(to)}
        </Button>
      ))}
      <Dialog open={!!resolving} onClose={() => setResolving(null)} aria-labelledby="resolve-title" fullWidth maxWidth="sm">
        <form
          onSubmit={(e) => {
            e.preventDefault();
            if (resolving) onTransition({ to: resolving, resolution, summary, note: note || undefined });
            setResolving(null);
          }}
        >
          <DialogTitle id="resolve-title">Resolve incident</DialogTitle>
          <DialogContent>
            <Stack gap={2} sx={{ pt: 1 }}>
              <TextField select label="Resolution" value={resolution} onChange={(e) => setResolution(e.target.value as Resolution)} required>
                {RESOLUTIONS.map((r) => (
                  <MenuItem key={r} value={r}>
                    {label(r)}
                  </MenuItem>
                ))}
              </TextField>
              <TextField label="Summary" value={summary} onChange={(e) => setSummary(e.target.value)} required multiline minRows={3} />
              <TextField label="Note (optional)" value={note} onChange={(e) => setNote(e.target.value)} />
            </Stack>
          </DialogContent>
          <DialogActions>
            <Button onClick={() => setResolving(null)}>Cancel</Button>
            <Button type="submit" variant="contained" disabled={!summary.trim()}>
              Resolve
            </Button>
          </DialogActions>
        </form>
      </Dialog>
    </Stack>
  );
}
