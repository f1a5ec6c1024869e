import { createTheme, type Theme } from '@mui/material/styles';
import type { Severity } from './api/types';

export type ThemeMode = 'light' | 'dark';

/**
 * A clean, Workspace-like Material theme. Colours are chosen so that text on them meets
 * WCAG AA (4.5:1) in both modes; MUI picks contrast text at the same threshold.
 */
export function buildTheme(mode: ThemeMode): Theme {
  const light = mode === 'light';
  return createTheme({
    palette: {
      mode,
      contrastThreshold: 4.5,
      primary: { main: light ? '#1967d2' : '#8ab4f8' },
      secondary: { main: light ? '#5f6368' : '#bdc1c6' },
      error: { main: light ? '#c5221f' : '#f28b82' },
      warning: { main: light ? '#a15c00' : '#fdd663' },
      success: { main: light ? '#137333' : '#81c995' },
      info: { main: light ? '#0b57d0' : '#a8c7fa' },
      background: light ? { default: '#f6f8fc', paper: '#ffffff' } : { default: '#131314', paper: '#1e1f20' },
      text: light
        ? { primary: '#1f1f1f', secondary: '#444746' }
        : { primary: '#e3e3e3', secondary: '#c4c7c5' },
      divider: light ? '#dadce0' : '#444746',
    },
    shape: { borderRadius: 12 },
    typography: {
      fontFamily: '"Google Sans", Roboto, "Segoe UI", system-ui, -apple-system, sans-serif',
      h5: { fontWeight: 500 },
      h6: { fontWeight: 500 },
      button: { textTransform: 'none', fontWeight: 500 },
    },
    components: {
      MuiCard: { defaultProps: { variant: 'outlined' } },
      MuiPaper: { styleOverrides: { root: { backgroundImage: 'none' } } },
      MuiButtonBase: {
        styleOverrides: {
          root: {
            '&.Mui-focusVisible': { outline: `3px solid ${light ? '#0b57d0' : '#a8c7fa'}`, outlineOffset: 2 },
          },
        },
      },
      MuiTooltip: { defaultProps: { arrow: true } },
    },
  });
}

/** Severity chip colours: background and foreground pairs with ≥ 4.5:1 contrast. */
export const SEVERITY_COLORS: Record<Severity, { bg: string; fg: string; line: string }> = {
  critical: { bg: '#a50e0e', fg: '#ffffff', line: '#d93025' },
  high: { bg: '#b3400b', fg: '#ffffff', line: '#e8710a' },
  medium: { bg: '#f9ab00', fg: '#1f1f1f', line: '#f9ab00' },
  low: { bg: '#1a5fb4', fg: '#ffffff', line: '#4285f4' },
  info: { bg: '#5f6368', fg: '#ffffff', line: '#9aa0a6' },
};

/** Text for screen readers only (the usual clip pattern). */
export const visuallyHidden = {
  border: 0,
  clip: 'rect(0 0 0 0)',
  height: '1px',
  margin: '-1px',
  overflow: 'hidden',
  padding: 0,
  position: 'absolute',
  whiteSpace: 'nowrap',
  width: '1px',
} as const;
