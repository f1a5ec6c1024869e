import { useEffect, useState } from 'react';
import { Card, CardContent, Stack, Typography } from '@mui/material';
import Grid from '@mui/material/Grid2';
import { api } from '../../api/client';
import { ErrorNotice } from '../../components/ErrorNotice';
import { label } from '../../format';

function show(v: unknown): string {
  if (Array.isArray(v)) return `${v.length} active`;
  if (v && typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** The appliance's supervised actors as they report themselves, refreshed every 5 s. */
export function SystemPanel() {
  const [actors, setActors] = useState<Record<string, unknown> | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    const load = () =>
      api.actors().then(
        (a) => {
          setActors(a);
          setError(null);
        },
        setError,
      );
    void load();
    const t = setInterval(() => void load(), 5000);
    return () => clearInterval(t);
  }, []);
  return (
    <Stack gap={1.5}>
      <Typography color="text.secondary">
        Supervised actors of this appliance. Connectors report here with their health as they are configured.
      </Typography>
      <ErrorNotice error={error} />
      <Grid container spacing={2}>
        {Object.entries(actors ?? {}).map(([name, v]) => (
          <Grid key={name} size={{ xs: 12, sm: 6, lg: 4 }}>
            <Card data-testid="actor-card">
              <CardContent>
                <Typography variant="subtitle1" component="h3" fontWeight={600}>
                  {label(name)}
                </Typography>
                {v && typeof v === 'object' && !Array.isArray(v) ? (
                  <Stack component="dl" sx={{ m: 0 }}>
                    {Object.entries(v as Record<string, unknown>)
                      .filter(([k]) => k !== 'actor')
                      .map(([k, x]) => (
                        <Stack key={k} direction="row" justifyContent="space-between" gap={2}>
                          <Typography component="dt" variant="body2" color="text.secondary">
                            {label(k)}
                          </Typography>
                          <Typography component="dd" variant="body2" sx={{ m: 0, wordBreak: 'break-all' }}>
                            {show(x)}
                          </Typography>
                        </Stack>
                      ))}
                  </Stack>
                ) : (
                  <Typography variant="body2">{show(v)}</Typography>
                )}
              </CardContent>
            </Card>
          </Grid>
        ))}
      </Grid>
    </Stack>
  );
}
