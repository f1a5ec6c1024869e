import { Chip } from '@mui/material';
import type { Tlp } from '../api/types';

// FIRST TLP 2.0 colours (on black, as the standard shows them).
const TLP_COLORS: Record<Tlp, string> = {
  clear: '#ffffff',
  green: '#33ff00',
  amber: '#ffc000',
  'amber+strict': '#ffc000',
  red: '#ff2b2b',
};

export function TlpChip({ tlp }: { tlp: Tlp }) {
  return (
    <Chip
      size="small"
      label={`TLP:${tlp.toUpperCase()}`}
      sx={{ bgcolor: '#000000', color: TLP_COLORS[tlp] ?? '#ffffff', fontWeight: 700, fontFamily: 'monospace' }}
    />
  );
}
