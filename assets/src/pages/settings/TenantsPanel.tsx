import { useState } from 'react';
import { Box, Button, Stack, Table, TableBody, TableCell, TableHead, TableRow, TextField } from '@mui/material';
import { api } from '../../api/client';
import { useTenantScope } from '../../state/tenant';
import { ErrorNotice } from '../../components/ErrorNotice';
import { absoluteTime } from '../../format';

/** The MSP's client networks. */
export function TenantsPanel() {
  const { tenants, reloadTenants } = useTenantScope();
  const [slug, setSlug] = useState('');
  const [name, setName] = useState('');
  const [error, setError] = useState<unknown>(null);
  const valid = /^[a-z0-9-]{1,63}$/.test(slug);
  return (
    <Stack gap={1.5}>
      <Box
        component="form"
        aria-label="New tenant"
        onSubmit={async (e) => {
          e.preventDefault();
          try {
            await api.createTenant(slug, name || slug);
            setSlug('');
            setName('');
            setError(null);
            await reloadTenants();
          } catch (err) {
            setError(err);
          }
        }}
      >
        <Stack direction="row" gap={1} flexWrap="wrap" alignItems="flex-start">
          <TextField
            size="small"
            label="Slug"
            value={slug}
            onChange={(e) => setSlug(e.target.value.toLowerCase())}
            required
            error={slug.length > 0 && !valid}
            helperText="a–z, 0–9 and -"
          />
          <TextField size="small" label="Display name" value={name} onChange={(e) => setName(e.target.value)} />
          <Button type="submit" variant="contained" disabled={!valid}>
            Create tenant
          </Button>
        </Stack>
      </Box>
      <ErrorNotice error={error} />
      <Table size="small" aria-label="Tenants">
        <TableHead>
          <TableRow>
            <TableCell>Slug</TableCell>
            <TableCell>Name</TableCell>
            <TableCell>Created</TableCell>
          </TableRow>
        </TableHead>
        <TableBody>
          {tenants.map((t) => (
            <TableRow key={t.slug} data-testid="tenant-row">
              <TableCell>{t.slug}</TableCell>
              <TableCell>{t.name}</TableCell>
              <TableCell>{absoluteTime(t.created_at)}</TableCell>
            </TableRow>
          ))}
        </TableBody>
      </Table>
    </Stack>
  );
}
