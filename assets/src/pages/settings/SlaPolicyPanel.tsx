import { useCallback, useEffect, useState } from 'react';
import { Alert as MuiAlert, Button, Stack, Table, TableBody, TableCell, TableHead, TableRow, TextField } from '@mui/material';
import { api } from '../../api/client';
import { SEVERITIES, type Severity, type SlaPolicy, type SlaTarget } from '../../api/types';
import { ErrorNotice } from '../../components/ErrorNotice';
import { SeverityChip } from '../../components/SeverityChip';
import { formatDuration } from '../../format';
import { TenantPicker } from './TenantPicker';

/** Time to acknowledge and to resolve per severity, in seconds, for one tenant. */
export function SlaPolicyPanel({ tenant, onTenant }: { tenant: string; onTenant: (t: string) => void }) {
  const [policy, setPolicy] = useState<SlaPolicy | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);

  const load = useCallback(async () => {
    if (!tenant) return;
    try {
      setPolicy(await api.getSlaPolicy(tenant));
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, [tenant]);
  useEffect(() => {
    setPolicy(null);
    void load();
  }, [load]);

  const set = (s: Severity, k: keyof SlaTarget, v: string) => {
    if (!policy) return;
    setSaved(false);
    setPolicy({ ...policy, [s]: { ...policy[s], [k]: Number(v) } });
  };

  return (
    <Stack gap={1.5}>
      <TenantPicker id="sla-tenant" value={tenant} onChange={onTenant} />
      <ErrorNotice error={error} />
      {saved && <MuiAlert severity="success">SLA policy saved</MuiAlert>}
      {policy && (
        <form
          aria-label="SLA policy"
          onSubmit={async (e) => {
            e.preventDefault();
            try {
              setPolicy(await api.putSlaPolicy(tenant, policy));
              setSaved(true);
              setError(null);
            } catch (err) {
              setError(err);
            }
          }}
        >
          <Table size="small" aria-label="SLA targets by severity">
            <TableHead>
              <TableRow>
                <TableCell>Severity</TableCell>
                <TableCell>Acknowledge within (s)</TableCell>
                <TableCell>Resolve within (s)</TableCell>
                <TableCell>Warn at (ratio)</TableCell>
              </TableRow>
            </TableHead>
            <TableBody>
              {SEVERITIES.map((s) => {
                const t = policy[s] ?? { acknowledge_s: 0, resolve_s: 0, warn_ratio: 0.8 };
                return (
                  <TableRow key={s}>
                    <TableCell>
                      <SeverityChip severity={s} />
                    </TableCell>
                    <TableCell>
                      <TextField
                        size="small"
                        type="number"
                        value={t.acknowledge_s}
                        onChange={(e) => set(s, 'acknowledge_s', e.target.value)}
                        helperText={formatDuration(t.acknowledge_s)}
                        slotProps={{ htmlInput: { min: 1, 'aria-label': `${s} acknowledge seconds` } }}
                      />
                    </TableCell>
                    <TableCell>
                      <TextField
                        size="small"
                        type="number"
                        value={t.resolve_s}
                        onChange={(e) => set(s, 'resolve_s', e.target.value)}
                        helperText={formatDuration(t.resolve_s)}
                        slotProps={{ htmlInput: { min: 1, 'aria-label': `${s} resolve seconds` } }}
                      />
                    </TableCell>
                    <TableCell>
                      <TextField
                        size="small"
                        type="number"
                        value={t.warn_ratio}
                        onChange={(e) => set(s, 'warn_ratio', e.target.value)}
                        slotProps={{ htmlInput: { min: 0, max: 1, step: 0.05, 'aria-label': `${s} warning ratio` } }}
                      />
                    </TableCell>
                  </TableRow>
                );
              })}
            </TableBody>
          </Table>
          <Button type="submit" variant="contained" sx={{ mt: 2 }}>
            Save policy
          </Button>
        </form>
      )}
    </Stack>
  );
}
