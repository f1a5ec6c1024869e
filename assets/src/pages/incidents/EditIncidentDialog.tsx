import { useState } from 'react';
import { Button, Dialog, DialogActions, DialogContent, DialogTitle, Stack, TextField } from '@mui/material';
import type { Incident, IncidentPatch } from '../../api/types';

interface Props {
  incident: Incident;
  onClose: () => void;
  onSave: (patch: IncidentPatch) => void;
}

/** Title, description and tags of an incident. */
export function EditIncidentDialog({ incident, onClose, onSave }: Props) {
  const [title, setTitle] = useState(incident.title);
  const [description, setDescription] = useState(incident.description ?? '');
  const [tags, setTags] = useState((incident.tags ?? []).join(', '));
  return (
    <Dialog open onClose={onClose} aria-labelledby="edit-incident-title" fullWidth maxWidth="sm">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          onSave({
            title: title.trim(),
            description,
            tags: tags
              .split(',')
              .map((t) => t.trim())
              .filter(Boolean),
          });
        }}
      >
        <DialogTitle id="edit-incident-title">Edit incident</DialogTitle>
        <DialogContent>
          <Stack gap={2} sx={{ pt: 1 }}>
            <TextField label="Title" value={title} onChange={(e) => setTitle(e.target.value)} required autoFocus />
            <TextField label="Description" value={description} onChange={(e) => setDescription(e.target.value)} multiline minRows={4} />
            <TextField label="Tags" helperText="Comma-separated" value={tags} onChange={(e) => setTags(e.target.value)} />
          </Stack>
        </DialogContent>
        <DialogActions>
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant="contained" disabled={!title.trim()}>
            Save
          </Button>
        </DialogActions>
      </form>
    </Dialog>
  );
}
