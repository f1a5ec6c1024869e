import { lazy, Suspense } from 'react';
import { Navigate, Route, Routes } from 'react-router-dom';
import { useAuth } from './state/auth';
import { TenantScopeProvider } from './state/tenant';
import { AppShell } from './components/AppShell';
import { PageLoading } from './components/PageLoading';
import { LoginPage } from './pages/LoginPage';
import { ChangePasswordPage } from './pages/ChangePasswordPage';

// Every page after sign-in is its own chunk: the first route carries only the shell.
const OverviewPage = lazy(() => import('./pages/overview/OverviewPage'));
const AlertsPage = lazy(() => import('./pages/alerts/AlertsPage'));
const IncidentsPage = lazy(() => import('./pages/incidents/IncidentsPage'));
const IncidentDetailPage = lazy(() => import('./pages/incidents/IncidentDetailPage'));
const SettingsPage = lazy(() => import('./pages/settings/SettingsPage'));

function NotFound() {
  return <Navigate to="/" replace />;
}

export function App() {
  const { me, loading } = useAuth();
  if (loading) return <PageLoading label="Restoring session" />;
  if (!me) return <LoginPage />;
  if (me.must_change_password) return <ChangePasswordPage />;
  return (
    <TenantScopeProvider>
      <AppShell>
        <Suspense fallback={<PageLoading />}>
          <Routes>
            <Route path="/" element={<OverviewPage />} />
            <Route path="/alerts" element={<AlertsPage />} />
            <Route path="/alerts/:alertId" element={<AlertsPage />} />
            <Route path="/incidents" element={<IncidentsPage />} />
            <Route path="/incidents/:incidentId" element={<IncidentDetailPage />} />
            {me.role === 'admin' && <Route path="/settings" element={<SettingsPage />} />}
            {me.role === 'admin' && <Route path="/settings/:tab" element={<SettingsPage />} />}
            <Route path="*" element={<NotFound />} />
          </Routes>
        </Suspense>
      </AppShell>
    </TenantScopeProvider>
  );
}
