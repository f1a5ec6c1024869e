//! One actor per open alert. It owns the alert's state and serialises every command on
//! it (triage, comments, dedup increments), saving through the [`AlertRepo`] port. The
//! [`AlertDirectory`] activates actors on demand and passivates idle ones, so memory
//! follows the open workload, not the history.

pub mod messages;
pub mod state;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use serde_json::json;

use crate::model::Alert;
use crate::observe::{Observe, catch_handler_panic};
use crate::ports::AlertRepo;
pub use messages::*;

/// How long an alert's actor may sit idle before the directory passivates it.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(120);
/// Commands that may wait in one alert's mailbox; beyond it senders are told to back off.
pub const MAILBOX: usize = 256;

pub struct AlertActor {
    id: String,
    repo: Arc<dyn AlertRepo>,
    directory: Option<Recipient<Passivate>>,
    state: Option<Alert>,
    idle_for: Duration,
    last_command: std::time::Instant,
    restarts: u32,
    handled: u64,
    fault: Option<InjectFault>,
    passivating: bool,
}

impl AlertActor {
    pub fn new(
        id: String,
        repo: Arc<dyn AlertRepo>,
        directory: Option<Recipient<Passivate>>,
        idle_for: Duration,
    ) -> Self {
        AlertActor {
            id,
            repo,
            directory,
            state: None,
            idle_for,
            last_command: std::time::Instant::now(),
            restarts: 0,
            handled: 0,
            fault: None,
            passivating: false,
        }
    }

    fn load(&mut self) -> Result<(), AlertError> {
        match self.repo.load(&self.id) {
            Ok(Some(a)) => {
                self.state = Some(a);
                Ok(())
            }
            Ok(None) => Err(AlertError::NotFound),
            Err(e) => Err(AlertError::Storage(e.to_string())),
        }
    }

    /// Runs a command against the state, saving it when it changed. A panic inside stops
    /// the actor so that its supervisor restarts it from the store.
    fn run(
        &mut self,
        ctx: &mut Context<Self>,
        change: &'static str,
        f: impl FnOnce(&mut Alert) -> Result<bool, AlertError>,
    ) -> AlertReply {
        self.last_command = std::time::Instant::now();
        self.passivating = false;
        self.handled += 1;
        if self.state.is_none() {
            self.load()?;
        }
        let fault = self.fault.take();
        if fault == Some(InjectFault::Stop) {
            ctx.stop();
            return Err(AlertError::Crashed);
        }
        let Some(alert) = self.state.as_mut() else {
            return Err(AlertError::NotFound);
        };
        // Work on a copy so that a failed save or a panic leaves the state as stored.
        let mut next = alert.clone();
        let outcome = catch_handler_panic(|| {
            if fault == Some(InjectFault::Panic) {
                panic!("injected fault");
            }
            f(&mut next)
        });
        match outcome {
            Err(crate::observe::HandlerPanicked) => {
                tracing::error!(alert_id = %self.id, "alert actor panicked; restarting from the store");
                ctx.stop();
                Err(AlertError::Crashed)
            }
            Ok(Err(e)) => Err(e),
            Ok(Ok(false)) => Ok(next),
            Ok(Ok(true)) => {
                self.repo
                    .save(Some(alert), &next, change)
                    .map_err(|e| AlertError::Storage(e.to_string()))?;
                *alert = next.clone();
                Ok(next)
            }
        }
    }
}

impl Actor for AlertActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX);
        if let Err(e) = self.load() {
            tracing::debug!(alert_id = %self.id, error = %e, "alert actor started without state");
        }
        let every = (self.idle_for / 4).max(Duration::from_millis(10));
        ctx.run_interval(every, |act, ctx| {
            let closed = act.state.as_ref().is_some_and(|a| !a.status.is_open());
            let idle = act.last_command.elapsed() >= act.idle_for;
            if (idle || (closed && act.last_command.elapsed() >= act.idle_for / 8))
                && let Some(dir) = &act.directory
            {
                // Asked once: each request carries an address, which itself keeps the
                // actor alive until the directory has read it.
                if !std::mem::replace(&mut act.passivating, true) {
                    dir.do_send(Passivate {
                        id: act.id.clone(),
                        addr: ctx.address(),
                    });
                }
                // Stopping lets actix end the actor once the directory drops its
                // address; until then the supervisor restarts it and it asks again.
                ctx.stop();
            }
        });
    }
}

