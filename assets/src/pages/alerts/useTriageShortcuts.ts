import { useEffect, useRef } from 'react';

export interface TriageKeys {
  next: () => void;
  previous: () => void;
  toggleSelect: () => void;
  acknowledge: () => void;
  open: () => void;
  focusSearch: () => void;
}

const NOT_TEXT = new Set(['checkbox', 'radio', 'button', 'submit', 'reset', 'file', 'range', 'color']);

/** Whether a key press is text being typed (a row's checkbox having focus is not). */
function typingInto(el: EventTarget | null): boolean {
  if (!(el instanceof HTMLElement)) return false;
  if (el instanceof HTMLInputElement) return !NOT_TEXT.has(el.type);
  return el.isContentEditable || ['TEXTAREA', 'SELECT'].includes(el.tagName) || el.getAttribute('role') === 'combobox';
}

/** j/k move, x selects, a acknowledges, Enter opens, / searches — never while typing or in a dialog. */
export function useTriageShortcuts(keys: TriageKeys): void {
  const ref = useRef(keys);
  ref.current = keys;
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.ctrlKey || e.metaKey || e.altKey || typingInto(e.target)) return;
      if (document.querySelector('[role="dialog"][aria-modal="true"], .MuiPopover-root')) {
        // A modal (other than the alert drawer) owns the keyboard.
        const drawer = document.querySelector('[data-testid="alert-drawer"]');
        if (!drawer) return;
      }
      const k = ref.current;
      switch (e.key) {
        case 'j':
        case 'ArrowDown':
          if (e.key === 'ArrowDown' && e.target !== document.body) return;
          k.next();
          break;
        case 'k':
        case 'ArrowUp':
          if (e.key === 'ArrowUp' && e.target !== document.body) return;
          k.previous();
          break;
        case 'x':
          k.toggleSelect();
          break;
        case 'a':
          k.acknowledge();
          break;
        case 'Enter':
        case 'o':
          if (e.key === 'Enter' && e.target !== document.body) return;
          k.open();
          break;
        case '/':
          k.focusSearch();
          break;
        default:
          return;
      }
      e.preventDefault();
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);
}
