import { Box, Chip } from '@mui/material';
import { useLiveState } from '../state/live';

const TEXT = { connected: 'Live', connecting: 'Connecting…', reconnecting: 'Reconnecting…', offline: 'Offline' } as const;
const DOT = { connected: 'success.main', connecting: 'warning.main', reconnecting: 'warning.main', offline: 'error.main' } as const;

/** The state of the live WebSocket feed, announced politely to screen readers. */
export function ConnectionIndicator() {
  const state = useLiveState();
  return (
    <Chip
      variant="outlined"
      size="small"
      data-testid="live-indicator"
      data-state={state}
      role="status"
      aria-label={`Live feed: ${TEXT[state]}`}
      icon={<Box component="span" sx={{ width: 10, height: 10, borderRadius: '50%', bgcolor: DOT[state], ml: 1 }} />}
      label={TEXT[state]}
    />
  );
}
