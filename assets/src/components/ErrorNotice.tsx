import { Alert as MuiAlert } from '@mui/material';
import { errorMessage } from '../api/client';

export function ErrorNotice({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <MuiAlert severity="error" sx={{ my: 1 }} role="alert">
      {errorMessage(error)}
    </MuiAlert>
  );
}
