import { useState } from 'react';
import { Box, Button, Checkbox, FormControlLabel, MenuItem, Stack, Table, TableBody, TableCell, TableHead, TableRow, TextField, Typography } from '@mui/material';
import { OBSERVABLE_KINDS, TLPS, type IncidentObservable, type Tlp } from '../../api/types';
import { TlpChip } from '../../components/TlpChip';
import { ErrorNotice } from '../../components/ErrorNotice';
import { Link as RouterLink } from 'react-router-dom';


interface Props {
  observables: IncidentObservable[];
  incidentId: string;
  writable: boolean;
  onAdd: (o: Omit<IncidentObservable, 'id' | 'sightings'>) => Promise<void>;
}

/** Indicators attached to the incident, each with its TLP marking and where else it was seen. */
export function ObservablesPanel({ observables, incidentId, writable, onAdd }: Props) {
  const [type, setType] = useState('ip');
  const [value, setValue] = useState('');
  const [tlp, setTlp] = useState<Tlp>('amber');
  const [ioc, setIoc] = useState(true);
  const [error, setError] = useState<unknown>(null);
  return (
    <Stack gap={1}>
      {observables.length === 0 ? (
        <Typography color="text.secondary">No observables</Typography>
      ) : (
        <Table size="small" aria-label="Observables">
          <TableHead>
            <TableRow>
              <TableCell>Type</TableCell>
              <TableCell>Value</TableCell>
              <TableCell>TLP</TableCell>
              <TableCell>Seen in</TableCell>
            </TableRow>
          </TableHead>
          <TableBody>
            {observables.map((o) => (
              <TableRow key={o.id ?? `${o.type}:${o.value}`} data-testid="observable-row">
                <TableCell>{o.type}{o.ioc ? ' (IOC)' : ''}</TableCell>
                <TableCell sx={{ wordBreak: 'break-all', fontFamily: 'monospace' }}>{o.value}</TableCell>
                <TableCell>
                  <TlpChip tlp={o.tlp} />
                </TableCell>
                <TableCell>
                  {(o.sightings ?? []).filter((s) => s !== incidentId).map((s) => (
                    <Box key={s} component={RouterLink} to={`/incidents/${s}`} sx={{ display: 'block', color: 'primary.main' }}>
                      {s}
                    </Box>
                  ))}
                </TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      )}
      {writable && (
        <Box
          component="form"
          aria-label="Add observable"
          onSubmit={async (e) => {
            e.preventDefault();
            try {
              await onAdd({ type, value: value.trim(), tlp, ioc, pap: 'amber' });
              setValue('');
              setError(null);
            } catch (err) {
              setError(err);
            }
          }}
        >
          <ErrorNotice error={error} />
          <Stack direction="row" gap={1} flexWrap="wrap" alignItems="center">
            <TextField select size="small" label="Type" value={type} onChange={(e) => setType(e.target.value)} sx={{ width: 110 }}>
              {OBSERVABLE_KINDS.map((t) => (
                <MenuItem key={t} value={t}>
                  {t}
                </MenuItem>
              ))}
            </TextField>
            <TextField size="small" label="Value" value={value} onChange={(e) => setValue(e.target.value)} required sx={{ flex: 1, minWidth: 160 }} />
            <TextField select size="small" label="TLP" value={tlp} onChange={(e) => setTlp(e.target.value as Tlp)} sx={{ width: 140 }}>
              {TLPS.map((t) => (
                <MenuItem key={t} value={t}>
                  TLP:{t.toUpperCase()}
                </MenuItem>
              ))}
            </TextField>
            <FormControlLabel control={<Checkbox checked={ioc} onChange={(e) => setIoc(e.target.checked)} />} label="IOC" />
            <Button type="submit" variant="outlined" disabled={!value.trim()}>
              Add
            </Button>
          </Stack>
        </Box>
      )}
    </Stack>
  );
}