impl Supervised for AlertActor {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.restarts += 1;
        self.state = None;
        self.fault = None;
    }
}

impl Handler<GetAlert> for AlertActor {
    type Result = AlertReply;
    fn handle(&mut self, _: GetAlert, ctx: &mut Context<Self>) -> AlertReply {
        self.run(ctx, "alert.updated", |_| Ok(false))
    }
}

impl Handler<TriageAlert> for AlertActor {
    type Result = AlertReply;
    fn handle(&mut self, cmd: TriageAlert, ctx: &mut Context<Self>) -> AlertReply {
        let now = chrono::Utc::now();
        self.run(ctx, "alert.updated", move |a| {
            state::apply_triage(a, &cmd, now)
        })
    }
}

impl Handler<CommentOnAlert> for AlertActor {
    type Result = AlertReply;
    fn handle(&mut self, cmd: CommentOnAlert, ctx: &mut Context<Self>) -> AlertReply {
        let now = chrono::Utc::now();
        self.run(ctx, "alert.updated", move |a| {
            state::add_comment(a, cmd.id, &cmd.author, &cmd.text, now).map(|_| true)
        })
    }
}

impl Handler<RecordDuplicates> for AlertActor {
    type Result = AlertReply;
    fn handle(&mut self, cmd: RecordDuplicates, ctx: &mut Context<Self>) -> AlertReply {
        self.run(ctx, "alert.updated", move |a| {
            state::record_duplicates(a, cmd.count, cmd.last_seen);
            Ok(true)
        })
    }
}

impl Handler<LinkIncident> for AlertActor {
    type Result = AlertReply;
    fn handle(&mut self, cmd: LinkIncident, ctx: &mut Context<Self>) -> AlertReply {
        let now = chrono::Utc::now();
        self.run(ctx, "alert.updated", move |a| {
            if a.incident.as_deref() == Some(cmd.incident_id.as_str()) {
                return Ok(false);
            }
            let before = json!(a.incident);
            a.incident = Some(cmd.incident_id.clone());
            if a.status == crate::model::AlertStatus::New
                || a.status == crate::model::AlertStatus::Acknowledged
            {
                a.status = crate::model::AlertStatus::InProgress;
            }
            a.history.push(crate::model::HistoryEntry {
                at: now,
                actor: cmd.actor,
                action: "escalate".into(),
                before: Some(before),
                after: Some(json!(cmd.incident_id)),
            });
            a.updated_at = now;
            Ok(true)
        })
    }
}

impl Handler<InjectFault> for AlertActor {
    type Result = AlertReply;
    fn handle(&mut self, fault: InjectFault, ctx: &mut Context<Self>) -> AlertReply {
        self.fault = Some(fault);
        self.run(ctx, "alert.updated", |_| Ok(false))
    }
}

impl Handler<Observe> for AlertActor {
    type Result = MessageResult<Observe>;
    fn handle(&mut self, _: Observe, _: &mut Context<Self>) -> Self::Result {
        MessageResult(json!({
            "actor": "alert",
            "id": self.id,
            "loaded": self.state.is_some(),
            "status": self.state.as_ref().map(|a| a.status),
            "count": self.state.as_ref().map(|a| a.count),
            "restarts": self.restarts,
            "handled": self.handled,
            "idle_ms": self.last_command.elapsed().as_millis() as u64,
        }))
    }
}

