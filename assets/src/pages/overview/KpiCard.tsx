import type { ReactNode } from 'react';
import { Card, CardContent, Typography } from '@mui/material';

interface Props {
  title: string;
  value: ReactNode;
  hint?: ReactNode;
  testId?: string;
  tone?: 'error' | 'default';
}

/** One headline number of the SOC's day. */
export function KpiCard({ title, value, hint, testId, tone = 'default' }: Props) {
  return (
    <Card sx={{ height: '100%' }} data-testid={testId}>
      <CardContent>
        <Typography variant="body2" color="text.secondary" component="h2">
          {title}
        </Typography>
        <Typography variant="h4" component="p" color={tone === 'error' ? 'error' : 'text.primary'} sx={{ my: 0.5 }}>
          {value}
        </Typography>
        {hint && (
          <Typography variant="body2" component="div" color="text.secondary">
            {hint}
          </Typography>
        )}
      </CardContent>
    </Card>
  );
}
