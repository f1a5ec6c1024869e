import { Chip } from '@mui/material';
import type { Severity } from '../api/types';
import { SEVERITY_COLORS } from '../theme';
import { label } from '../format';

export function SeverityChip({ severity, size = 'small' }: { severity: Severity; size?: 'small' | 'medium' }) {
  const c = SEVERITY_COLORS[severity] ?? SEVERITY_COLORS.info;
  return (
    <Chip
      size={size}
      label={label(severity)}
      data-severity={severity}
      sx={{ bgcolor: c.bg, color: c.fg, fontWeight: 600, minWidth: 72 }}
    />
  );
}
