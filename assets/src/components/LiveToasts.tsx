import { useCallback, useState } from 'react';
import { Alert as MuiAlert, Button, Snackbar } from '@mui/material';
import { useNavigate } from 'react-router-dom';
import type { Alert, Incident, LiveFrame } from '../api/types';
import { useLiveFrames } from '../state/live';

interface Toast {
  key: number;
  text: string;
  link: string;
  severity: 'error' | 'warning';
}

let nextKey = 1;

function toastFor(frame: LiveFrame): Toast | null {
  if (frame.type === 'alert.created') {
    const a = frame.data as Alert;
    if (a?.severity !== 'critical') return null;
    return { key: nextKey++, text: `Critical alert: ${a.title}`, link: `/alerts/${a.id}`, severity: 'error' };
  }
  if (frame.type === 'sla.breached') {
    const d = frame.data as Partial<Incident> & { incident?: string; incident_id?: string; clock?: string };
    const id = d.incident_id ?? d.incident ?? d.id;
    if (!id) return null;
    const what = d.clock ? ` (${d.clock})` : '';
    return { key: nextKey++, text: `SLA breached${what}: ${d.title ?? id}`, link: `/incidents/${id}`, severity: 'error' };
  }
  return null;
}

/** Snackbars for critical alerts and SLA breaches arriving on the live feed. */
export function LiveToasts() {
  const [queue, setQueue] = useState<Toast[]>([]);
  const navigate = useNavigate();
  useLiveFrames(
    useCallback((f: LiveFrame) => {
      const t = toastFor(f);
      if (t) setQueue((q) => [...q.slice(-4), t]);
    }, []),
  );
  const current = queue[0];
  const dismiss = () => setQueue((q) => q.slice(1));
  return (
    <Snackbar
      key={current?.key}
      open={!!current}
      autoHideDuration={8000}
      onClose={(_, reason) => reason !== 'clickaway' && dismiss()}
      anchorOrigin={{ vertical: 'bottom', horizontal: 'right' }}
    >
      {current ? (
        <MuiAlert
          variant="filled"
          severity={current.severity}
          onClose={dismiss}
          data-testid="live-toast"
          action={
            <Button
              color="inherit"
              size="small"
              onClick={() => {
                navigate(current.link);
                dismiss();
              }}
            >
              Open
            </Button>
          }
        >
          {current.text}
        </MuiAlert>
      ) : undefined}
    </Snackbar>
  );
}
