import { useState, type FormEvent, type ReactNode } from 'react';
import { Button, Stack, TextField } from '@mui/material';
import { api } from '../api/client';
import { ErrorNotice } from './ErrorNotice';

interface Props {
  onDone: () => void | Promise<void>;
  /** the secondary button (sign out on first login, cancel from the account menu) */
  secondary: ReactNode;
}

/** Current password, new password twice; the new one must be at least 12 characters. */
export function ChangePasswordForm({ onDone, secondary }: Props) {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [confirm, setConfirm] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const mismatch = confirm.length > 0 && confirm !== next;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (mismatch) return;
    setBusy(true);
    setError(null);
    try {
      await api.changePassword(current, next);
      await onDone();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Stack component="form" onSubmit={submit} aria-label="Change password" spacing={2.5}>
      <ErrorNotice error={error} />
      <TextField
        label="Current password"
        type="password"
        autoComplete="current-password"
        value={current}
        onChange={(e) => setCurrent(e.target.value)}
        required
        autoFocus
      />
      <TextField
        label="New password"
        type="password"
        autoComplete="new-password"
        value={next}
        onChange={(e) => setNext(e.target.value)}
        required
        helperText="At least 12 characters"
        slotProps={{ htmlInput: { minLength: 12 } }}
      />
      <TextField
        label="Confirm new password"
        type="password"
        autoComplete="new-password"
        value={confirm}
        onChange={(e) => setConfirm(e.target.value)}
        required
        error={mismatch}
        helperText={mismatch ? 'Passwords do not match' : ' '}
      />
      <Stack direction="row" spacing={1} justifyContent="flex-end">
        {secondary}
        <Button type="submit" variant="contained" disabled={busy || mismatch}>
          Change password
        </Button>
      </Stack>
    </Stack>
  );
}
