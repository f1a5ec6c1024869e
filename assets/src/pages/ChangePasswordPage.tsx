import { useState, type FormEvent } from 'react';
import { Box, Button, Card, CardContent, Stack, TextField, Typography } from '@mui/material';
import { api } from '../api/client';
import { useAuth } from '../state/auth';
import { ErrorNotice } from '../components/ErrorNotice';

/** Shown after sign-in while the account still carries its first password. */
export function ChangePasswordPage() {
  const { reloadMe, logout, me } = useAuth();
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
      await reloadMe();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Box component="main" sx={{ minHeight: '100vh', display: 'grid', placeItems: 'center', p: 2 }}>
      <Card sx={{ width: '100%', maxWidth: 440 }}>
        <CardContent component="form" onSubmit={submit} aria-label="Change password" sx={{ p: 4 }}>
          <Stack spacing={2.5}>
            <Typography variant="h5" component="h1">
              Choose a new password
            </Typography>
            <Typography color="text.secondary">
              {me?.username}, your account must have a new password before you continue.
            </Typography>
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
              <Button onClick={() => void logout()}>Sign out</Button>
              <Button type="submit" variant="contained" disabled={busy || mismatch}>
                Change password
              </Button>
            </Stack>
          </Stack>
        </CardContent>
      </Card>
    </Box>
  );
}