/// Asks the directory to forget an idle actor. Dropping the directory's address is what
/// stops it: with no address left, actix stops the actor and its supervisor does not
/// restart it.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Passivate {
    pub id: String,
    /// The actor asking: the directory forgets only this one, never a successor
    /// activated for the same alert in the meantime.
    pub addr: Addr<AlertActor>,
}

/// Returns the address of an alert's actor, activating it from the store when needed;
/// `None` when no such alert exists.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Option<Addr<AlertActor>>")]
pub struct GetAlertActor {
    pub id: String,
}

pub struct AlertDirectory {
    repo: Arc<dyn AlertRepo>,
    active: HashMap<String, Addr<AlertActor>>,
    idle_for: Duration,
    activations: u64,
    passivations: u64,
}

impl AlertDirectory {
    pub fn new(repo: Arc<dyn AlertRepo>, idle_for: Duration) -> Self {
        AlertDirectory {
            repo,
            active: HashMap::new(),
            idle_for,
            activations: 0,
            passivations: 0,
        }
    }
}

impl Actor for AlertDirectory {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(65_536);
    }
}

impl Handler<GetAlertActor> for AlertDirectory {
    type Result = MessageResult<GetAlertActor>;
    fn handle(&mut self, msg: GetAlertActor, ctx: &mut Context<Self>) -> Self::Result {
        if let Some(addr) = self.active.get(&msg.id).filter(|a| a.connected()) {
            return MessageResult(Some(addr.clone()));
        }
        match self.repo.load(&msg.id) {
            Ok(Some(_)) => {}
            _ => return MessageResult(None),
        }
        let repo = self.repo.clone();
        let me = ctx.address().recipient();
        let idle = self.idle_for;
        let id = msg.id.clone();
        let addr = Supervisor::start(move |_| AlertActor::new(id, repo, Some(me), idle));
        self.activations += 1;
        self.active.insert(msg.id, addr.clone());
        MessageResult(Some(addr))
    }
}

impl Handler<Passivate> for AlertDirectory {
    type Result = ();
    fn handle(&mut self, msg: Passivate, _: &mut Context<Self>) {
        if self.active.get(&msg.id) == Some(&msg.addr) {
            self.active.remove(&msg.id);
            self.passivations += 1;
        }
    }
}

impl Handler<Observe> for AlertDirectory {
    type Result = MessageResult<Observe>;
    fn handle(&mut self, _: Observe, _: &mut Context<Self>) -> Self::Result {
        MessageResult(json!({
            "actor": "alert_directory",
            "active": self.active.len(),
            "activations": self.activations,
            "passivations": self.passivations,
            "idle_timeout_ms": self.idle_for.as_millis() as u64,
        }))
    }
}

/// Lists the active alert actors' addresses (for the admin view of actors).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Vec<Addr<AlertActor>>")]
pub struct ListActive {
    pub limit: usize,
}

