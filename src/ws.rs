//! Live updates over WebSocket (`/api/v1/ws`). A feeder follows the change log up to the
//! durable sequence number (a frame never shows what a crash could still lose) and hands
//! each stretch of frames to the hub, which puts it in the outbox of every session allowed
//! to see its tenant. A session whose outbox is full is closed with a reason rather than
//! slowing the others; it reconnects with `?since=<last seq>` and is replayed what it
//! missed.
//!
//! Each frame is encoded once, as WebSocket bytes: frames from a server are not masked, so
//! the same bytes go to every session. A session is an actor on actix-web-actors' context,
//! which handles the handshake, pings, reading and closing; its data frames bypass the
//! context's encoder through its outbox, which the response body drains after the
//! context's own frames. Through the context, every frame was copied and encoded again
//! per session: at a thousand sessions and a thousand alerts a second, a fifth of the
//! appliance's CPU.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_http::ws::{OpCode, Parser};
use actix_web::{HttpRequest, HttpResponse, web};
use actix_web_actors::ws;
use bytes::{Bytes, BytesMut};
use corerecon_actors::model::{Alert, Scope};
use futures_util::Stream;

use crate::App;
use crate::error::{ApiError, ApiResult};
use crate::store::{Change, Store};

const HEARTBEAT: Duration = Duration::from_secs(20);
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);
/// A reconnecting client further behind than this is told to reload instead.
const REPLAY_MAX: usize = 10_000;
const MAX_FRAME: usize = 64 * 1024;

/// One frame, encoded once and shared by every session that receives it.
#[derive(Clone)]
pub struct Frame {
    pub tenant: String,
    /// The whole WebSocket text frame, header included.
    pub wire: Bytes,
}

/// A text frame as a server sends it (unmasked).
fn text_frame(text: &str) -> Bytes {
    let mut b = BytesMut::with_capacity(text.len() + 10);
    Parser::write_message(&mut b, text, OpCode::Text, true, false);
    b.freeze()
}

fn close_frame(code: ws::CloseCode, reason: &str) -> Bytes {
    close_wire(Some(ws::CloseReason {
        code,
        description: Some(reason.into()),
    }))
}

/// A close frame as a server sends it (unmasked).
fn close_wire(reason: Option<ws::CloseReason>) -> Bytes {
    let mut b = BytesMut::new();
    Parser::write_close(&mut b, reason, false);
    b.freeze()
}

fn resync_frame(seq: u64) -> Bytes {
    text_frame(
        &serde_json::json!({"type": "resync", "seq": seq, "data": {"reason": "too far behind; reload the list"}})
            .to_string(),
    )
}

/// Why the outbox took nothing.
#[derive(Debug, PartialEq)]
enum Refused {
    /// More frames queued than the session may have: it is not reading.
    Full,
    /// The session is closing or closed.
    Closed,
}

/// What one session has still to send: live frames from the hub, the session's own hello
/// and replay, and at last its close frame. Bounded in frames; the response body drains
/// it as fast as the socket takes it, so a client that stops reading fills it.
struct Outbox {
    state: Mutex<OutboxState>,
}

struct OutboxState {
    /// Chunks to send, each with the number of live frames it holds.
    queue: VecDeque<(Bytes, u64)>,
    /// Live frames that arrive while the session replays, sent after the replay. `None`
    /// once released.
    held: Option<VecDeque<(Bytes, u64)>>,
    /// Live frames queued or held, against `limit`.
    frames: u64,
    limit: u64,
    /// Set with the close frame: nothing is queued after it.
    closed: bool,
    waker: Option<Waker>,
}

