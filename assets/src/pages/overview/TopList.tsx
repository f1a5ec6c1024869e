import { Box, Card, CardContent, LinearProgress, Link, List, ListItem, Typography } from '@mui/material';
import { Link as RouterLink } from 'react-router-dom';
import type { CountByKey } from '../../api/types';

/** The noisiest sources, hosts or rules of the range; each links to its alerts. */
export function TopList({ title, rows, hrefFor }: { title: string; rows: CountByKey[]; hrefFor?: (key: string) => string }) {
  const max = Math.max(1, ...rows.map((r) => r.count));
  return (
    <Card sx={{ height: '100%' }}>
      <CardContent>
        <Typography variant="h6" component="h2" gutterBottom>
          {title}
        </Typography>
        {rows.length === 0 ? (
          <Typography color="text.secondary">Nothing yet</Typography>
        ) : (
          <List dense disablePadding>
            {rows.slice(0, 8).map((r) => (
              <ListItem key={r.key} disableGutters sx={{ display: 'block' }}>
                <Box sx={{ display: 'flex', justifyContent: 'space-between', gap: 1 }}>
                  {hrefFor && r.key ? (
                    <Link component={RouterLink} to={hrefFor(r.key)} variant="body2" noWrap title={r.key}>
                      {r.key}
                    </Link>
                  ) : (
                    <Typography variant="body2" noWrap title={r.key}>
                      {r.key || '(none)'}
                    </Typography>
                  )}
                  <Typography variant="body2" fontWeight={600}>
                    {r.count}
                  </Typography>
                </Box>
                <LinearProgress
                  variant="determinate"
                  value={(r.count / max) * 100}
                  aria-label={`${r.key}: ${r.count}`}
                  sx={{ height: 4, borderRadius: 2 }}
                />
              </ListItem>
            ))}
          </List>
        )}
      </CardContent>
    </Card>
  );
}
