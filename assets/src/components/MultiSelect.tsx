import { Checkbox, ListItemText, MenuItem, TextField } from '@mui/material';
import { label } from '../format';

interface MultiProps {
  id: string;
  name: string;
  options: readonly string[];
  value: string[];
  onChange: (v: string[]) => void;
  width?: number;
}

/** A labelled select of several values; empty means any. */
export function MultiSelect({ id, name, options, value, onChange, width = 150 }: MultiProps) {
  return (
    <TextField
      select
      size="small"
      id={id}
      label={name}
      value={value}
      sx={{ width }}
      onChange={(e) => {
        const v = e.target.value as unknown as string[] | string;
        onChange(typeof v === 'string' ? v.split(',') : v);
      }}
      slotProps={{
        select: {
          multiple: true,
          renderValue: (sel) => ((sel as string[]).length ? (sel as string[]).map(label).join(', ') : 'Any'),
          displayEmpty: true,
        },
        inputLabel: { shrink: true },
      }}
    >
      {options.map((o) => (
        <MenuItem key={o} value={o}>
          <Checkbox size="small" checked={value.includes(o)} tabIndex={-1} slotProps={{ input: { 'aria-hidden': true } }} />
          <ListItemText primary={label(o)} />
        </MenuItem>
      ))}
    </TextField>
  );
}