impl Outbox {
    /// An outbox that holds live frames until [`Outbox::release`].
    fn new(limit: u64) -> Arc<Outbox> {
        Arc::new(Outbox {
            state: Mutex::new(OutboxState {
                queue: VecDeque::new(),
                held: Some(VecDeque::new()),
                frames: 0,
                limit,
                closed: false,
                waker: None,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OutboxState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The hub's live frames: `frames` of them in one chunk.
    fn push_live(&self, chunk: Bytes, frames: u64) -> Result<(), Refused> {
        let mut st = self.lock();
        if st.closed {
            return Err(Refused::Closed);
        }
        if st.frames + frames > st.limit {
            return Err(Refused::Full);
        }
        st.frames += frames;
        match st.held.as_mut() {
            Some(held) => held.push_back((chunk, frames)),
            None => {
                st.queue.push_back((chunk, frames));
                st.wake();
            }
        }
        Ok(())
    }

    /// The session's own frames (hello, replay): not held, and not refused, as the
    /// session sends a bounded number of them once.
    fn push_own(&self, chunk: Bytes) {
        let mut st = self.lock();
        if st.closed {
            return;
        }
        st.queue.push_back((chunk, 0));
        st.wake();
    }

    /// Sends what was held during the replay, after it.
    fn release(&self) {
        let mut st = self.lock();
        if let Some(held) = st.held.take()
            && !st.closed
        {
            st.queue.extend(held);
        }
        st.wake();
    }

    /// Queues the close frame after everything queued; nothing can follow it.
    fn close_with(&self, frame: Bytes) {
        let mut st = self.lock();
        if st.closed {
            return;
        }
        st.held = None;
        st.queue.push_back((frame, 0));
        st.closed = true;
        st.wake();
    }

    fn is_closed(&self) -> bool {
        self.lock().closed
    }
}

impl OutboxState {
    fn wake(&mut self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

/// The response body of a session: the context's frames first (they drive the actor and
/// carry pings, pongs and errors), then the outbox. It ends after the close frame, or
/// when the actor stops without one.
struct SessionBody<S> {
    context: Pin<Box<S>>,
    context_done: bool,
    outbox: Arc<Outbox>,
}

impl<S> Stream for SessionBody<S>
where
    S: Stream<Item = Result<Bytes, actix_web::Error>>,
{
    type Item = Result<Bytes, actix_web::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if !this.context_done {
            match this.context.as_mut().poll_next(cx) {
                // A control frame after the close frame would break the protocol.
                Poll::Ready(Some(Ok(b))) if !this.outbox.is_closed() => {
                    return Poll::Ready(Some(Ok(b)));
                }
                Poll::Ready(Some(Ok(_))) => {}
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => this.context_done = true,
                Poll::Pending => {}
            }
        }
        let mut st = this.outbox.lock();
        if let Some((chunk, n)) = st.queue.pop_front() {
            st.frames = st.frames.saturating_sub(n);
            return Poll::Ready(Some(Ok(chunk)));
        }
        if st.closed || this.context_done {
            return Poll::Ready(None);
        }
        if !st.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            st.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct Evict;

#[derive(Message)]
#[rtype(result = "(u64, u64)")]
struct Connect {
    /// The session, to stop it when the hub evicts it.
    evict: Recipient<Evict>,
    scope: Scope,
    outbox: Arc<Outbox>,
}

/// What the hub knows of one session: where to put its frames, what it may see, and its
/// actor, to stop it.
struct Session {
    evict: Recipient<Evict>,
    scope: Scope,
    outbox: Arc<Outbox>,
}

#[derive(Message)]
#[rtype(result = "()")]
struct Disconnect {
    id: u64,
}

/// The frames of the change log up to `upto`. `complete` is false when the feeder built
/// none because no session was connected when it looked.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Broadcast {
    pub frames: Vec<Frame>,
    pub upto: u64,
    pub complete: bool,
}

pub struct Hub {
    sessions: HashMap<u64, Session>,
    next_id: u64,
    connected: Arc<AtomicUsize>,
    evicted: u64,
    delivered: u64,
    /// The last change sequence number handed to the sessions: a session that connects
    /// now is sent every frame after it.
    upto: u64,
}

impl Hub {
    pub fn new(connected: Arc<AtomicUsize>, upto: u64) -> Hub {
        Hub {
            sessions: HashMap::new(),
            next_id: 1,
            connected,
            evicted: 0,
            delivered: 0,
            upto,
        }
    }
}

impl Actor for Hub {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(16_384);
    }
}

impl Handler<Connect> for Hub {
    type Result = MessageResult<Connect>;
    fn handle(&mut self, msg: Connect, _: &mut Context<Self>) -> Self::Result {
        let id = self.next_id;
        self.next_id += 1;
        self.sessions.insert(
            id,
            Session {
                evict: msg.evict,
                scope: msg.scope,
                outbox: msg.outbox,
            },
        );
        self.connected.store(self.sessions.len(), Ordering::Release);
        MessageResult((id, self.upto))
    }
}

impl Handler<Disconnect> for Hub {
    type Result = ();
    fn handle(&mut self, msg: Disconnect, _: &mut Context<Self>) {
        self.sessions.remove(&msg.id);
        self.connected.store(self.sessions.len(), Ordering::Release);
    }
}

/// The frames one session may see, as one chunk: all of them for MSP staff, its tenant's
/// for a client's user, each made once per stretch.
fn chunk_for<'a>(
    scope: &'a Scope,
    frames: &[Frame],
    all: &mut Option<(Bytes, u64)>,
    by_tenant: &mut HashMap<&'a str, (Bytes, u64)>,
) -> (Bytes, u64) {
    let concat = |keep: &dyn Fn(&Frame) -> bool| {
        let mut n = 0;
        let mut b = BytesMut::new();
        for f in frames.iter().filter(|f| keep(f)) {
            b.extend_from_slice(&f.wire);
            n += 1;
        }
        (b.freeze(), n)
    };
    match scope {
        Scope::All => all.get_or_insert_with(|| concat(&|_| true)).clone(),
        Scope::Tenant(t) => by_tenant
            .entry(t.as_str())
            .or_insert_with(|| concat(&|f| f.tenant == *t))
            .clone(),
    }
}

impl Handler<Broadcast> for Hub {
    type Result = ();
    fn handle(&mut self, msg: Broadcast, _: &mut Context<Self>) {
        const TOO_SLOW: &str =
            "too slow: frames queued beyond the limit; reconnect with ?since=<last seq>";
        let mut gone = Vec::new();
        if !msg.complete && !self.sessions.is_empty() {
            // These sessions connected after the feeder looked and found none: they missed
            // the frames up to `upto` and are told to reload.
            let resync = resync_frame(msg.upto);
            for (id, s) in &self.sessions {
                if s.outbox.push_live(resync.clone(), 1).is_err() {
                    gone.push(*id);
                }
            }
        }
        if !msg.frames.is_empty() {
            let mut all = None;
            let mut by_tenant = HashMap::new();
            for (id, s) in &self.sessions {
                let (chunk, n) = chunk_for(&s.scope, &msg.frames, &mut all, &mut by_tenant);
                if n == 0 {
                    continue;
                }
                match s.outbox.push_live(chunk, n) {
                    Ok(()) => self.delivered += n,
                    Err(Refused::Full) => {
                        s.outbox
                            .close_with(close_frame(ws::CloseCode::Again, TOO_SLOW));
                        s.evict.do_send(Evict);
                        self.evicted += 1;
                        gone.push(*id);
                    }
                    Err(Refused::Closed) => gone.push(*id),
                }
            }
        }
        for id in gone {
            self.sessions.remove(&id);
        }
        self.upto = self.upto.max(msg.upto);
        self.connected.store(self.sessions.len(), Ordering::Release);
    }
}

impl Handler<corerecon_actors::observe::Observe> for Hub {
    type Result = MessageResult<corerecon_actors::observe::Observe>;
    fn handle(
        &mut self,
        _: corerecon_actors::observe::Observe,
        _: &mut Context<Self>,
    ) -> Self::Result {
        MessageResult(serde_json::json!({
            "actor": "ws_hub",
            "sessions": self.sessions.len(),
            "evicted": self.evicted,
            "delivered": self.delivered,
            "upto": self.upto,
        }))
    }
}

/// Builds the JSON frame for one change, or `None` when it is not shown live.
pub fn frame_for(app: &App, change: &Change) -> Option<String> {
    let data = match change.kind.as_str() {
        "alert.created" | "alert.updated" => {
            serde_json::to_value(app.store.get::<Alert>(&change.id).ok()??).ok()?
        }
        k if k.starts_with("incident.") => crate::http::incidents::incident_json(app, &change.id)?,
        "sla.warning" | "sla.breached" => change.data.clone()?,
        _ => return None,
    };
    Some(
        serde_json::json!({
            "type": change.kind,
            "seq": change.seq,
            "at": change.at,
            "tenant": change.tenant,
            "data": data,
        })
        .to_string(),
    )
}

/// The feeder hands the hub at most one stretch of frames this often. Under load every
/// group commit moves the durable sequence, hundreds of times a second, and each stretch
/// costs every session a queued chunk and a socket write; gathered over this long, a
/// thousand sessions at a thousand alerts a second take a twentieth of those, for at most
/// this much more latency. When ingest is quiet a frame goes out at once.
const FEED_EVERY: Duration = Duration::from_millis(20);

/// Follows the change log and feeds the hub until the process ends.
pub fn spawn_feeder(app: web::Data<App>) {
    actix_web::rt::spawn(async move {
        let mut durable = app.store.durable_seq();
        let mut cursor = *durable.borrow();
        let _ = app
            .hub
            .send(Broadcast {
                frames: Vec::new(),
                upto: cursor,
                complete: true,
            })
            .await;
        let mut fed = tokio::time::Instant::now();
        loop {
            if durable.changed().await.is_err() {
                return;
            }
            tokio::time::sleep_until(fed + FEED_EVERY).await;
            fed = tokio::time::Instant::now();
            let upto = *durable.borrow_and_update();
            while cursor < upto {
                let batch = match app.store.changes_since(cursor, upto, 2_000) {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::error!(error = %e, "ws feeder");
                        break;
                    }
                };
                let Some(last) = batch.last().map(|c| c.seq) else {
                    break;
                };
                cursor = last;
                let complete = app.ws_connected.load(Ordering::Acquire) > 0;
                let frames: Vec<Frame> = if complete {
                    batch
                        .into_iter()
                        .filter_map(|c| {
                            let text = frame_for(&app, &c)?;
                            Some(Frame {
                                tenant: c.tenant,
                                wire: text_frame(&text),
                            })
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                // Awaiting the hub's mailbox is the backpressure: the feeder lags, the
                // change log holds what it has not sent yet.
                let _ = app
                    .hub
                    .send(Broadcast {
                        frames,
                        upto: last,
                        complete,
                    })
                    .await;
            }
        }
    });
}

pub struct WsSession {
    app: web::Data<App>,
    scope: Scope,
    token: String,
    expires_at: i64,
    id: u64,
    since: Option<u64>,
    heartbeat: Instant,
    outbox: Arc<Outbox>,
}

impl WsSession {
    /// Queues what the client missed since `since`, up to `upto`, where the hub's live
    /// frames start for it.
    fn replay(&mut self, since: u64, upto: u64) {
        let store: &Store = &self.app.store;
        if since >= upto {
            return;
        }
        let changes = match store.changes_since(since, upto, REPLAY_MAX + 1) {
            Ok(c) => c,
            Err(_) => return,
        };
        if changes.len() > REPLAY_MAX
            || changes
                .first()
                .is_some_and(|c| c.seq > since + 1 && since > 0)
        {
            self.outbox.push_own(resync_frame(upto));
            return;
        }
        for c in changes.iter().filter(|c| self.scope.allows(&c.tenant)) {
            if let Some(text) = frame_for(&self.app, c) {
                self.outbox.push_own(text_frame(&text));
            }
        }
    }

    /// Closes with a reason: the close frame goes after every frame queued before it.
    fn close(&mut self, ctx: &mut ws::WebsocketContext<Self>, code: ws::CloseCode, reason: &str) {
        self.outbox.close_with(close_frame(code, reason));
        ctx.stop();
    }
}

impl Actor for WsSession {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Only Evict comes through the mailbox; frames go to the outbox.
        ctx.set_mailbox_capacity(16);
        // Register first: live frames after the hub's `upto` are held in the outbox while
        // the replay up to `upto` is queued, then follow it, so nothing is lost or sent
        // twice between the replay and the first live frame.
        self.app
            .hub
            .send(Connect {
                evict: ctx.address().recipient(),
                scope: self.scope.clone(),
                outbox: self.outbox.clone(),
            })
            .into_actor(self)
            .then(|res, act, ctx| {
                match res {
                    Ok((id, upto)) => {
                        act.id = id;
                        if let Some(since) = act.since {
                            act.replay(since, upto);
                        }
                        act.outbox.push_own(text_frame(
                            &serde_json::json!({"type": "hello", "seq": upto}).to_string(),
                        ));
                        act.outbox.release();
                    }
                    Err(_) => ctx.stop(),
                }
                fut::ready(())
            })
            .wait(ctx);
        ctx.run_interval(HEARTBEAT, |act, ctx| {
            if act.heartbeat.elapsed() > CLIENT_TIMEOUT {
                act.close(ctx, ws::CloseCode::Away, "no pong");
                return;
            }
            // A logged-out or expired session ends here too.
            if chrono::Utc::now().timestamp() >= act.expires_at
                || crate::auth::authenticate(&act.app, &act.token).is_err()
            {
                act.close(
                    ctx,
                    ws::CloseCode::Other(4001),
                    "session expired or revoked; reconnect with a fresh token",
                );
                return;
            }
            ctx.ping(b"");
        });
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.app.hub.do_send(Disconnect { id: self.id });
    }
}

impl Handler<Evict> for WsSession {
    type Result = ();
    /// The hub has queued the close frame already.
    fn handle(&mut self, _: Evict, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for WsSession {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        match msg {
            Ok(ws::Message::Ping(p)) => {
                self.heartbeat = Instant::now();
                ctx.pong(&p);
            }
            Ok(ws::Message::Pong(_)) => self.heartbeat = Instant::now(),
            Ok(ws::Message::Text(_)) | Ok(ws::Message::Binary(_)) => {
                self.heartbeat = Instant::now()
            }
            Ok(ws::Message::Close(r)) => {
                // The close handshake's answer, after whatever is queued.
                self.outbox.close_with(close_wire(r));
                ctx.stop();
            }
            Ok(_) => {}
            Err(_) => ctx.stop(),
        }
    }
}

/// `GET /api/v1/ws`: authenticated by `?access_token=` or the subprotocol pair
/// `bearer, <token>`; `?since=<seq>` replays what a reconnecting client missed.
pub async fn connect(
    app: web::Data<App>,
    req: HttpRequest,
    stream: web::Payload,
) -> ApiResult<HttpResponse> {
    let q = req.query_string();
    let protocols: Vec<String> = req
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|h| h.to_str().ok())
        .map(|h| h.split(',').map(|p| p.trim().to_string()).collect())
        .unwrap_or_default();
    let via_protocol = protocols
        .first()
        .is_some_and(|p| p.eq_ignore_ascii_case("bearer"));
    let token = crate::ingest::token::query_param(q, "access_token")
        .or_else(|| via_protocol.then(|| protocols.get(1).cloned()).flatten())
        .ok_or_else(|| {
            ApiError::unauthorized(
                "auth.missing_token",
                "pass ?access_token= or the subprotocols `bearer, <token>`",
            )
        })?;
    let caller = crate::auth::authenticate(&app, &token)?;
    let since = crate::ingest::token::query_param(q, "since").and_then(|s| s.parse().ok());
    let session = WsSession {
        app: app.clone(),
        scope: caller.scope.clone(),
        token,
        expires_at: caller.claims.exp,
        id: 0,
        since,
        heartbeat: Instant::now(),
        outbox: Outbox::new(app.settings.ws_queue as u64),
    };
    let outbox = session.outbox.clone();
    let mut response = if via_protocol {
        ws::handshake_with_protocols(&req, &["bearer"])
    } else {
        ws::handshake(&req)
    }
    .map_err(|e| ApiError::bad_request("ws.handshake", e.to_string()))?;
    let context = ws::WebsocketContext::with_codec(
        session,
        stream,
        actix_http::ws::Codec::new().max_size(MAX_FRAME),
    );
    Ok(response.streaming(SessionBody {
        context: Box::pin(context),
        context_done: false,
        outbox,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(outbox: &Outbox) -> Vec<Bytes> {
        let mut st = outbox.lock();
        let mut out = Vec::new();
        while let Some((chunk, n)) = st.queue.pop_front() {
            st.frames -= n;
            out.push(chunk);
        }
        out
    }

    #[test]
    fn live_frames_wait_for_the_replay_and_the_bound_counts_frames() {
        let outbox = Outbox::new(3);
        let live = |s: &'static str| Bytes::from_static(s.as_bytes());
        assert_eq!(outbox.push_live(live("live1"), 2), Ok(()));
        outbox.push_own(live("replay"));
        outbox.push_own(live("hello"));
        assert_eq!(drain(&outbox), vec![live("replay"), live("hello")]);
        outbox.release();
        // Held frames count against the bound before they are released.
        assert_eq!(outbox.push_live(live("live2"), 2), Err(Refused::Full));
        assert_eq!(outbox.push_live(live("live2"), 1), Ok(()));
        assert_eq!(drain(&outbox), vec![live("live1"), live("live2")]);
        // Drained frames free their room.
        assert_eq!(outbox.push_live(live("live3"), 3), Ok(()));
        outbox.close_with(live("close"));
        assert_eq!(outbox.push_live(live("late"), 1), Err(Refused::Closed));
        outbox.push_own(live("late own"));
        assert_eq!(drain(&outbox), vec![live("live3"), live("close")]);
    }

    /// Stands for a session's actor: counts the evictions it is told of.
    struct Evicted(Arc<AtomicUsize>);
    impl Actor for Evicted {
        type Context = Context<Self>;
    }
    impl Handler<Evict> for Evicted {
        type Result = ();
        fn handle(&mut self, _: Evict, _: &mut Context<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn frame(seq: u64, tenant: &str) -> Frame {
        Frame {
            tenant: tenant.into(),
            wire: text_frame(&format!("{{\"seq\":{seq},\"tenant\":\"{tenant}\"}}")),
        }
    }

    async fn broadcast(hub: &Addr<Hub>, frames: Vec<Frame>, upto: u64) {
        hub.send(Broadcast {
            frames,
            upto,
            complete: true,
        })
        .await
        .unwrap();
    }

    fn texts(outbox: &Outbox) -> Vec<String> {
        let mut out = Vec::new();
        for chunk in drain(outbox) {
            let mut wire = BytesMut::from(&chunk[..]);
            while let Some((_, op, payload)) = Parser::parse(&mut wire, false, MAX_FRAME).unwrap() {
                let payload = payload.unwrap_or_default();
                out.push(match op {
                    OpCode::Close => "close".to_string(),
                    _ => String::from_utf8(payload.to_vec()).unwrap(),
                });
            }
        }
        out
    }

    #[actix_web::test]
    async fn the_hub_sends_each_session_its_tenants_frames_and_evicts_the_full_ones() {
        let connected = Arc::new(AtomicUsize::new(0));
        let hub = Hub::new(connected.clone(), 7).start();
        let evictions = Arc::new(AtomicUsize::new(0));
        let evict = Evicted(evictions.clone()).start().recipient();
        let session = |scope: Scope, limit: u64| {
            let outbox = Outbox::new(limit);
            outbox.release();
            let connect = Connect {
                evict: evict.clone(),
                scope,
                outbox: outbox.clone(),
            };
            (outbox, connect)
        };
        let (staff, c) = session(Scope::All, 100);
        assert_eq!(
            hub.send(c).await.unwrap().1,
            7,
            "told where live frames start"
        );
        let (acme, c) = session(Scope::Tenant("acme".into()), 100);
        hub.send(c).await.unwrap();
        let (small, c) = session(Scope::Tenant("acme".into()), 2);
        hub.send(c).await.unwrap();
        assert_eq!(connected.load(Ordering::SeqCst), 3);

        // The feeder found no session when it built this stretch: all three missed it.
        hub.send(Broadcast {
            frames: Vec::new(),
            upto: 9,
            complete: false,
        })
        .await
        .unwrap();
        for outbox in [&staff, &acme, &small] {
            let got = texts(outbox);
            assert_eq!(got.len(), 1);
            assert!(got[0].contains("\"resync\""), "{got:?}");
        }

        broadcast(
            &hub,
            vec![frame(10, "acme"), frame(11, "globex"), frame(12, "acme")],
            12,
        )
        .await;
        assert_eq!(
            texts(&staff),
            [
                r#"{"seq":10,"tenant":"acme"}"#,
                r#"{"seq":11,"tenant":"globex"}"#,
                r#"{"seq":12,"tenant":"acme"}"#
            ]
        );
        assert_eq!(
            texts(&acme),
            [
                r#"{"seq":10,"tenant":"acme"}"#,
                r#"{"seq":12,"tenant":"acme"}"#
            ]
        );
        // Two frames fill the small outbox (nothing drained it); the next one evicts it.
        broadcast(&hub, vec![frame(13, "acme")], 13).await;
        assert_eq!(
            texts(&small),
            [
                r#"{"seq":10,"tenant":"acme"}"#,
                r#"{"seq":12,"tenant":"acme"}"#,
                "close"
            ],
            "what was queued, then the close frame"
        );
        assert_eq!(connected.load(Ordering::SeqCst), 2);
        // The evicted session's actor is told to stop.
        let deadline = Instant::now() + Duration::from_secs(5);
        while evictions.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
            tokio::task::yield_now().await;
        }
        assert_eq!(evictions.load(Ordering::SeqCst), 1);
        assert_eq!(texts(&acme), [r#"{"seq":13,"tenant":"acme"}"#]);
    }

    #[test]
    fn frames_are_encoded_as_unmasked_text_frames() {
        let mut wire = BytesMut::from(&text_frame(&"x".repeat(300))[..]);
        wire.extend_from_slice(&close_frame(ws::CloseCode::Again, "too slow"));
        // As a client reads them: `server: false` refuses masked frames.
        let (fin, op, payload) = Parser::parse(&mut wire, false, MAX_FRAME).unwrap().unwrap();
        assert!(fin);
        assert_eq!(op, OpCode::Text);
        assert_eq!(payload.unwrap().len(), 300);
        let (_, op, payload) = Parser::parse(&mut wire, false, MAX_FRAME).unwrap().unwrap();
        assert_eq!(op, OpCode::Close);
        let reason = Parser::try_parse_close_payload(&payload.unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(reason.code, ws::CloseCode::Again);
        assert_eq!(reason.description.as_deref(), Some("too slow"));
        assert!(wire.is_empty());
    }
}
