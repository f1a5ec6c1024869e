import { MenuItem, TextField } from '@mui/material';
import { useTenantScope } from '../../state/tenant';

/** Which tenant a settings panel edits. */
export function TenantPicker({ value, onChange, id }: { value: string; onChange: (t: string) => void; id: string }) {
  const { tenants } = useTenantScope();
  return (
    <TextField select size="small" id={id} label="Tenant" value={tenants.some((t) => t.slug === value) ? value : ''} onChange={(e) => onChange(e.target.value)} sx={{ minWidth: 200 }}>
      {tenants.map((t) => (
        <MenuItem key={t.slug} value={t.slug}>
          {t.name || t.slug}
        </MenuItem>
      ))}
    </TextField>
  );
}
