import { MenuItem, TextField } from '@mui/material';
import { useTenantScope } from '../state/tenant';

const ALL = '__all__';

/** MSP staff pick the client network they look at; it scopes every list and KPI. */
export function TenantSwitcher() {
  const { tenant, setTenant, tenants, canSwitch } = useTenantScope();
  if (!canSwitch) return null;
  const known = tenants.some((t) => t.slug === tenant);
  return (
    <TextField
      select
      size="small"
      label="Tenant"
      value={tenant ?? ALL}
      onChange={(e) => setTenant(e.target.value === ALL ? null : e.target.value)}
      sx={{ minWidth: 170 }}
      slotProps={{ select: { inputProps: { 'data-testid': 'tenant-switcher' } } }}
      id="tenant-switcher"
    >
      <MenuItem value={ALL}>All tenants</MenuItem>
      {tenants.map((t) => (
        <MenuItem key={t.slug} value={t.slug}>
          {t.name || t.slug}
        </MenuItem>
      ))}
      {tenant && !known && <MenuItem value={tenant}>{tenant}</MenuItem>}
    </TextField>
  );
}
