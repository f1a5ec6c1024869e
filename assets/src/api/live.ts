// The live feed: one WebSocket per signed-in tab, reconnected with backoff and resumed
// from the last sequence number seen so no frame is missed across a reconnect.
import { liveFeedUrl, session } from './client';
import type { LiveFrame } from './types';

export type LiveState = 'connecting' | 'connected' | 'reconnecting' | 'offline';

type FrameListener = (frame: LiveFrame) => void;
type StateListener = (state: LiveState) => void;

export class LiveFeed {
  private ws: WebSocket | null = null;
  private lastSeq: number | undefined;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private stopped = true;
  private frameListeners = new Set<FrameListener>();
  private stateListeners = new Set<StateListener>();
  state: LiveState = 'offline';

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000, 'signed out');
    this.lastSeq = undefined;
    this.setState('offline');
  }

  onFrame(fn: FrameListener): () => void {
    this.frameListeners.add(fn);
    return () => this.frameListeners.delete(fn);
  }

  onState(fn: StateListener): () => void {
    this.stateListeners.add(fn);
    return () => this.stateListeners.delete(fn);
  }

  private setState(s: LiveState): void {
    if (s === this.state) return;
    this.state = s;
    this.stateListeners.forEach((l) => l(s));
  }

  private connect(): void {
    const token = session.accessToken;
    if (this.stopped || !token) {
      this.setState('offline');
      return;
    }
    this.setState(this.attempt === 0 ? 'connecting' : 'reconnecting');
    let ws: WebSocket;
    try {
      ws = new WebSocket(liveFeedUrl(token, this.lastSeq));
    } catch {
      this.retry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.attempt = 0;
      this.setState('connected');
    };
    ws.onmessage = (ev: MessageEvent) => {
      if (this.ws !== ws || typeof ev.data !== 'string') return;
      let frame: LiveFrame;
      try {
        frame = JSON.parse(ev.data) as LiveFrame;
      } catch {
        return;
      }
      if (typeof frame.seq === 'number') this.lastSeq = frame.seq;
      this.frameListeners.forEach((l) => l(frame));
    };
    ws.onclose = (ev: CloseEvent) => {
      if (this.ws !== ws) return;
      this.ws = null;
      // 4401/1008: the server refused our token — refresh it before trying again.
      if (ev.code === 4401 || ev.code === 1008) void session.refresh();
      this.retry();
    };
    ws.onerror = () => {
      // onclose follows and schedules the retry
    };
  }

  private retry(): void {
    if (this.stopped) return;
    this.attempt += 1;
    // A refused upgrade looks like any other failure from here; after a few, assume the
    // access token lapsed (a sleeping laptop) and renew it before the next try.
    if (this.attempt % 3 === 0) void session.refresh();
    this.setState('reconnecting');
    // 0.5 s, 1 s, 2 s … capped at 15 s, with jitter so a restarted server is not stampeded.
    const base = Math.min(15_000, 500 * 2 ** Math.min(this.attempt - 1, 5));
    const delay = base / 2 + Math.random() * (base / 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
  }
}

export const liveFeed = new LiveFeed();
