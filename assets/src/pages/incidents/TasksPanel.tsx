import { useState } from 'react';
import { Box, Button, Checkbox, List, ListItem, ListItemIcon, ListItemText, Stack, TextField, Typography } from '@mui/material';
import type { IncidentTask } from '../../api/types';
import { ErrorNotice } from '../../components/ErrorNotice';
import { absoluteTime } from '../../format';

interface Props {
  tasks: IncidentTask[];
  writable: boolean;
  onAdd: (title: string) => Promise<void>;
  onToggle: (t: IncidentTask) => Promise<void>;
}

/** The responders' checklist for this incident. */
export function TasksPanel({ tasks, writable, onAdd, onToggle }: Props) {
  const [title, setTitle] = useState('');
  const [error, setError] = useState<unknown>(null);
  return (
    <Stack gap={1}>
      <ErrorNotice error={error} />
      {tasks.length === 0 && <Typography color="text.secondary">No tasks</Typography>}
      <List dense disablePadding>
        {tasks.map((t) => (
          <ListItem key={t.id} disableGutters>
            <ListItemIcon sx={{ minWidth: 40 }}>
              <Checkbox
                edge="start"
                checked={t.status === 'done'}
                disabled={!writable}
                onChange={() => onToggle(t).catch(setError)}
                slotProps={{ input: { 'aria-label': `Task done: ${t.title}` } }}
              />
            </ListItemIcon>
            <ListItemText
              primary={t.title}
              secondary={[t.assignee, t.due ? `due ${absoluteTime(t.due)}` : null].filter(Boolean).join(' · ') || undefined}
              sx={{ textDecoration: t.status === 'done' ? 'line-through' : 'none' }}
            />
          </ListItem>
        ))}
      </List>
      {writable && (
        <Box
          component="form"
          aria-label="Add task"
          onSubmit={async (e) => {
            e.preventDefault();
            try {
              await onAdd(title.trim());
              setTitle('');
              setError(null);
            } catch (err) {
              setError(err);
            }
          }}
        >
          <Stack direction="row" gap={1}>
            <TextField size="small" label="New task" value={title} onChange={(e) => setTitle(e.target.value)} sx={{ flex: 1 }} />
            <Button type="submit" variant="outlined" disabled={!title.trim()}>
              Add
            </Button>
          </Stack>
        </Box>
      )}
    </Stack>
  );
}
