import { Box, Stack, Typography } from '@mui/material';
import type { TimelineEntry } from '../../api/types';
import { absoluteTime, label } from '../../format';

function describe(e: TimelineEntry): string {
  const show = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));
  if (e.before !== undefined || e.after !== undefined) {
    return `${e.before !== undefined ? show(e.before) : '—'} → ${e.after !== undefined ? show(e.after) : '—'}`;
  }
  if (e.detail !== undefined && e.detail !== null) return show(e.detail);
  return '';
}

/** What happened to the incident, oldest first. */
export function IncidentTimeline({ entries }: { entries: TimelineEntry[] }) {
  if (!entries.length) return <Typography color="text.secondary">Nothing recorded yet</Typography>;
  return (
    <Box component="ol" sx={{ listStyle: 'none', m: 0, p: 0 }} aria-label="Incident timeline" data-testid="incident-timeline">
      {entries.map((e) => (
        <Box component="li" key={e.id} sx={{ display: 'flex', gap: 1.5, pb: 1.5, position: 'relative' }}>
          <Box sx={{ width: 10, height: 10, mt: 0.75, borderRadius: '50%', bgcolor: 'primary.main', flexShrink: 0 }} />
          <Stack sx={{ minWidth: 0 }}>
            <Typography variant="body2" fontWeight={600}>
              {label(e.action)}
            </Typography>
            {describe(e) && (
              <Typography variant="body2" sx={{ wordBreak: 'break-word' }}>
                {describe(e)}
              </Typography>
            )}
            <Typography variant="caption" color="text.secondary">
              {e.actor} · {absoluteTime(e.at)}
            </Typography>
          </Stack>
        </Box>
      ))}
    </Box>
  );
}
