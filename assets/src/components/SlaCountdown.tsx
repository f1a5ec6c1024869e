import { useEffect, useState } from 'react';
import { Chip, Tooltip } from '@mui/material';
import TimerOutlined from '@mui/icons-material/TimerOutlined';
import { absoluteTime, formatDuration, parseTime } from '../format';
import type { SlaStatus } from '../api/types';

function useNow(intervalMs = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(t);
  }, [intervalMs]);
  return now;
}

export type SlaTone = 'ok' | 'warning' | 'breached' | 'met' | 'paused';

/**
 * The tone of one SLA clock at `now`. Per-clock facts from the server (met, breached,
 * warned) win; without them the overall state does; the browser's clock moves the
 * colour on time between server updates.
 */
export function slaTone(sla: SlaStatus, clock: 'acknowledge' | 'resolve', due: number | null, warnAt: number | null, now: number): SlaTone {
  const met = clock === 'acknowledge' ? sla.acknowledged_met : sla.resolved_met;
  const breached = clock === 'acknowledge' ? sla.breached_ack : sla.breached_resolve;
  const warned = clock === 'acknowledge' ? sla.warned_ack : sla.warned_resolve;
  if (met === true && !breached) return 'met';
  if (breached || met === false) return 'breached';
  if (sla.paused) return 'paused';
  const perClock = breached !== undefined;
  if (!perClock && sla.state === 'met') return 'met';
  if ((!perClock && sla.state === 'breached') || (due !== null && now >= due)) return 'breached';
  if (warned || (!perClock && sla.state === 'warning') || (warnAt !== null && now >= warnAt)) return 'warning';
  return 'ok';
}

const COLOR = { ok: 'default', warning: 'warning', breached: 'error', met: 'success', paused: 'default' } as const;

interface Props {
  sla: SlaStatus | null | undefined;
  /** which clock: time to acknowledge or time to resolve */
  clock: 'acknowledge' | 'resolve';
}

/** A live countdown of an incident's SLA clock: neutral, amber when warned, red when breached. */
export function SlaCountdown({ sla, clock }: Props) {
  const now = useNow();
  if (!sla) return null;
  const due = parseTime(clock === 'acknowledge' ? sla.acknowledge_due : sla.resolve_due);
  const warnAt = parseTime(clock === 'acknowledge' ? sla.warn_acknowledge_at : sla.warn_resolve_at);
  if (due === null) return null;
  const tone = slaTone(sla, clock, due, warnAt, now);
  const name = clock === 'acknowledge' ? 'Ack' : 'Resolve';
  const left = (due - now) / 1000;
  let text: string;
  if (tone === 'paused') text = `${name} SLA paused`;
  else if (tone === 'met') text = `${name} SLA met`;
  else if (tone === 'breached') text = left < -1 ? `${name} breached ${formatDuration(-left)} ago` : `${name} breached`;
  else text = `${name} due in ${formatDuration(left)}`;
  return (
    <Tooltip title={`${name} due ${absoluteTime(due)}${sla.pause_reason ? ` — paused: ${sla.pause_reason}` : ''}`}>
      <Chip
        size="small"
        icon={<TimerOutlined />}
        color={COLOR[tone]}
        variant={tone === 'ok' || tone === 'paused' ? 'outlined' : 'filled'}
        label={text}
        data-testid={`sla-${clock}`}
        data-sla-tone={tone}
        role="timer"
        aria-live="off"
      />
    </Tooltip>
  );
}
