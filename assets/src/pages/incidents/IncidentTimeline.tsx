import { Box, Stack, Typography } from '@mui/material';
import type { TimelineEntry } from '../../api/types';
import { absoluteTime, label } from '../../format';

/** A value as one readable line: objects as `key: value` pairs, nulls left out. */
function show(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v !== 'object') return String(v);
  if (Array.isArray(v)) return v.map(show).filter(Boolean).join(', ');
  return Object.entries(v as Record<string, unknown>)
    .filter(([, x]) => x !== null && x !== undefined && x !== '')
    .map(([k, x]) => `${k.replace(/_/g, ' ')}: ${typeof x === 'object' ? JSON.stringify(x) : String(x)}`)
    .join(' · ');
}

function describe(e: TimelineEntry): string {
  const before = show(e.before);
  const after = show(e.after);
  const detail = show(e.detail);
  const change = before && after ? `${before} → ${after}` : after || before;
  return [change, detail && detail !== change ? detail : ''].filter(Boolean).join(' — ');
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
