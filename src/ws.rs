//! Live updates over WebSocket (`/api/v1/ws`). A feeder follows the change log up to the
//! durable sequence number (a frame never shows what a crash could still lose) and hands
//! each frame to the hub, which fans it out to the sessions allowed to see its tenant. A
//! session whose queue is full is closed with a reason rather than slowing the others;
//! it reconnects with `?since=<last seq>` and is replayed what it missed.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_web::{HttpRequest, HttpResponse, web};
use actix_web_actors::ws;
use bytestring::ByteString;
use corerecon_actors::model::{Alert, Scope};

use crate::App;
use crate::error::{ApiError, ApiResult};
use crate::store::{Change, Store};

const HEARTBEAT: Duration = Duration::from_secs(20);
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);
/// A reconnecting client further behind than this is told to reload instead.
const REPLAY_MAX: usize = 10_000;

/// One frame, encoded once and shared by every session that receives it. Its text is a
/// `ByteString`, what the WebSocket context takes, so handing it to a session is a
/// reference count, not a copy of the frame per session.
#[derive(Clone)]
pub struct Frame {
    pub seq: u64,
    pub tenant: String,
    pub text: ByteString,
}

/// The frames of one stretch of the change log, handed to every session as one message:
/// at a thousand alerts a second and a thousand sessions, a message per frame and session
/// would cost a mailbox push and a socket write each; per stretch, one of each.
#[derive(Clone, Message)]
#[rtype(result = "()")]
struct Frames(Arc<[Frame]>);

#[derive(Message)]
#[rtype(result = "()")]
struct Evict {
    reason: &'static str,
}

#[derive(Message)]
#[rtype(result = "u64")]
struct Connect {
    addr: Addr<WsSession>,
    scope: Scope,
    handled: Arc<AtomicU64>,
}

/// What the hub knows of one session: where to send, what it may see, and how far behind
/// it is. A session's mailbox holds messages, each a stretch of frames of any length, so
/// its capacity bounds nothing in bytes; the count of frames sent but not yet handled
/// does. A session handles its mailbox only while its socket takes what it writes, so a
/// client that stops reading stops handling, and falls behind by every frame sent to it.
struct Session {
    addr: Addr<WsSession>,
    scope: Scope,
    /// Frames sent to the session so far.
    sent: u64,
    /// Frames the session has handled (written towards its socket) so far.
    handled: Arc<AtomicU64>,
}

