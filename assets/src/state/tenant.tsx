import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { api } from '../api/client';
import type { Tenant } from '../api/types';
import { useAuth } from './auth';

const KEY = 'corerecon.tenant';

interface TenantScopeValue {
  /** the tenant the MSP analyst is looking at; null = every tenant (or the user's own) */
  tenant: string | null;
  setTenant: (t: string | null) => void;
  tenants: Tenant[];
  /** true for MSP staff (users not bound to a tenant) */
  canSwitch: boolean;
  reloadTenants: () => Promise<void>;
}

const TenantScopeContext = createContext<TenantScopeValue>({
  tenant: null,
  setTenant: () => undefined,
  tenants: [],
  canSwitch: false,
  reloadTenants: async () => undefined,
});

export function TenantScopeProvider({ children }: { children: ReactNode }) {
  const { me } = useAuth();
  const canSwitch = !!me && me.tenant === null;
  const [tenant, setTenantState] = useState<string | null>(() => localStorage.getItem(KEY) || null);
  const [tenants, setTenants] = useState<Tenant[]>([]);

  const reloadTenants = useCallback(async () => {
    try {
      setTenants((await api.listTenants()).items);
    } catch {
      setTenants([]);
    }
  }, []);

  useEffect(() => {
    if (canSwitch) void reloadTenants();
  }, [canSwitch, reloadTenants]);

  const setTenant = useCallback((t: string | null) => {
    setTenantState(t);
    if (t) localStorage.setItem(KEY, t);
    else localStorage.removeItem(KEY);
  }, []);

  const value = useMemo(
    () => ({ tenant: canSwitch ? tenant : null, setTenant, tenants, canSwitch, reloadTenants }),
    [canSwitch, tenant, setTenant, tenants, reloadTenants],
  );
  return <TenantScopeContext.Provider value={value}>{children}</TenantScopeContext.Provider>;
}

export const useTenantScope = () => useContext(TenantScopeContext);
