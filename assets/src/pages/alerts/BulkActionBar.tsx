import { useState } from 'react';
import { Button, Dialog, DialogActions, DialogContent, DialogTitle, Paper, Stack, TextField, Typography } from '@mui/material';
import type { BulkAction } from '../../api/types';

interface Props {
  count: number;
  busy: boolean;
  defaultAssignee: string;
  onAction: (action: BulkAction, extra: { assignee?: string; reason?: string }) => void;
  onClear: () => void;
}

type Ask = { action: 'assign' | 'suppress' | 'close' } | null;

/** Actions on every selected alert at once. */
export function BulkActionBar({ count, busy, defaultAssignee, onAction, onClear }: Props) {
  const [ask, setAsk] = useState<Ask>(null);
  const [text, setText] = useState('');
  const open = (action: 'assign' | 'suppress' | 'close') => {
    setText(action === 'assign' ? defaultAssignee : '');
    setAsk({ action });
  };
  return (
    <Paper variant="outlined" sx={{ px: 2, py: 1 }} role="region" aria-label="Bulk actions" data-testid="bulk-bar">
      <Stack direction="row" gap={1} alignItems="center" flexWrap="wrap">
        <Typography fontWeight={600} sx={{ mr: 1 }} aria-live="polite">
          {count} selected
        </Typography>
        <Button variant="contained" size="small" disabled={busy} onClick={() => onAction('acknowledge', {})}>
          Acknowledge
        </Button>
        <Button size="small" variant="outlined" disabled={busy} onClick={() => open('assign')}>
          Assign…
        </Button>
        <Button size="small" variant="outlined" disabled={busy} onClick={() => open('close')}>
          Close…
        </Button>
        <Button size="small" variant="outlined" disabled={busy} onClick={() => open('suppress')}>
          Suppress…
        </Button>
        <Button size="small" variant="outlined" disabled={busy} onClick={() => onAction('reopen', {})}>
          Reopen
        </Button>
        <Button size="small" onClick={onClear}>
          Clear selection
        </Button>
      </Stack>
      <Dialog open={!!ask} onClose={() => setAsk(null)} aria-labelledby="bulk-dialog-title" fullWidth maxWidth="xs">
        <form
          onSubmit={(e) => {
            e.preventDefault();
            if (!ask) return;
            onAction(ask.action, ask.action === 'assign' ? { assignee: text } : text ? { reason: text } : {});
            setAsk(null);
          }}
        >
          <DialogTitle id="bulk-dialog-title">
            {ask?.action === 'assign' ? 'Assign' : ask?.action === 'close' ? 'Close' : 'Suppress'} {count} alert{count === 1 ? '' : 's'}
          </DialogTitle>
          <DialogContent>
            <TextField
              autoFocus
              fullWidth
              margin="dense"
              label={ask?.action === 'assign' ? 'Assignee (username)' : 'Reason'}
              value={text}
              onChange={(e) => setText(e.target.value)}
              required={ask?.action === 'assign'}
            />
          </DialogContent>
          <DialogActions>
            <Button onClick={() => setAsk(null)}>Cancel</Button>
            <Button type="submit" variant="contained">
              Apply
            </Button>
          </DialogActions>
        </form>
      </Dialog>
    </Paper>
  );
}
