import { useCallback, useEffect, useRef, useState } from 'react';
import { Box, Card, CardContent, Stack, ToggleButton, ToggleButtonGroup, Typography } from '@mui/material';
import Grid from '@mui/material/Grid2';
import { visuallyHidden } from '../../theme';
import { Link as RouterLink } from 'react-router-dom';
import { api } from '../../api/client';
import { INCIDENT_STATES, SEVERITIES, type DashboardSummary } from '../../api/types';
import { useTenantScope } from '../../state/tenant';
import { useLiveFrames } from '../../state/live';
import { formatSeconds, label } from '../../format';
import { ErrorNotice } from '../../components/ErrorNotice';
import { PageLoading } from '../../components/PageLoading';
import { SeverityChip } from '../../components/SeverityChip';
import { KpiCard } from './KpiCard';
import { TrendChart } from './TrendChart';
import { TopList } from './TopList';
import { DropsTable } from './DropsTable';

function FutureCard({ title, text }: { title: string; text: string }) {
  return (
    <Card sx={{ height: '100%', borderStyle: 'dashed' }}>
      <CardContent>
        <Typography variant="h6" component="h2">
          {title}
        </Typography>
        <Box sx={{ minHeight: 140, display: 'grid', placeItems: 'center' }}>
          <Typography color="text.secondary">{text}</Typography>
        </Box>
      </CardContent>
    </Card>
  );
}

export default function OverviewPage() {
  const { tenant } = useTenantScope();
  const [range, setRange] = useState<'24h' | '7d'>('24h');
  const [data, setData] = useState<DashboardSummary | null>(null);
  const [error, setError] = useState<unknown>(null);
  const pending = useRef<ReturnType<typeof setTimeout> | null>(null);

  const load = useCallback(async () => {
    try {
      setData(await api.summary(range, tenant));
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, [range, tenant]);

  useEffect(() => {
    void load();
    const t = setInterval(() => void load(), 30_000);
    return () => clearInterval(t);
  }, [load]);

  // Live changes refresh the KPIs, at most once every two seconds.
  useLiveFrames(() => {
    if (pending.current) return;
    pending.current = setTimeout(() => {
      pending.current = null;
      void load();
    }, 2000);
  });
  useEffect(() => () => {
    if (pending.current) clearTimeout(pending.current);
  }, []);

  return (
    <Stack spacing={2}>
      <Stack direction="row" alignItems="center" justifyContent="space-between" flexWrap="wrap" gap={1}>
        <Typography variant="h5" component="h1">
          Overview{tenant ? ` — ${tenant}` : ''}
        </Typography>
        <ToggleButtonGroup
          size="small"
          exclusive
          value={range}
          onChange={(_, v: '24h' | '7d' | null) => v && setRange(v)}
          aria-label="Time range"
        >
          <ToggleButton value="24h">Last 24 h</ToggleButton>
          <ToggleButton value="7d">Last 7 d</ToggleButton>
        </ToggleButtonGroup>
      </Stack>
      <ErrorNotice error={error} />
      {!data && !error && <PageLoading />}
      {data && (
        <>
          <Grid container spacing={2}>
            <Grid size={{ xs: 12, sm: 6, lg: 3 }}>
              <KpiCard
                testId="kpi-open-alerts"
                title="Open alerts"
                value={<RouterLink to="/alerts" style={{ color: 'inherit' }}>{data.alerts.open_total}</RouterLink>}
                hint={
                  <Stack direction="row" gap={0.5} flexWrap="wrap" sx={{ mt: 0.5 }}>
                    {SEVERITIES.map((s) => (
                      <Box
                        key={s}
                        component={RouterLink}
                        to={`/alerts?severity=${s}`}
                        sx={{ display: 'flex', alignItems: 'center', gap: 0.25, color: 'inherit', textDecoration: 'none', borderRadius: 2, '&:hover': { bgcolor: 'action.hover' } }}
                      >
                        <SeverityChip severity={s} />
                        <Typography variant="body2" sx={{ mr: 0.5 }}>
                          {data.alerts.open_by_severity[s] ?? 0}
                          <Box component="span" sx={visuallyHidden}>
                            {' '}open alerts
                          </Box>
                        </Typography>
                      </Box>
                    ))}
                  </Stack>
                }
              />
            </Grid>
            <Grid size={{ xs: 6, sm: 3, lg: 2 }}>
              <KpiCard testId="kpi-mtta" title="MTTA" value={formatSeconds(data.mtta_s)} hint="Mean time to acknowledge" />
            </Grid>
            <Grid size={{ xs: 6, sm: 3, lg: 2 }}>
              <KpiCard testId="kpi-mttr" title="MTTR" value={formatSeconds(data.mttr_s)} hint="Mean time to resolve" />
            </Grid>
            <Grid size={{ xs: 6, sm: 6, lg: 2 }}>
              <KpiCard
                testId="kpi-sla"
                title="SLA breaches"
                value={data.sla_breaches}
                tone={data.sla_breaches > 0 ? 'error' : 'default'}
                hint={`in the last ${range}`}
              />
            </Grid>
            <Grid size={{ xs: 6, sm: 6, lg: 3 }}>
              <KpiCard
                testId="kpi-incidents"
                title="Open incidents"
                value={data.incidents.open_total}
                hint={INCIDENT_STATES.filter((s) => (data.incidents.by_state[s] ?? 0) > 0)
                  .map((s) => `${label(s)} ${data.incidents.by_state[s]}`)
                  .join(' · ') || 'None open'}
              />
            </Grid>
          </Grid>
          <Card>
            <CardContent>
              <Typography variant="h6" component="h2" gutterBottom>
                Alert trend by severity
              </Typography>
              <TrendChart buckets={data.trend.buckets} bucketSeconds={data.trend.bucket_s} range={range} />
            </CardContent>
          </Card>
          <Grid container spacing={2}>
            <Grid size={{ xs: 12, md: 4 }}>
              <TopList title="Top sources" rows={data.top.sources} hrefFor={(k) => `/alerts?source=${encodeURIComponent(k)}`} />
            </Grid>
            <Grid size={{ xs: 12, md: 4 }}>
              <TopList title="Top hosts" rows={data.top.hosts} hrefFor={(k) => `/alerts?q=${encodeURIComponent(k)}`} />
            </Grid>
            <Grid size={{ xs: 12, md: 4 }}>
              <TopList title="Top rules" rows={data.top.rules} hrefFor={(k) => `/alerts?q=${encodeURIComponent(`"${k}"`)}`} />
            </Grid>
          </Grid>
          <DropsTable rows={data.drops} />
          <Grid container spacing={2}>
            <Grid size={{ xs: 12, md: 6 }}>
              <FutureCard title="Threat map" text="World map of alert origins — coming with GeoIP enrichment" />
            </Grid>
            <Grid size={{ xs: 12, md: 6 }}>
              <FutureCard title="MITRE ATT&CK coverage" text="Technique matrix — coming with the ATT&CK table" />
            </Grid>
          </Grid>
        </>
      )}
    </Stack>
  );
}
