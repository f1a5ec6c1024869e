import { useState } from 'react';
import { Box, Button, Chip, Stack, Typography } from '@mui/material';
import { api } from '../../api/client';
import type { CustodyChain } from '../../api/types';
import { ErrorNotice } from '../../components/ErrorNotice';
import { absoluteTime, label } from '../../format';

/** Who touched which evidence file when, as a hash chain the server verifies. */
export function CustodyChainView({ incidentId }: { incidentId: string }) {
  const [chain, setChain] = useState<CustodyChain | null>(null);
  const [error, setError] = useState<unknown>(null);
  const load = () =>
    api.custody(incidentId).then(
      (c) => {
        setChain(c);
        setError(null);
      },
      setError,
    );
  if (!chain) {
    return (
      <Stack alignItems="flex-start">
        <ErrorNotice error={error} />
        <Button size="small" onClick={() => void load()}>
          Show chain of custody
        </Button>
      </Stack>
    );
  }
  return (
    <Stack gap={0.5}>
      <Stack direction="row" gap={1} alignItems="center">
        <Typography variant="subtitle2" component="h3">
          Chain of custody
        </Typography>
        <Chip size="small" color={chain.valid ? 'success' : 'error'} label={chain.valid ? 'Chain verified' : 'Chain broken'} />
        <Button size="small" onClick={() => void load()}>
          Refresh
        </Button>
      </Stack>
      {chain.problem && <Typography color="error">{chain.problem}</Typography>}
      <Box component="ol" sx={{ m: 0, pl: 2.5 }}>
        {chain.items.map((c) => (
          <Typography component="li" variant="body2" key={c.seq}>
            {label(c.action)} · {c.actor}
            {c.ip ? ` from ${c.ip}` : ''} · {absoluteTime(c.at)}
            {c.reason ? ` — ${c.reason}` : ''}
          </Typography>
        ))}
      </Box>
    </Stack>
  );
}
