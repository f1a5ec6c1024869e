import { Card, CardActionArea, CardContent, Stack, Typography } from '@mui/material';
import { Link as RouterLink } from 'react-router-dom';
import type { Incident } from '../../api/types';
import { SeverityChip } from '../../components/SeverityChip';
import { SlaCountdown } from '../../components/SlaCountdown';
import { relativeTime } from '../../format';

/** One incident on the board. */
export function IncidentCard({ incident: i, showTenant }: { incident: Incident; showTenant: boolean }) {
  const clock = i.status === 'new' ? 'acknowledge' : 'resolve';
  const done = i.status === 'resolved' || i.status === 'closed';
  return (
    <Card data-testid="incident-card" data-incident-id={i.id}>
      <CardActionArea component={RouterLink} to={`/incidents/${i.id}`}>
        <CardContent sx={{ p: 1.5, '&:last-child': { pb: 1.5 } }}>
          <Stack direction="row" gap={0.5} alignItems="center" sx={{ mb: 0.5 }}>
            <SeverityChip severity={i.severity} />
            {i.priority && (
              <Typography variant="caption" fontWeight={700}>
                {i.priority.toUpperCase()}
              </Typography>
            )}
          </Stack>
          <Typography variant="body2" fontWeight={600} sx={{ wordBreak: 'break-word' }}>
            {i.title}
          </Typography>
          <Typography variant="caption" color="text.secondary" component="div">
            {[showTenant ? i.tenant : null, i.assignee ?? 'Unassigned', relativeTime(i.created_at)].filter(Boolean).join(' · ')}
          </Typography>
          {!done && (
            <Stack sx={{ mt: 0.75 }} alignItems="flex-start">
              <SlaCountdown sla={i.sla} clock={clock} />
            </Stack>
          )}
        </CardContent>
      </CardActionArea>
    </Card>
  );
}
