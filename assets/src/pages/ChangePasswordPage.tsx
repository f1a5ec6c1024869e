import { Box, Button, Card, CardContent, Stack, Typography } from '@mui/material';
import { useAuth } from '../state/auth';
import { ChangePasswordForm } from '../components/ChangePasswordForm';

/** Shown after sign-in while the account still carries its first password. */
export function ChangePasswordPage() {
  const { reloadMe, logout, me } = useAuth();
  return (
    <Box component="main" sx={{ minHeight: '100vh', display: 'grid', placeItems: 'center', p: 2 }}>
      <Card sx={{ width: '100%', maxWidth: 440 }}>
        <CardContent sx={{ p: 4 }}>
          <Stack spacing={2.5}>
            <Typography variant="h5" component="h1">
              Choose a new password
            </Typography>
            <Typography color="text.secondary">
              {me?.username}, your account must have a new password before you continue.
            </Typography>
            <ChangePasswordForm onDone={reloadMe} secondary={<Button onClick={() => void logout()}>Sign out</Button>} />
          </Stack>
        </CardContent>
      </Card>
    </Box>
  );
}
