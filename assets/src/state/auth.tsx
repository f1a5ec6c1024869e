import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { api, session } from '../api/client';
import { liveFeed } from '../api/live';
import type { Me } from '../api/types';

interface AuthValue {
  me: Me | null;
  /** true until the first /auth/me answer (or its absence) is known */
  loading: boolean;
  login: (username: string, password: string) => Promise<void>;
  logout: () => Promise<void>;
  reloadMe: () => Promise<void>;
}

const AuthContext = createContext<AuthValue | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [me, setMe] = useState<Me | null>(null);
  const [loading, setLoading] = useState(session.signedIn);

  const reloadMe = useCallback(async () => {
    if (!session.signedIn) {
      setMe(null);
      return;
    }
    try {
      setMe(await api.me());
    } catch {
      session.clear();
      setMe(null);
    }
  }, []);

  useEffect(() => {
    if (session.signedIn) void reloadMe().finally(() => setLoading(false));
    return session.onChange((signedIn) => {
      if (!signedIn) setMe(null);
    });
  }, [reloadMe]);

  // The live feed runs while someone is signed in and has a usable password.
  useEffect(() => {
    if (me && !me.must_change_password) liveFeed.start();
    else liveFeed.stop();
  }, [me]);

  const login = useCallback(
    async (username: string, password: string) => {
      await api.login(username, password);
      await reloadMe();
    },
    [reloadMe],
  );

  const logout = useCallback(async () => {
    liveFeed.stop();
    await api.logout().catch(() => undefined);
    setMe(null);
  }, []);

  const value = useMemo(() => ({ me, loading, login, logout, reloadMe }), [me, loading, login, logout, reloadMe]);
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthValue {
  const v = useContext(AuthContext);
  if (!v) throw new Error('useAuth outside AuthProvider');
  return v;
}

/** The signed-in analyst (only inside the authenticated shell). */
export function useMe(): Me {
  const { me } = useAuth();
  if (!me) throw new Error('useMe without a session');
  return me;
}

export const canWrite = (me: Me) => me.role !== 'viewer';
