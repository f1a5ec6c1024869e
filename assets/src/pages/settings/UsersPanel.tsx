import { useCallback, useEffect, useState } from 'react';
import {
  Button,
  Chip,
  Dialog,
  DialogActions,
  DialogContent,
  DialogTitle,
  MenuItem,
  Stack,
  Switch,
  Table,
  TableBody,
  TableCell,
  TableHead,
  TableRow,
  TextField,
} from '@mui/material';
import PersonAdd from '@mui/icons-material/PersonAdd';
import { api } from '../../api/client';
import { ROLES, type Role, type User } from '../../api/types';
import { useMe } from '../../state/auth';
import { useTenantScope } from '../../state/tenant';
import { ErrorNotice } from '../../components/ErrorNotice';
import { label } from '../../format';

const MSP = '__msp__';

function NewUserDialog({ onClose, onCreated }: { onClose: () => void; onCreated: () => void }) {
  const { tenants } = useTenantScope();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [role, setRole] = useState<Role>('analyst');
  const [tenant, setTenant] = useState(MSP);
  const [error, setError] = useState<unknown>(null);
  return (
    <Dialog open onClose={onClose} aria-labelledby="new-user-title" fullWidth maxWidth="xs">
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          try {
            await api.createUser({ username, password, role, tenant: tenant === MSP ? undefined : tenant });
            onCreated();
          } catch (err) {
            setError(err);
          }
        }}
      >
        <DialogTitle id="new-user-title">New user</DialogTitle>
        <DialogContent>
          <Stack gap={2} sx={{ pt: 1 }}>
            <ErrorNotice error={error} />
            <TextField label="Username" value={username} onChange={(e) => setUsername(e.target.value)} required autoFocus />
            <TextField
              label="Initial password"
              type="password"
              autoComplete="new-password"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              required
              helperText="The user must change it at first sign-in"
            />
            <TextField select label="Role" value={role} onChange={(e) => setRole(e.target.value as Role)}>
              {ROLES.map((r) => (
                <MenuItem key={r} value={r}>
                  {label(r)}
                </MenuItem>
              ))}
            </TextField>
            <TextField select label="Tenant" value={tenant} onChange={(e) => setTenant(e.target.value)}>
              <MenuItem value={MSP}>None — MSP staff (all tenants)</MenuItem>
              {tenants.map((t) => (
                <MenuItem key={t.slug} value={t.slug}>
                  {t.name || t.slug}
                </MenuItem>
              ))}
            </TextField>
          </Stack>
        </DialogContent>
        <DialogActions>
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant="contained">
            Create user
          </Button>
        </DialogActions>
      </form>
    </Dialog>
  );
}

function ResetPasswordDialog({ user, onClose, onDone }: { user: User; onClose: () => void; onDone: () => void }) {
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>(null);
  return (
    <Dialog open onClose={onClose} aria-labelledby="reset-password-title" fullWidth maxWidth="xs">
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          try {
            await api.patchUser(user.id, { password });
            onDone();
          } catch (err) {
            setError(err);
          }
        }}
      >
        <DialogTitle id="reset-password-title">Reset password of {user.username}</DialogTitle>
        <DialogContent>
          <ErrorNotice error={error} />
          <TextField
            autoFocus
            fullWidth
            margin="dense"
            label="New password"
            type="password"
            autoComplete="new-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            required
            helperText="They must choose their own at next sign-in"
          />
        </DialogContent>
        <DialogActions>
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant="contained">
            Reset
          </Button>
        </DialogActions>
      </form>
    </Dialog>
  );
}

/** Users, their roles, and whether they may sign in. */
export function UsersPanel() {
  const me = useMe();
  const [users, setUsers] = useState<User[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [creating, setCreating] = useState(false);
  const [resetting, setResetting] = useState<User | null>(null);
  const load = useCallback(() => api.listUsers().then((p) => setUsers(p.items)).catch(setError), []);
  useEffect(() => {
    void load();
  }, [load]);
  const patch = async (u: User, p: { role?: Role; disabled?: boolean }) => {
    try {
      await api.patchUser(u.id, p);
      setError(null);
      await load();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <Stack gap={1.5}>
      <Stack direction="row" justifyContent="flex-end">
        <Button variant="contained" startIcon={<PersonAdd />} onClick={() => setCreating(true)}>
          New user
        </Button>
      </Stack>
      <ErrorNotice error={error} />
      <Table size="small" aria-label="Users">
        <TableHead>
          <TableRow>
            <TableCell>Username</TableCell>
            <TableCell>Tenant</TableCell>
            <TableCell>Role</TableCell>
            <TableCell>Enabled</TableCell>
            <TableCell>Password</TableCell>
          </TableRow>
        </TableHead>
        <TableBody>
          {users.map((u) => (
            <TableRow key={u.id} data-testid="user-row">
              <TableCell>
                {u.username} {u.id === me.id && <Chip size="small" label="you" />}
              </TableCell>
              <TableCell>{u.tenant ?? 'MSP (all)'}</TableCell>
              <TableCell>
                <TextField
                  select
                  size="small"
                  value={u.role}
                  disabled={u.id === me.id}
                  onChange={(e) => void patch(u, { role: e.target.value as Role })}
                  slotProps={{ htmlInput: { 'aria-label': `Role of ${u.username}` }, select: { inputProps: { 'aria-label': `Role of ${u.username}` } } }}
                  sx={{ width: 130 }}
                >
                  {ROLES.map((r) => (
                    <MenuItem key={r} value={r}>
                      {label(r)}
                    </MenuItem>
                  ))}
                </TextField>
              </TableCell>
              <TableCell>
                <Switch
                  checked={!u.disabled}
                  disabled={u.id === me.id}
                  onChange={(e) => void patch(u, { disabled: !e.target.checked })}
                  slotProps={{ input: { 'aria-label': `${u.username} may sign in` } }}
                />
              </TableCell>
              <TableCell>
                <Button size="small" onClick={() => setResetting(u)} aria-label={`Reset password of ${u.username}`}>
                  Reset…
                </Button>
              </TableCell>
            </TableRow>
          ))}
        </TableBody>
      </Table>
      {resetting && (
        <ResetPasswordDialog
          user={resetting}
          onClose={() => setResetting(null)}
          onDone={() => {
            setResetting(null);
            void load();
          }}
        />
      )}
      {creating && (
        <NewUserDialog
          onClose={() => setCreating(false)}
          onCreated={() => {
            setCreating(false);
            void load();
          }}
        />
      )}
    </Stack>
  );
}