impl Handler<ListActive> for AlertDirectory {
    type Result = MessageResult<ListActive>;
    fn handle(&mut self, msg: ListActive, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.active.values().take(msg.limit).cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;
    use crate::ports::memory::MemoryAlertRepo;

    fn alert(id: &str) -> Alert {
        let draft = AlertDraft {
            title: "x".into(),
            severity: Severity::High,
            ..AlertDraft::default()
        };
        Alert::from_draft(
            id,
            "t",
            SourceKind::Generic,
            draft,
            "fp".into(),
            chrono::Utc::now(),
        )
    }

    fn ack() -> TriageAlert {
        TriageAlert {
            actor: "ann".into(),
            action: Some(TriageAction::Acknowledge),
            status: None,
            assignee: None,
            severity: None,
            reason: None,
        }
    }

    async fn setup() -> (Arc<MemoryAlertRepo>, Addr<AlertDirectory>, Addr<AlertActor>) {
        let repo = Arc::new(MemoryAlertRepo::default());
        repo.insert(alert("a1"));
        let dir = AlertDirectory::new(repo.clone(), Duration::from_secs(3600)).start();
        let actor = dir
            .send(GetAlertActor { id: "a1".into() })
            .await
            .unwrap()
            .unwrap();
        (repo, dir, actor)
    }

    #[actix_rt::test]
    async fn a_panicking_handler_restarts_the_actor_and_the_next_command_is_served() {
        let (repo, _dir, actor) = setup().await;
        let r = actor.send(InjectFault::Panic).await.unwrap();
        assert_eq!(r, Err(AlertError::Crashed));
        let a = actor
            .send(ack())
            .await
            .expect("mailbox still open")
            .expect("served after restart");
        assert_eq!(a.status, AlertStatus::Acknowledged);
        assert_eq!(
            repo.load("a1").unwrap().unwrap().status,
            AlertStatus::Acknowledged
        );
        let obs = actor.send(Observe).await.unwrap();
        assert_eq!(obs["restarts"], 1);
    }

    #[actix_rt::test]
    async fn a_stopped_actor_is_restarted_with_state_reloaded_from_the_store() {
        let (repo, _dir, actor) = setup().await;
        actor.send(ack()).await.unwrap().unwrap();
        // Changed behind the actor's back: its cached state is now stale, and only a
        // restart that reads the store sees the change.
        let mut stored = repo.load("a1").unwrap().unwrap();
        stored.assignee = Some("bob".into());
        repo.insert(stored);
        assert_eq!(actor.send(GetAlert).await.unwrap().unwrap().assignee, None);
        assert_eq!(
            actor.send(InjectFault::Stop).await.unwrap(),
            Err(AlertError::Crashed)
        );
        let a = actor.send(GetAlert).await.unwrap().unwrap();
        assert_eq!(a.assignee.as_deref(), Some("bob"));
        assert_eq!(a.status, AlertStatus::Acknowledged);
        assert_eq!(actor.send(Observe).await.unwrap()["restarts"], 1);
    }

    #[actix_rt::test]
    async fn a_panic_leaves_the_stored_alert_unchanged() {
        let (repo, _dir, actor) = setup().await;
        let _ = actor.send(InjectFault::Panic).await.unwrap();
        assert_eq!(repo.load("a1").unwrap().unwrap().status, AlertStatus::New);
        assert!(repo.saves.lock().unwrap().is_empty());
    }

    #[actix_rt::test]
    async fn duplicates_increment_count_and_keep_the_id() {
        let (repo, _dir, actor) = setup().await;
        let later = chrono::Utc::now() + chrono::Duration::seconds(5);
        let a = actor
            .send(RecordDuplicates {
                count: 999,
                last_seen: later,
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!((a.id.as_str(), a.count, a.last_seen), ("a1", 1000, later));
        assert_eq!(repo.saves.lock().unwrap().len(), 1);
    }

    #[actix_rt::test]
    async fn idle_actors_are_passivated_and_reactivated_on_demand() {
        let repo = Arc::new(MemoryAlertRepo::default());
        repo.insert(alert("a1"));
        let dir = AlertDirectory::new(repo.clone(), Duration::from_millis(40)).start();
        let actor = dir
            .send(GetAlertActor { id: "a1".into() })
            .await
            .unwrap()
            .unwrap();
        drop(actor);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let obs = dir.send(Observe).await.unwrap();
            if obs["passivations"] == 1 && obs["active"] == 0 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "never passivated: {obs}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let again = dir
            .send(GetAlertActor { id: "a1".into() })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again.send(GetAlert).await.unwrap().unwrap().id, "a1");
        assert_eq!(dir.send(Observe).await.unwrap()["activations"], 2);
    }

    #[actix_rt::test]
    async fn unknown_alerts_get_no_actor() {
        let (_, dir, _) = setup().await;
        assert!(
            dir.send(GetAlertActor { id: "nope".into() })
                .await
                .unwrap()
                .is_none()
        );
    }
}
