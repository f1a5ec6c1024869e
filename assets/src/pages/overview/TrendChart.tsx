import { Box, Stack, Typography, useTheme } from '@mui/material';
import { SEVERITIES, type Severity, type TrendBucket } from '../../api/types';
import { SEVERITY_COLORS } from '../../theme';
import { parseTime } from '../../format';
import { label } from '../../format';

interface Props {
  buckets: TrendBucket[];
  bucketSeconds: number;
  range: '24h' | '7d';
}

const W = 720;
const H = 180;
const PAD = { l: 40, r: 8, t: 8, b: 26 };

/** Alerts per time bucket, stacked by severity, drawn as plain SVG. */
export function TrendChart({ buckets, bucketSeconds, range }: Props) {
  const theme = useTheme();
  const totals = buckets.map((b) => SEVERITIES.reduce((s, k) => s + (b[k] ?? 0), 0));
  const max = Math.max(1, ...totals);
  const plotW = W - PAD.l - PAD.r;
  const plotH = H - PAD.t - PAD.b;
  const slot = buckets.length ? plotW / buckets.length : plotW;
  const barW = Math.max(1, slot * 0.8);
  const y = (v: number) => PAD.t + plotH - (v / max) * plotH;
  const ticks = [0, Math.round(max / 2), max];
  const labelEvery = Math.max(1, Math.ceil(buckets.length / 8));
  const fmt = (t: string | number) => {
    const ms = parseTime(t);
    if (ms === null) return '';
    const d = new Date(ms);
    return range === '24h' || bucketSeconds < 86400
      ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
      : d.toLocaleDateString([], { month: 'short', day: 'numeric' });
  };
  const total = totals.reduce((a, b) => a + b, 0);
  return (
    <Box>
      <Box
        component="svg"
        viewBox={`0 0 ${W} ${H}`}
        role="img"
        aria-label={`Alert trend over the last ${range}: ${total} alerts in ${buckets.length} buckets`}
        sx={{ width: '100%', height: 'auto', display: 'block' }}
      >
        {ticks.map((t) => (
          <g key={t}>
            <line x1={PAD.l} x2={W - PAD.r} y1={y(t)} y2={y(t)} stroke={theme.palette.divider} strokeWidth={1} />
            <text x={PAD.l - 6} y={y(t) + 4} textAnchor="end" fontSize={11} fill={theme.palette.text.secondary}>
              {t}
            </text>
          </g>
        ))}
        {buckets.map((b, i) => {
          let acc = 0;
          const x = PAD.l + i * slot + (slot - barW) / 2;
          return (
            <g key={String(b.t)}>
              <title>{`${fmt(b.t)}: ${totals[i]} alerts`}</title>
              {[...SEVERITIES].reverse().map((s: Severity) => {
                const v = b[s] ?? 0;
                if (!v) return null;
                const y0 = y(acc);
                acc += v;
                const y1 = y(acc);
                return <rect key={s} x={x} y={y1} width={barW} height={Math.max(0.5, y0 - y1)} fill={SEVERITY_COLORS[s].line} />;
              })}
              {i % labelEvery === 0 && (
                <text x={x + barW / 2} y={H - 8} textAnchor="middle" fontSize={11} fill={theme.palette.text.secondary}>
                  {fmt(b.t)}
                </text>
              )}
            </g>
          );
        })}
        {buckets.length === 0 && (
          <text x={W / 2} y={H / 2} textAnchor="middle" fontSize={14} fill={theme.palette.text.secondary}>
            No alerts in this range
          </text>
        )}
      </Box>
      <Stack direction="row" spacing={2} sx={{ mt: 1, flexWrap: 'wrap' }} aria-hidden>
        {SEVERITIES.map((s) => (
          <Stack key={s} direction="row" spacing={0.5} alignItems="center">
            <Box sx={{ width: 12, height: 12, borderRadius: 0.5, bgcolor: SEVERITY_COLORS[s].line }} />
            <Typography variant="caption">{label(s)}</Typography>
          </Stack>
        ))}
      </Stack>
    </Box>
  );
}
