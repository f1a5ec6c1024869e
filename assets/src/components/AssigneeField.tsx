import { useEffect, useState } from 'react';
import { Button, Stack, TextField } from '@mui/material';

interface Props {
  value: string;
  me: string;
  busy: boolean;
  onAssign: (assignee: string) => void;
  /** the form's accessible name */
  label?: string;
}

/** Who owns an alert or incident: type a username, or take it. */
export function AssigneeField({ value, me, busy, onAssign, label = 'Assign' }: Props) {
  const [draft, setDraft] = useState(value);
  useEffect(() => setDraft(value), [value]);
  return (
    <Stack
      direction="row"
      gap={1}
      alignItems="center"
      component="form"
      aria-label={label}
      onSubmit={(e) => {
        e.preventDefault();
        onAssign(draft.trim());
      }}
    >
      <TextField size="small" label="Assignee" value={draft} onChange={(e) => setDraft(e.target.value)} sx={{ width: 150 }} />
      {draft.trim() !== value && (
        <Button type="submit" size="small" variant="outlined" disabled={busy}>
          Assign
        </Button>
      )}
      {value !== me && (
        <Button size="small" variant="outlined" disabled={busy} onClick={() => onAssign(me)}>
          Assign to me
        </Button>
      )}
    </Stack>
  );
}
