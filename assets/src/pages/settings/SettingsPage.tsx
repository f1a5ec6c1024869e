import { useState } from 'react';
import { Box, Card, CardContent, Stack, Tab, Tabs, Typography } from '@mui/material';
import { useNavigate, useParams } from 'react-router-dom';
import { useTenantScope } from '../../state/tenant';
import { UsersPanel } from './UsersPanel';
import { TenantsPanel } from './TenantsPanel';
import { IngestTokensPanel } from './IngestTokensPanel';
import { SlaPolicyPanel } from './SlaPolicyPanel';
import { SystemPanel } from './SystemPanel';

const TABS = [
  { key: 'users', text: 'Users & roles' },
  { key: 'tenants', text: 'Tenants' },
  { key: 'tokens', text: 'Ingest tokens' },
  { key: 'sla', text: 'SLA policy' },
  { key: 'system', text: 'System' },
] as const;

export default function SettingsPage() {
  const { tab = 'users' } = useParams();
  const navigate = useNavigate();
  const { tenant: scoped, tenants } = useTenantScope();
  const [tenant, setTenant] = useState(scoped ?? 'default');
  const index = Math.max(0, TABS.findIndex((t) => t.key === tab));
  const current = TABS[index].key;
  const effectiveTenant = tenants.some((t) => t.slug === tenant) ? tenant : (tenants[0]?.slug ?? tenant);
  return (
    <Stack gap={2}>
      <Typography variant="h5" component="h1">
        Settings
      </Typography>
      <Card>
        <Tabs value={index} onChange={(_, i: number) => navigate(`/settings/${TABS[i].key}`)} aria-label="Settings sections" variant="scrollable">
          {TABS.map((t, i) => (
            <Tab key={t.key} label={t.text} id={`settings-tab-${i}`} aria-controls="settings-panel" />
          ))}
        </Tabs>
        <CardContent>
          <Box role="tabpanel" id="settings-panel" aria-labelledby={`settings-tab-${index}`}>
            {current === 'users' && <UsersPanel />}
            {current === 'tenants' && <TenantsPanel />}
            {current === 'tokens' && <IngestTokensPanel tenant={effectiveTenant} onTenant={setTenant} />}
            {current === 'sla' && <SlaPolicyPanel tenant={effectiveTenant} onTenant={setTenant} />}
            {current === 'system' && <SystemPanel />}
          </Box>
        </CardContent>
      </Card>
    </Stack>
  );
}