#[derive(Message)]
#[rtype(result = "()")]
struct Disconnect {
    id: u64,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Broadcast {
    pub frames: Vec<Frame>,
}

pub struct Hub {
    sessions: HashMap<u64, Session>,
    next_id: u64,
    connected: Arc<AtomicUsize>,
    evicted: u64,
    delivered: u64,
    /// Frames a session may have sent to it and not handled yet.
    queue: u64,
}

impl Hub {
    pub fn new(connected: Arc<AtomicUsize>, queue: usize) -> Hub {
        Hub {
            sessions: HashMap::new(),
            next_id: 1,
            connected,
            evicted: 0,
            delivered: 0,
            queue: queue as u64,
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
    type Result = u64;
    fn handle(&mut self, msg: Connect, _: &mut Context<Self>) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.sessions.insert(
            id,
            Session {
                addr: msg.addr,
                scope: msg.scope,
                sent: 0,
                handled: msg.handled,
            },
        );
        self.connected.store(self.sessions.len(), Ordering::Release);
        id
    }
}

impl Handler<Disconnect> for Hub {
    type Result = ();
    fn handle(&mut self, msg: Disconnect, _: &mut Context<Self>) {
        self.sessions.remove(&msg.id);
        self.connected.store(self.sessions.len(), Ordering::Release);
    }
}

impl Handler<Broadcast> for Hub {
    type Result = ();
    fn handle(&mut self, msg: Broadcast, _: &mut Context<Self>) {
        let frames: Arc<[Frame]> = msg.frames.into();
        let mut slow = Vec::new();
        const TOO_SLOW: &str =
            "too slow: frames queued beyond the limit; reconnect with ?since=<last seq>";
        for (id, s) in &mut self.sessions {
            let visible = frames.iter().filter(|f| s.scope.allows(&f.tenant)).count() as u64;
            if visible == 0 {
                continue;
            }
            let queued = s.sent.saturating_sub(s.handled.load(Ordering::Acquire));
            if queued + visible > self.queue {
                s.addr.do_send(Evict { reason: TOO_SLOW });
                slow.push(*id);
                continue;
            }
            match s.addr.try_send(Frames(frames.clone())) {
                Ok(()) => {
                    s.sent += visible;
                    self.delivered += visible;
                }
                Err(SendError::Full(_)) => {
                    s.addr.do_send(Evict { reason: TOO_SLOW });
                    slow.push(*id);
                }
                Err(SendError::Closed(_)) => slow.push(*id),
            }
        }
        for id in slow {
            self.sessions.remove(&id);
            self.evicted += 1;
        }
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
/// costs every session a mailbox message and a socket write; gathered over this long,
/// a thousand sessions at a thousand alerts a second take a twentieth of those, for at
/// most this much more latency. When ingest is quiet a frame goes out at once.
const FEED_EVERY: Duration = Duration::from_millis(20);

/// Follows the change log and feeds the hub until the process ends.
pub fn spawn_feeder(app: web::Data<App>) {
    actix_web::rt::spawn(async move {
        let mut durable = app.store.durable_seq();
        let mut cursor = *durable.borrow();
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
                if app.ws_connected.load(Ordering::Acquire) == 0 {
                    continue;
                }
                let frames: Vec<Frame> = batch
                    .into_iter()
                    .filter_map(|c| {
                        let text = frame_for(&app, &c)?;
                        Some(Frame {
                            seq: c.seq,
                            tenant: c.tenant,
                            text: text.into(),
                        })
                    })
                    .collect();
                if !frames.is_empty() {
                    // Awaiting the hub's mailbox is the backpressure: the feeder lags, the
                    // change log holds what it has not sent yet.
                    let _ = app.hub.send(Broadcast { frames }).await;
                }
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
    last_sent: u64,
    since: Option<u64>,
    heartbeat: Instant,
    /// Frames of the hub's handled so far, for the hub to see how far behind this is.
    handled: Arc<AtomicU64>,
}

impl WsSession {
    fn replay(&mut self, ctx: &mut ws::WebsocketContext<Self>, since: u64) {
        let store: &Store = &self.app.store;
        let upto = *store.durable_seq().borrow();
        self.last_sent = upto;
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
            ctx.text(serde_json::json!({"type": "resync", "seq": upto, "data": {"reason": "too far behind; reload the list"}}).to_string());
            return;
        }
        for c in changes.iter().filter(|c| self.scope.allows(&c.tenant)) {
            if let Some(text) = frame_for(&self.app, c) {
                ctx.text(text);
            }
        }
    }
}

impl Actor for WsSession {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.app.settings.ws_queue);
        // Register first, then read the durable seq: a frame broadcast in between is
        // queued in the mailbox and passes the `seq > last_sent` filter, so nothing
        // between `hello` and the first live frame is lost.
        self.app
            .hub
            .send(Connect {
                addr: ctx.address(),
                scope: self.scope.clone(),
                handled: self.handled.clone(),
            })
            .into_actor(self)
            .then(|res, act, ctx| {
                match res {
                    Ok(id) => {
                        act.id = id;
                        act.last_sent = *act.app.store.durable_seq().borrow();
                        if let Some(since) = act.since {
                            act.replay(ctx, since);
                        }
                        ctx.text(
                            serde_json::json!({"type": "hello", "seq": act.last_sent}).to_string(),
                        );
                    }
                    Err(_) => ctx.stop(),
                }
                fut::ready(())
            })
            .wait(ctx);
        ctx.run_interval(HEARTBEAT, |act, ctx| {
            if act.heartbeat.elapsed() > CLIENT_TIMEOUT {
                ctx.close(Some(ws::CloseReason {
                    code: ws::CloseCode::Away,
                    description: Some("no pong".into()),
                }));
                ctx.stop();
                return;
            }
            // A logged-out or expired session ends here too.
            if chrono::Utc::now().timestamp() >= act.expires_at
                || crate::auth::authenticate(&act.app, &act.token).is_err()
            {
                ctx.close(Some(ws::CloseReason {
                    code: ws::CloseCode::Other(4001),
                    description: Some(
                        "session expired or revoked; reconnect with a fresh token".into(),
                    ),
                }));
                ctx.stop();
                return;
            }
            ctx.ping(b"");
        });
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.app.hub.do_send(Disconnect { id: self.id });
    }
}

impl Handler<Frames> for WsSession {
    type Result = ();
    fn handle(&mut self, Frames(frames): Frames, ctx: &mut Self::Context) {
        let mut handled = 0;
        for f in frames.iter().filter(|f| self.scope.allows(&f.tenant)) {
            handled += 1;
            if f.seq > self.last_sent {
                self.last_sent = f.seq;
                ctx.text(f.text.clone());
            }
        }
        self.handled.fetch_add(handled, Ordering::AcqRel);
    }
}

impl Handler<Evict> for WsSession {
    type Result = ();
    fn handle(&mut self, e: Evict, ctx: &mut Self::Context) {
        ctx.close(Some(ws::CloseReason {
            code: ws::CloseCode::Again,
            description: Some(e.reason.into()),
        }));
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
                ctx.close(r);
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
        last_sent: 0,
        since,
        heartbeat: Instant::now(),
        handled: Arc::default(),
    };
    let mut builder = ws::WsResponseBuilder::new(session, &req, stream).frame_size(64 * 1024);
    if via_protocol {
        builder = builder.protocols(&["bearer"]);
    }
    builder
        .start()
        .map_err(|e| ApiError::bad_request("ws.handshake", e.to_string()))
}
