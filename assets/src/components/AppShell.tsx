import { useState, type ReactNode } from 'react';
import {
  AppBar,
  Box,
  Button,
  ButtonBase,
  Dialog,
  DialogContent,
  DialogTitle,
  Divider,
  IconButton,
  ListItemIcon,
  Menu,
  MenuItem,
  Snackbar,
  Toolbar,
  Tooltip,
  Typography,
} from '@mui/material';
import DashboardOutlined from '@mui/icons-material/DashboardOutlined';
import NotificationsActiveOutlined from '@mui/icons-material/NotificationsActiveOutlined';
import ReportProblemOutlined from '@mui/icons-material/ReportProblemOutlined';
import SettingsOutlined from '@mui/icons-material/SettingsOutlined';
import DarkModeOutlined from '@mui/icons-material/DarkModeOutlined';
import LightModeOutlined from '@mui/icons-material/LightModeOutlined';
import AccountCircleOutlined from '@mui/icons-material/AccountCircleOutlined';
import Logout from '@mui/icons-material/Logout';
import Password from '@mui/icons-material/Password';
import Security from '@mui/icons-material/Security';
import { NavLink, useLocation } from 'react-router-dom';
import { useAuth, useMe } from '../state/auth';
import { useThemeMode } from '../state/themeMode';
import { ConnectionIndicator } from './ConnectionIndicator';
import { TenantSwitcher } from './TenantSwitcher';
import { LiveToasts } from './LiveToasts';
import { ChangePasswordForm } from './ChangePasswordForm';

const RAIL_WIDTH = 88;

interface NavEntry {
  to: string;
  text: string;
  icon: ReactNode;
  adminOnly?: boolean;
}

const NAV: NavEntry[] = [
  { to: '/', text: 'Overview', icon: <DashboardOutlined /> },
  { to: '/alerts', text: 'Alerts', icon: <NotificationsActiveOutlined /> },
  { to: '/incidents', text: 'Incidents', icon: <ReportProblemOutlined /> },
  { to: '/settings', text: 'Settings', icon: <SettingsOutlined />, adminOnly: true },
];

function NavigationRail() {
  const me = useMe();
  const { pathname } = useLocation();
  return (
    <Box
      component="nav"
      aria-label="Main"
      sx={{
        width: RAIL_WIDTH,
        flexShrink: 0,
        borderRight: 1,
        borderColor: 'divider',
        bgcolor: 'background.paper',
        pt: 1,
        display: 'flex',
        flexDirection: 'column',
        alignItems: 'center',
        gap: 0.5,
      }}
    >
      {NAV.filter((n) => !n.adminOnly || me.role === 'admin').map((n) => {
        const active = n.to === '/' ? pathname === '/' : pathname.startsWith(n.to);
        return (
          <ButtonBase
            key={n.to}
            component={NavLink}
            to={n.to}
            aria-current={active ? 'page' : undefined}
            sx={{
              width: 72,
              py: 1,
              borderRadius: 4,
              flexDirection: 'column',
              color: active ? 'primary.main' : 'text.secondary',
              '&:hover': { bgcolor: 'action.hover' },
            }}
          >
            <Box
              sx={{
                px: 2,
                py: 0.5,
                borderRadius: 4,
                display: 'flex',
                bgcolor: active ? 'action.selected' : 'transparent',
              }}
            >
              {n.icon}
            </Box>
            <Typography variant="caption" sx={{ fontWeight: active ? 700 : 500, color: 'inherit' }}>
              {n.text}
            </Typography>
          </ButtonBase>
        );
      })}
    </Box>
  );
}

function UserMenu() {
  const me = useMe();
  const { logout } = useAuth();
  const [anchor, setAnchor] = useState<HTMLElement | null>(null);
  const [changing, setChanging] = useState(false);
  const [changed, setChanged] = useState(false);
  return (
    <>
      <Tooltip title={`${me.username} (${me.role})`}>
        <IconButton aria-label="Account menu" onClick={(e) => setAnchor(e.currentTarget)} color="inherit">
          <AccountCircleOutlined />
        </IconButton>
      </Tooltip>
      <Menu anchorEl={anchor} open={!!anchor} onClose={() => setAnchor(null)}>
        <MenuItem disabled>
          {me.username} · {me.role}
          {me.tenant ? ` · ${me.tenant}` : ' · MSP'}
        </MenuItem>
        <Divider />
        <MenuItem
          onClick={() => {
            setAnchor(null);
            setChanging(true);
          }}
        >
          <ListItemIcon>
            <Password fontSize="small" />
          </ListItemIcon>
          Change password
        </MenuItem>
        <MenuItem
          onClick={() => {
            setAnchor(null);
            void logout();
          }}
        >
          <ListItemIcon>
            <Logout fontSize="small" />
          </ListItemIcon>
          Sign out
        </MenuItem>
      </Menu>
      <Dialog open={changing} onClose={() => setChanging(false)} aria-labelledby="change-password-title" fullWidth maxWidth="xs">
        <DialogTitle id="change-password-title">Change password</DialogTitle>
        <DialogContent>
          <Box sx={{ pt: 1 }}>
            <ChangePasswordForm
              onDone={() => {
                setChanging(false);
                setChanged(true);
              }}
              secondary={<Button onClick={() => setChanging(false)}>Cancel</Button>}
            />
          </Box>
        </DialogContent>
      </Dialog>
      <Snackbar open={changed} autoHideDuration={4000} onClose={() => setChanged(false)} message="Password changed" />
    </>
  );
}

/** The authenticated layout: top bar, navigation rail, page area and live toasts. */
export function AppShell({ children }: { children: ReactNode }) {
  const { mode, toggle } = useThemeMode();
  return (
    <Box sx={{ display: 'flex', flexDirection: 'column', height: '100vh' }}>
      <AppBar position="static" color="inherit" elevation={0} sx={{ borderBottom: 1, borderColor: 'divider' }}>
        <Toolbar sx={{ gap: 1.5 }}>
          <Security color="primary" aria-hidden />
          <Typography variant="h6" component="div" sx={{ flexGrow: 1, whiteSpace: 'nowrap' }}>
            CoreRecon
          </Typography>
          <TenantSwitcher />
          <ConnectionIndicator />
          <Tooltip title={mode === 'light' ? 'Dark theme' : 'Light theme'}>
            <IconButton
              color="inherit"
              onClick={toggle}
              aria-label={mode === 'light' ? 'Switch to dark theme' : 'Switch to light theme'}
              data-testid="theme-toggle"
            >
              {mode === 'light' ? <DarkModeOutlined /> : <LightModeOutlined />}
            </IconButton>
          </Tooltip>
          <UserMenu />
        </Toolbar>
      </AppBar>
      <Box sx={{ display: 'flex', flex: 1, minHeight: 0 }}>
        <NavigationRail />
        <Box component="main" id="main" sx={{ flex: 1, minWidth: 0, overflow: 'auto', p: { xs: 1.5, md: 2.5 } }}>
          {children}
        </Box>
      </Box>
      <LiveToasts />
    </Box>
  );
}
