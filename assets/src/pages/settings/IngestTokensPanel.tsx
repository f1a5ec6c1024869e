import { useCallback, useEffect, useState } from 'react';
import {
  Alert as MuiAlert,
  Box,
  Button,
  IconButton,
  MenuItem,
  Stack,
  Table,
  TableBody,
  TableCell,
  TableHead,
  TableRow,
  TextField,
  Tooltip,
  Typography,
} from '@mui/material';
import DeleteOutline from '@mui/icons-material/DeleteOutline';
import ContentCopy from '@mui/icons-material/ContentCopy';
import { api } from '../../api/client';
import { SOURCES, type CreatedIngestToken, type IngestSource, type IngestToken } from '../../api/types';
import { ErrorNotice } from '../../components/ErrorNotice';
import { absoluteTime } from '../../format';
import { TenantPicker } from './TenantPicker';

/** Tokens senders use to post alerts; the secret is shown once, at creation. */
export function IngestTokensPanel({ tenant, onTenant }: { tenant: string; onTenant: (t: string) => void }) {
  const [tokens, setTokens] = useState<IngestToken[]>([]);
  const [source, setSource] = useState<IngestSource>('generic');
  const [secret, setSecret] = useState('');
  const [created, setCreated] = useState<CreatedIngestToken | null>(null);
  const [error, setError] = useState<unknown>(null);

  const load = useCallback(async () => {
    if (!tenant) return;
    try {
      setTokens((await api.listIngestTokens(tenant)).items);
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, [tenant]);
  useEffect(() => {
    setCreated(null);
    void load();
  }, [load]);

  return (
    <Stack gap={1.5}>
      <Stack direction="row" gap={1} flexWrap="wrap" alignItems="center">
        <TenantPicker id="tokens-tenant" value={tenant} onChange={onTenant} />
      </Stack>
      {tenant && (
        <Box
          component="form"
          aria-label="New ingest token"
          onSubmit={async (e) => {
            e.preventDefault();
            try {
              setCreated(await api.createIngestToken(tenant, source, secret || undefined));
              setSecret('');
              await load();
            } catch (err) {
              setError(err);
            }
          }}
        >
          <Stack direction="row" gap={1} flexWrap="wrap" alignItems="center">
            <TextField select size="small" label="Source" value={source} onChange={(e) => setSource(e.target.value as IngestSource)} sx={{ width: 150 }}>
              {SOURCES.map((s) => (
                <MenuItem key={s} value={s}>
                  {s}
                </MenuItem>
              ))}
            </TextField>
            <TextField size="small" label="Signing secret (optional)" type="password" autoComplete="off" value={secret} onChange={(e) => setSecret(e.target.value)} />
            <Button type="submit" variant="contained">
              Create token
            </Button>
          </Stack>
        </Box>
      )}
      {created && (
        <MuiAlert severity="warning" data-testid="created-token" onClose={() => setCreated(null)}>
          <Typography variant="body2" gutterBottom>
            Copy this {created.source} token now — it will not be shown again.
          </Typography>
          <Stack direction="row" alignItems="center" gap={1}>
            <Box component="code" sx={{ wordBreak: 'break-all', fontSize: 13 }} data-testid="created-token-value">
              {created.token}
            </Box>
            <Tooltip title="Copy token">
              <IconButton aria-label="Copy token" size="small" onClick={() => void navigator.clipboard?.writeText(created.token)}>
                <ContentCopy fontSize="small" />
              </IconButton>
            </Tooltip>
          </Stack>
        </MuiAlert>
      )}
      <ErrorNotice error={error} />
      {tenant && (
        <Table size="small" aria-label="Ingest tokens">
          <TableHead>
            <TableRow>
              <TableCell>Id</TableCell>
              <TableCell>Source</TableCell>
              <TableCell>Signed</TableCell>
              <TableCell>Created</TableCell>
              <TableCell align="right">Revoke</TableCell>
            </TableRow>
          </TableHead>
          <TableBody>
            {tokens.map((t) => (
              <TableRow key={t.id} data-testid="token-row">
                <TableCell sx={{ fontFamily: 'monospace' }}>{t.id}</TableCell>
                <TableCell>{t.source}</TableCell>
                <TableCell>{t.signed ? 'HMAC' : 'No'}</TableCell>
                <TableCell>{absoluteTime(t.created_at)}</TableCell>
                <TableCell align="right">
                  <IconButton
                    aria-label={`Revoke token ${t.id}`}
                    onClick={async () => {
                      if (!window.confirm(`Revoke ${t.source} token ${t.id}? Senders using it will be refused.`)) return;
                      try {
                        await api.revokeIngestToken(tenant, t.id);
                        await load();
                      } catch (e) {
                        setError(e);
                      }
                    }}
                  >
                    <DeleteOutline />
                  </IconButton>
                </TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      )}
    </Stack>
  );
}
