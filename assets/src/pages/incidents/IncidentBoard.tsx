import { Box, Paper, Stack, Typography } from '@mui/material';
import { INCIDENT_STATES, type Incident } from '../../api/types';
import { label } from '../../format';
import { IncidentCard } from './IncidentCard';

/** Incidents in columns by lifecycle state. */
export function IncidentBoard({ incidents, showTenant }: { incidents: Incident[]; showTenant: boolean }) {
  return (
    <Box sx={{ display: 'flex', gap: 1.5, overflowX: 'auto', pb: 1, flex: 1, minHeight: 0 }} data-testid="incident-board" tabIndex={0} aria-label="Incident board">
      {INCIDENT_STATES.map((state) => {
        const col = incidents.filter((i) => i.status === state);
        return (
          <Paper
            key={state}
            variant="outlined"
            component="section"
            aria-label={`${label(state)} incidents`}
            sx={{ minWidth: 210, width: 210, flexShrink: 0, p: 1, bgcolor: 'background.default', display: 'flex', flexDirection: 'column' }}
          >
            <Stack direction="row" justifyContent="space-between" sx={{ px: 0.5, pb: 1 }}>
              <Typography variant="subtitle2" component="h2">
                {label(state)}
              </Typography>
              <Typography variant="subtitle2" color="text.secondary">
                {col.length}
              </Typography>
            </Stack>
            <Stack gap={1} sx={{ overflowY: 'auto' }}>
              {col.map((i) => (
                <IncidentCard key={i.id} incident={i} showTenant={showTenant} />
              ))}
            </Stack>
          </Paper>
        );
      })}
    </Box>
  );
}
