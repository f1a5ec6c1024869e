import { useEffect, useState } from 'react';
import {
  Autocomplete,
  Button,
  Dialog,
  DialogActions,
  DialogContent,
  DialogContentText,
  DialogTitle,
  FormControl,
  FormControlLabel,
  FormLabel,
  Radio,
  RadioGroup,
  Stack,
  TextField,
  Typography,
} from '@mui/material';
import { api } from '../../api/client';
import { OPEN_INCIDENT_STATES, type Incident } from '../../api/types';
import { ErrorNotice } from '../../components/ErrorNotice';
import { label } from '../../format';

interface Props {
  incident: Incident;
  onClose: () => void;
  /** called with the surviving incident once the server merged the two */
  onMerged: (survivor: Incident) => void;
}

/** Which side survives: this incident absorbs the picked one, or is folded into it. */
type Direction = 'keep-this' | 'into-other';

const optionLabel = (i: Incident) => `${i.title} (${i.id})`;

/**
 * Folds two incidents of one tenant together (two responders opened the same case). The
 * surviving incident gains the other's alerts, observables and timeline; the other is
 * closed as a duplicate that points at it.
 */
export function MergeIncidentDialog({ incident, onClose, onMerged }: Props) {
  const [input, setInput] = useState('');
  /** what the analyst typed; the input also shows the picked option's label, which is no search */
  const [query, setQuery] = useState('');
  const [options, setOptions] = useState<Incident[]>([]);
  const [loading, setLoading] = useState(false);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [other, setOther] = useState<Incident | null>(null);
  const [direction, setDirection] = useState<Direction>('keep-this');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  // Candidates: the same tenant's incidents that are not closed, minus this one. The
  // search waits for a pause in typing so each keystroke is not a request.
  useEffect(() => {
    let stale = false;
    setLoading(true);
    const t = setTimeout(() => {
      api
        .listIncidents({ tenant: incident.tenant, status: OPEN_INCIDENT_STATES, q: query.trim() || undefined, limit: 50 })
        .then((page) => {
          if (stale) return;
          setOptions(page.items.filter((i) => i.id !== incident.id && !i.merged_into && i.tenant === incident.tenant));
          setLoadError(null);
        })
        .catch((e) => !stale && setLoadError(e))
        .finally(() => !stale && setLoading(false));
    }, 250);
    return () => {
      stale = true;
      clearTimeout(t);
    };
  }, [incident.id, incident.tenant, query]);

  const [survivor, absorbed] = direction === 'keep-this' ? [incident, other] : [other, incident];

  return (
    <Dialog open onClose={busy ? undefined : onClose} aria-labelledby="merge-incident-title" fullWidth maxWidth="sm">
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          if (!survivor || !absorbed) return;
          setBusy(true);
          try {
            const merged = await api.mergeIncident(survivor.id, absorbed.id);
            onMerged(merged);
          } catch (err) {
            setError(err);
          } finally {
            setBusy(false);
          }
        }}
      >
        <DialogTitle id="merge-incident-title">Merge incident</DialogTitle>
        <DialogContent>
          <Stack gap={2} sx={{ pt: 1 }}>
            <ErrorNotice error={error ?? loadError} />
            <Autocomplete
              options={options}
              value={other}
              onChange={(_, v) => {
                setOther(v);
                setError(null);
              }}
              inputValue={input}
              onInputChange={(_, v, reason) => {
                setInput(v);
                if (reason === 'input' || reason === 'clear') setQuery(v);
              }}
              filterOptions={(x) => x}
              getOptionLabel={optionLabel}
              isOptionEqualToValue={(a, b) => a.id === b.id}
              loading={loading}
              noOptionsText={query.trim() ? 'No open incident matches' : `No other open incident in ${incident.tenant}`}
              renderOption={({ key, ...props }, i) => (
                <li key={key} {...props} data-testid="merge-candidate" data-incident-id={i.id}>
                  <Stack sx={{ minWidth: 0 }}>
                    <Typography variant="body2" sx={{ wordBreak: 'break-word' }}>
                      {i.title}
                    </Typography>
                    <Typography variant="caption" color="text.secondary">
                      {i.id} · {label(i.severity)} · {label(i.status)}
                    </Typography>
                  </Stack>
                </li>
              )}
              renderInput={(params) => (
                <TextField {...params} autoFocus label="Other incident" helperText={`Open incidents of tenant ${incident.tenant}; type to search titles`} />
              )}
            />
            <FormControl>
              <FormLabel id="merge-direction-label">Which incident continues</FormLabel>
              <RadioGroup aria-labelledby="merge-direction-label" value={direction} onChange={(e) => setDirection(e.target.value as Direction)}>
                <FormControlLabel value="keep-this" control={<Radio />} label="This incident; the other one is merged into it" />
                <FormControlLabel value="into-other" control={<Radio />} label="The other incident; this one is merged into it" />
              </RadioGroup>
            </FormControl>
            {survivor && absorbed && (
              <DialogContentText data-testid="merge-summary">
                “{absorbed.title}” will be closed as a duplicate. Its alerts, observables and timeline move to “{survivor.title}”.
              </DialogContentText>
            )}
          </Stack>
        </DialogContent>
        <DialogActions>
          <Button onClick={onClose} disabled={busy}>
            Cancel
          </Button>
          <Button type="submit" variant="contained" disabled={busy || !other}>
            Merge
          </Button>
        </DialogActions>
      </form>
    </Dialog>
  );
}
