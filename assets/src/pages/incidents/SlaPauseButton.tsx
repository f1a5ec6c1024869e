import { useState } from 'react';
import { Button, Dialog, DialogActions, DialogContent, DialogTitle, TextField } from '@mui/material';
import type { Incident } from '../../api/types';

interface Props {
  incident: Incident;
  busy: boolean;
  onPause: (reason: string) => void;
  onResume: () => void;
}

/** Stops the SLA clocks while waiting on the client, and starts them again. */
export function SlaPauseButton({ incident, busy, onPause, onResume }: Props) {
  const [asking, setAsking] = useState(false);
  const [reason, setReason] = useState('');
  if (!incident.sla || incident.status === 'resolved' || incident.status === 'closed') return null;
  if (incident.sla.paused) {
    return (
      <Button size="small" variant="outlined" disabled={busy} onClick={onResume}>
        Resume SLA
      </Button>
    );
  }
  return (
    <>
      <Button size="small" disabled={busy} onClick={() => setAsking(true)}>
        Pause SLA…
      </Button>
      <Dialog open={asking} onClose={() => setAsking(false)} aria-labelledby="pause-title" fullWidth maxWidth="xs">
        <form
          onSubmit={(e) => {
            e.preventDefault();
            onPause(reason);
            setAsking(false);
            setReason('');
          }}
        >
          <DialogTitle id="pause-title">Pause the SLA clocks</DialogTitle>
          <DialogContent>
            <TextField autoFocus fullWidth margin="dense" label="Reason" placeholder="Waiting on the client" value={reason} onChange={(e) => setReason(e.target.value)} />
          </DialogContent>
          <DialogActions>
            <Button onClick={() => setAsking(false)}>Cancel</Button>
            <Button type="submit" variant="contained">
              Pause
            </Button>
          </DialogActions>
        </form>
      </Dialog>
    </>
  );
}
