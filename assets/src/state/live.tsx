import { useEffect, useRef, useState } from 'react';
import { liveFeed, type LiveState } from '../api/live';
import type { LiveFrame } from '../api/types';

export function useLiveState(): LiveState {
  const [state, setState] = useState<LiveState>(liveFeed.state);
  useEffect(() => {
    setState(liveFeed.state);
    return liveFeed.onState(setState);
  }, []);
  return state;
}

/** Calls `handler` for each live frame; the latest handler is used without resubscribing. */
export function useLiveFrames(handler: (frame: LiveFrame) => void): void {
  const ref = useRef(handler);
  ref.current = handler;
  useEffect(() => liveFeed.onFrame((f) => ref.current(f)), []);
}
