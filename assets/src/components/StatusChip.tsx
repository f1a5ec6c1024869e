import { Chip } from '@mui/material';
import { label } from '../format';

const TONE: Record<string, 'default' | 'primary' | 'success' | 'warning' | 'info' | 'error'> = {
  new: 'primary',
  acknowledged: 'info',
  in_progress: 'warning',
  investigating: 'warning',
  contained: 'info',
  eradicated: 'info',
  recovered: 'info',
  resolved: 'success',
  closed: 'default',
  suppressed: 'default',
};

/** The lifecycle state of an alert or an incident. */
export function StatusChip({ status }: { status: string }) {
  return <Chip size="small" variant="outlined" color={TONE[status] ?? 'default'} label={label(status)} data-status={status} />;
}
