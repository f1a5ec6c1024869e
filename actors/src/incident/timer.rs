//! `SlaTimer`: one actor per open incident holding its absolute SLA deadlines.
//!
//! It sleeps until the next deadline, sends each due event once to its recipient, and
//! reschedules when told the state changed. Deadlines are absolute instants from the store,
//! so a timer started after a restart resumes the same clocks: an event whose flag is
//! already set in the stored state does not fire again. The recipient (the incident actor)
//! must persist the flag, with [`super::sla::mark_fired`], in the same write as the
//! event's timeline entry; an event whose flag was not persisted before a crash fires
//! again after the restart (at least once, exactly once when the write succeeds).
//!
//! Time goes through the [`Clock`] trait, which both tells the time and sleeps: with
//! [`TokioClock`] the timer follows tokio's clock (and so a paused tokio clock in tests,
//! where the tokio `test-util` feature is available); with [`ManualClock`] a test moves
//! time by hand and an hour-long policy runs in microseconds.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::sla::{SlaEvent, SlaState, due_events, mark_fired, next_wakeup};
use crate::observe::Observe;

/// A sleep that ends when the clock reaches a given instant.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + 'static>>;

/// The source of time for SLA timers, so tests can run hours of SLA in milliseconds.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
    /// A future that completes once `now() >= at` (at once if already past).
    fn sleep_until(&self, at: DateTime<Utc>) -> Sleep;
}

/// Wall-clock time; sleeps on the tokio timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep_until(&self, at: DateTime<Utc>) -> Sleep {
        let delay = (at - Utc::now()).to_std().unwrap_or_default();
        Box::pin(tokio::time::sleep(delay))
    }
}

/// UTC time that follows tokio's monotonic clock from a base instant: under a paused tokio
/// clock (`tokio::time::pause`, tokio feature `test-util`) it advances exactly as far as
/// tokio auto-advances, so timers and `now()` agree to the nanosecond.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    base: DateTime<Utc>,
    start: tokio::time::Instant,
}

impl TokioClock {
    pub fn new(base: DateTime<Utc>) -> TokioClock {
        TokioClock {
            base,
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = chrono::TimeDelta::from_std(self.start.elapsed()).unwrap_or_default();
        self.base
            .checked_add_signed(elapsed)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    fn sleep_until(&self, at: DateTime<Utc>) -> Sleep {
        let offset = (at - self.base).to_std().unwrap_or_default();
        let deadline = self
            .start
            .checked_add(offset)
            .unwrap_or_else(tokio::time::Instant::now);
        Box::pin(tokio::time::sleep_until(deadline))
    }
}

/// A clock that moves only when told to; sleepers wake when it passes their instant.
#[cfg(any(test, feature = "testsuite"))]
#[derive(Debug)]
pub struct ManualClock {
    now: tokio::sync::watch::Sender<DateTime<Utc>>,
}

#[cfg(any(test, feature = "testsuite"))]
impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> ManualClock {
        ManualClock {
            now: tokio::sync::watch::Sender::new(start),
        }
    }

    pub fn advance(&self, by: chrono::TimeDelta) {
        self.now
            .send_modify(|t| *t = t.checked_add_signed(by).unwrap_or(*t));
    }

    pub fn set(&self, to: DateTime<Utc>) {
        self.now.send_replace(to);
    }
}

#[cfg(any(test, feature = "testsuite"))]
impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.borrow()
    }

    fn sleep_until(&self, at: DateTime<Utc>) -> Sleep {
        let mut rx = self.now.subscribe();
        Box::pin(async move {
            loop {
                if *rx.borrow_and_update() >= at {
                    return;
                }
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        })
    }
}

/// Event: an SLA clock of an incident reached a warning or breach. The recipient applies
/// `mark_fired(&mut incident.sla, event)`, persists it, writes the timeline and notifies
/// (`event.frame_type()` on the WebSocket), and escalates on a breach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Message)]
#[rtype(result = "()")]
pub struct SlaFired {
    pub incident_id: String,
    pub tenant: String,
    pub event: SlaEvent,
    /// The deadline the event was due at.
    pub due_at: DateTime<Utc>,
    /// When the timer noticed (later than `due_at` after a restart or a recomputation).
    pub at: DateTime<Utc>,
}

/// Command: the incident's SLA state changed (severity, policy, pause, acknowledge,
/// resolve, reopen); reschedule from it. Fired flags are kept if the new state lacks them,
/// so an update racing with a just-sent event cannot make it fire twice.
#[derive(Debug, Clone, PartialEq, Eq, Message)]
#[rtype(result = "()")]
pub struct UpdateSla {
    pub state: SlaState,
}

/// What [`Observe`] returns (as JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaTimerSnapshot {
    pub incident_id: String,
    pub tenant: String,
    pub state: SlaState,
    pub next_wakeup: Option<DateTime<Utc>>,
    pub fired: u64,
}

/// The SLA clocks of one open incident. Start one per open incident with the stored
/// state; drop its address (or stop it) when the incident closes.
pub struct SlaTimer {
    incident_id: String,
    tenant: String,
    state: SlaState,
    recipient: Recipient<SlaFired>,
    clock: Arc<dyn Clock>,
    wake: Option<SpawnHandle>,
    next: Option<DateTime<Utc>>,
    fired: u64,
}

impl SlaTimer {
    pub fn new(
        incident_id: impl Into<String>,
        tenant: impl Into<String>,
        state: SlaState,
        recipient: Recipient<SlaFired>,
        clock: Arc<dyn Clock>,
    ) -> SlaTimer {
        SlaTimer {
            incident_id: incident_id.into(),
            tenant: tenant.into(),
            state,
            recipient,
            clock,
            wake: None,
            next: None,
            fired: 0,
        }
    }

    pub fn snapshot(&self) -> SlaTimerSnapshot {
        SlaTimerSnapshot {
            incident_id: self.incident_id.clone(),
            tenant: self.tenant.clone(),
            state: self.state.clone(),
            next_wakeup: self.next,
            fired: self.fired,
        }
    }

    /// Fires whatever is due, then sleeps until the next deadline.
    fn tick(&mut self, ctx: &mut Context<Self>) {
        if let Some(h) = self.wake.take() {
            ctx.cancel_future(h);
        }
        let now = self.clock.now();
        for event in due_events(&self.state, now) {
            let due_at = event.due_at(&self.state);
            mark_fired(&mut self.state, event);
            self.fired += 1;
            tracing::info!(incident_id = %self.incident_id, tenant = %self.tenant, event = ?event, %due_at, "sla event fired");
            self.recipient.do_send(SlaFired {
                incident_id: self.incident_id.clone(),
                tenant: self.tenant.clone(),
                event,
                due_at,
                at: now,
            });
        }
        self.next = next_wakeup(&self.state);
        if let Some(at) = self.next {
            let sleep = self.clock.sleep_until(at);
            self.wake =
                Some(ctx.spawn(
                    actix::fut::wrap_future::<_, Self>(sleep).map(|_, act, ctx| act.tick(ctx)),
                ));
        }
    }
}

impl Actor for SlaTimer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.tick(ctx);
    }
}

impl Handler<UpdateSla> for SlaTimer {
    type Result = ();

    fn handle(&mut self, msg: UpdateSla, ctx: &mut Self::Context) {
        let old = std::mem::replace(&mut self.state, msg.state);
        self.state.warned_ack |= old.warned_ack;
        self.state.breached_ack |= old.breached_ack;
        self.state.warned_resolve |= old.warned_resolve;
        self.state.breached_resolve |= old.breached_resolve;
        self.tick(ctx);
    }
}

impl Handler<Observe> for SlaTimer {
    type Result = MessageResult<Observe>;

    fn handle(&mut self, _: Observe, _: &mut Self::Context) -> Self::Result {
        MessageResult(serde_json::to_value(self.snapshot()).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::sla::{SlaConfig, SlaPolicy, SlaPolicySet};
    use crate::model::Severity;
    use chrono::TimeDelta;
    use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

    struct Sink(UnboundedSender<SlaFired>);

    impl Actor for Sink {
        type Context = Context<Self>;
    }

    impl Handler<SlaFired> for Sink {
        type Result = ();
        fn handle(&mut self, msg: SlaFired, _: &mut Self::Context) {
            let _ = self.0.send(msg);
        }
    }

    #[derive(Message)]
    #[rtype(result = "()")]
    struct Ping;

    impl Handler<Ping> for Sink {
        type Result = ();
        fn handle(&mut self, _: Ping, _: &mut Self::Context) {}
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn config() -> SlaConfig {
        let p = |a, r| SlaPolicy {
            acknowledge_s: a,
            resolve_s: r,
            warn_ratio: 0.75,
        };
        SlaConfig {
            policies: SlaPolicySet {
                critical: p(900, 4 * 3600),
                high: p(3600, 4 * 3600),
                medium: p(4 * 3600, 24 * 3600),
                low: p(8 * 3600, 72 * 3600),
                info: p(24 * 3600, 168 * 3600),
            },
            calendar: Default::default(),
        }
    }

    struct Rig {
        clock: Arc<ManualClock>,
        timer: Addr<SlaTimer>,
        sink: Addr<Sink>,
        rx: UnboundedReceiver<SlaFired>,
    }

    const T0: &str = "2026-01-01T10:00:00Z";

    fn rig(state: SlaState, now: DateTime<Utc>) -> Rig {
        let clock = Arc::new(ManualClock::new(now));
        let (tx, rx) = unbounded_channel();
        let sink = Sink(tx).start();
        let timer = SlaTimer::new(
            "inc1",
            "acme",
            state,
            sink.clone().recipient(),
            clock.clone(),
        )
        .start();
        Rig {
            clock,
            timer,
            sink,
            rx,
        }
    }

    impl Rig {
        /// Lets the timer and the sink run until both have drained their work.
        async fn settle(&self) {
            for _ in 0..3 {
                self.timer.send(Observe).await.unwrap();
                self.sink.send(Ping).await.unwrap();
                tokio::task::yield_now().await;
            }
        }

        async fn advance(&mut self, by: TimeDelta) -> Vec<SlaFired> {
            self.clock.advance(by);
            self.settle().await;
            let mut out = Vec::new();
            while let Ok(e) = self.rx.try_recv() {
                out.push(e);
            }
            out
        }

        async fn snapshot(&self) -> SlaTimerSnapshot {
            serde_json::from_value(self.timer.send(Observe).await.unwrap()).unwrap()
        }
    }

    fn events(fired: &[SlaFired]) -> Vec<SlaEvent> {
        fired.iter().map(|f| f.event).collect()
    }

    #[actix_rt::test]
    async fn an_hour_policy_warns_at_45_minutes_and_breaches_at_60_once_each() {
        let created = t(T0);
        let mut r = rig(SlaState::start(created, Severity::High, &config()), created);
        assert!(r.advance(TimeDelta::zero()).await.is_empty());
        assert_eq!(
            r.snapshot().await.next_wakeup,
            Some(t("2026-01-01T10:45:00Z"))
        );
        assert!(r.advance(TimeDelta::minutes(44)).await.is_empty());

        let warn = r.advance(TimeDelta::minutes(1)).await;
        assert_eq!(events(&warn), [SlaEvent::AckWarning]);
        assert_eq!(warn[0].at, t("2026-01-01T10:45:00Z"));
        assert_eq!(warn[0].due_at, t("2026-01-01T10:45:00Z"));
        assert_eq!(
            (warn[0].incident_id.as_str(), warn[0].tenant.as_str()),
            ("inc1", "acme")
        );

        assert!(r.advance(TimeDelta::minutes(14)).await.is_empty());
        let breach = r.advance(TimeDelta::minutes(1)).await;
        assert_eq!(events(&breach), [SlaEvent::AckBreached]);
        assert_eq!(breach[0].at, t("2026-01-01T11:00:00Z"));

        let rest = r.advance(TimeDelta::hours(10)).await;
        assert_eq!(
            events(&rest),
            [SlaEvent::ResolveBreached],
            "the skipped warning is implied by the breach"
        );
        assert!(r.advance(TimeDelta::days(30)).await.is_empty());
        let snap = r.snapshot().await;
        assert_eq!((snap.fired, snap.next_wakeup), (3, None));
        assert!(
            snap.state.breached_ack && snap.state.breached_resolve && snap.state.warned_resolve
        );
    }

    #[actix_rt::test]
    async fn stepping_through_every_deadline_fires_all_four_in_order() {
        let created = t(T0);
        let mut r = rig(SlaState::start(created, Severity::High, &config()), created);
        let mut all = Vec::new();
        for _ in 0..(5 * 60) {
            all.extend(r.advance(TimeDelta::minutes(1)).await);
        }
        assert_eq!(
            events(&all),
            [
                SlaEvent::AckWarning,
                SlaEvent::AckBreached,
                SlaEvent::ResolveWarning,
                SlaEvent::ResolveBreached
            ]
        );
        assert!(all.iter().all(|f| f.at == f.due_at));
    }

    #[actix_rt::test]
    async fn an_update_into_the_past_fires_at_once() {
        let created = t(T0);
        let cfg = config();
        let mut state = SlaState::start(created, Severity::Low, &cfg);
        let mut r = rig(state.clone(), created);
        assert!(r.advance(TimeDelta::hours(1)).await.is_empty());

        state.recompute(created, Severity::Critical, &cfg);
        r.timer.send(UpdateSla { state }).await.unwrap();
        let fired = r.advance(TimeDelta::zero()).await;
        assert_eq!(events(&fired), [SlaEvent::AckBreached]);
        assert_eq!(fired[0].due_at, t("2026-01-01T10:15:00Z"));
        assert_eq!(fired[0].at, t("2026-01-01T11:00:00Z"));
        assert_eq!(
            r.snapshot().await.next_wakeup,
            Some(t("2026-01-01T13:00:00Z"))
        );
    }

    #[actix_rt::test]
    async fn a_restarted_timer_whose_warning_fired_only_fires_the_breach() {
        let created = t(T0);
        let mut stored = SlaState::start(created, Severity::High, &config());
        mark_fired(&mut stored, SlaEvent::AckWarning);
        // Back up 50 minutes after creation: between warning and breach.
        let mut r = rig(stored.clone(), t("2026-01-01T10:50:00Z"));
        assert!(r.advance(TimeDelta::zero()).await.is_empty());
        assert_eq!(
            events(&r.advance(TimeDelta::minutes(10)).await),
            [SlaEvent::AckBreached]
        );
        assert!(r.advance(TimeDelta::minutes(30)).await.is_empty());

        // Back up only after the breach time: the breach fires at once, once.
        let mut late = rig(stored, t("2026-01-01T11:20:00Z"));
        let fired = late.advance(TimeDelta::zero()).await;
        assert_eq!(events(&fired), [SlaEvent::AckBreached]);
        assert_eq!(fired[0].due_at, t("2026-01-01T11:00:00Z"));
        assert!(late.advance(TimeDelta::minutes(1)).await.is_empty());
    }

    #[actix_rt::test]
    async fn acknowledging_and_pausing_stop_the_clocks() {
        let created = t(T0);
        let cfg = config();
        let mut state = SlaState::start(created, Severity::High, &cfg);
        let mut r = rig(state.clone(), created);
        assert!(r.advance(TimeDelta::minutes(30)).await.is_empty());

        state.acknowledge(t("2026-01-01T10:30:00Z"));
        state
            .pause(t("2026-01-01T10:30:00Z"), Some("waiting on client".into()))
            .unwrap();
        r.timer
            .send(UpdateSla {
                state: state.clone(),
            })
            .await
            .unwrap();
        assert!(r.advance(TimeDelta::days(2)).await.is_empty());
        assert_eq!(r.snapshot().await.next_wakeup, None);

        // Resumed two days later: the resolve clock has 2.5 h left until its warning.
        let now = t("2026-01-03T10:30:00Z");
        state.resume(now, created, Severity::High, &cfg).unwrap();
        r.timer.send(UpdateSla { state }).await.unwrap();
        assert!(r.advance(TimeDelta::zero()).await.is_empty());
        assert!(r.advance(TimeDelta::minutes(149)).await.is_empty());
        assert_eq!(
            events(&r.advance(TimeDelta::minutes(1)).await),
            [SlaEvent::ResolveWarning]
        );
    }

    #[actix_rt::test]
    async fn a_stale_update_does_not_refire() {
        let created = t(T0);
        let state = SlaState::start(created, Severity::High, &config());
        let mut r = rig(state.clone(), created);
        assert_eq!(
            events(&r.advance(TimeDelta::minutes(46)).await),
            [SlaEvent::AckWarning]
        );
        // The caller had not persisted the flag yet when it sent an update.
        r.timer.send(UpdateSla { state }).await.unwrap();
        assert!(r.advance(TimeDelta::minutes(1)).await.is_empty());
        assert!(r.snapshot().await.state.warned_ack);
    }

    #[actix_rt::test]
    async fn the_system_clock_drives_real_tokio_timers() {
        let now = Utc::now();
        let state = SlaState {
            acknowledge_warn_at: now + TimeDelta::milliseconds(20),
            acknowledge_due: now + TimeDelta::milliseconds(40),
            resolve_warn_at: now + TimeDelta::days(1),
            resolve_due: now + TimeDelta::days(2),
            ..SlaState::default()
        };
        let (tx, mut rx) = unbounded_channel();
        let sink = Sink(tx).start();
        let _timer = SlaTimer::new(
            "inc1",
            "acme",
            state,
            sink.recipient(),
            Arc::new(SystemClock),
        )
        .start();
        async fn wait(rx: &mut UnboundedReceiver<SlaFired>) -> SlaFired {
            tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv())
                .await
                .unwrap()
                .unwrap()
        }
        let w = wait(&mut rx).await;
        assert_eq!(w.event, SlaEvent::AckWarning);
        assert!(w.at >= w.due_at);
        assert_eq!(wait(&mut rx).await.event, SlaEvent::AckBreached);
    }

    #[actix_rt::test]
    async fn tokio_clock_tracks_tokio_time() {
        let base = t(T0);
        let c = TokioClock::new(base);
        let before = c.now();
        assert!(before >= base && before - base < TimeDelta::seconds(5));
        c.sleep_until(base).await;
        c.sleep_until(base - TimeDelta::hours(1)).await;
    }

    /// Records each `SlaFired` with the tokio instant it arrived at.
    #[derive(Default)]
    struct Recorder(Vec<(SlaFired, tokio::time::Instant)>);

    impl Actor for Recorder {
        type Context = Context<Self>;
    }

    impl Handler<SlaFired> for Recorder {
        type Result = ();
        fn handle(&mut self, msg: SlaFired, _: &mut Self::Context) {
            self.0.push((msg, tokio::time::Instant::now()));
        }
    }

    /// Returns what the recorder holds so far.
    #[derive(Message)]
    #[rtype(result = "Vec<(SlaFired, tokio::time::Instant)>")]
    struct Recorded;

    impl Handler<Recorded> for Recorder {
        type Result = MessageResult<Recorded>;
        fn handle(&mut self, _: Recorded, _: &mut Self::Context) -> Self::Result {
            MessageResult(self.0.clone())
        }
    }

    /// A timer on a [`TokioClock`] whose tokio clock is paused: tokio jumps straight to
    /// each deadline, so hours of SLA take milliseconds of real time.
    struct Paused {
        created: DateTime<Utc>,
        start: tokio::time::Instant,
        recorder: Addr<Recorder>,
        _timer: Addr<SlaTimer>,
    }

    impl Paused {
        fn start(state: SlaState, created: DateTime<Utc>) -> Paused {
            tokio::time::pause();
            let clock = Arc::new(TokioClock::new(created));
            let start = tokio::time::Instant::now();
            let recorder = Recorder::default().start();
            let timer =
                SlaTimer::new("inc1", "acme", state, recorder.clone().recipient(), clock).start();
            Paused {
                created,
                start,
                recorder,
                _timer: timer,
            }
        }

        /// Lets tokio time run to `after` past the start, then returns everything fired.
        async fn at(&self, after: std::time::Duration) -> Vec<(SlaFired, tokio::time::Instant)> {
            tokio::time::sleep_until(self.start + after).await;
            self.recorder.send(Recorded).await.unwrap()
        }

        /// Asserts `fired` is `event`, due `due` after creation, sent then (tokio rounds a
        /// deadline up to its next millisecond).
        fn check(&self, fired: &(SlaFired, tokio::time::Instant), event: SlaEvent, due: TimeDelta) {
            let (f, arrived) = fired;
            let one_ms = TimeDelta::milliseconds(1);
            assert_eq!(f.event, event);
            assert_eq!(
                (f.incident_id.as_str(), f.tenant.as_str()),
                ("inc1", "acme")
            );
            assert_eq!(f.due_at, self.created + due);
            assert!(
                f.at >= f.due_at && f.at - f.due_at <= one_ms,
                "{event:?} due {} noticed at {}",
                f.due_at,
                f.at
            );
            let elapsed = TimeDelta::from_std(*arrived - self.start).unwrap();
            assert!(
                elapsed >= due && elapsed - due <= one_ms,
                "{event:?} arrived {elapsed} after the start, due after {due}"
            );
        }
    }

    fn mins(m: u64) -> std::time::Duration {
        std::time::Duration::from_secs(m * 60)
    }

    fn events_of(fired: &[(SlaFired, tokio::time::Instant)]) -> Vec<SlaEvent> {
        fired.iter().map(|(f, _)| f.event).collect()
    }

    fn policy(acknowledge_s: u64, resolve_s: u64) -> SlaConfig {
        let p = SlaPolicy {
            acknowledge_s,
            resolve_s,
            warn_ratio: 0.75,
        };
        SlaConfig {
            policies: SlaPolicySet {
                critical: p,
                high: p,
                medium: p,
                low: p,
                info: p,
            },
            calendar: crate::incident::sla::BusinessCalendar::always(),
        }
    }

    #[actix_rt::test]
    async fn paused_tokio_clock_hour_ack_policy_warns_at_45_and_breaches_at_60_once_each() {
        let real = std::time::Instant::now();
        let created = t(T0);
        let cfg = policy(3600, 4 * 3600);
        let p = Paused::start(SlaState::start(created, Severity::High, &cfg), created);

        assert!(
            p.at(mins(45) - std::time::Duration::from_millis(1))
                .await
                .is_empty()
        );
        let fired = p.at(mins(45) + std::time::Duration::from_millis(2)).await;
        assert_eq!(events_of(&fired), [SlaEvent::AckWarning]);
        p.check(&fired[0], SlaEvent::AckWarning, TimeDelta::minutes(45));

        assert_eq!(
            p.at(mins(60) - std::time::Duration::from_millis(1))
                .await
                .len(),
            1
        );
        let fired = p.at(mins(60) + std::time::Duration::from_millis(2)).await;
        assert_eq!(
            events_of(&fired),
            [SlaEvent::AckWarning, SlaEvent::AckBreached]
        );
        p.check(&fired[1], SlaEvent::AckBreached, TimeDelta::minutes(60));

        // Nothing more on the acknowledge clock; the resolve clock (4 h) goes on alone.
        let fired = p.at(mins(179)).await;
        assert_eq!(fired.len(), 2, "{:?}", events_of(&fired));
        let fired = p.at(mins(30 * 24 * 60)).await;
        assert_eq!(
            events_of(&fired),
            [
                SlaEvent::AckWarning,
                SlaEvent::AckBreached,
                SlaEvent::ResolveWarning,
                SlaEvent::ResolveBreached
            ]
        );
        let elapsed = real.elapsed();
        assert!(
            elapsed < std::time::Duration::from_secs(2),
            "took {elapsed:?} of real time"
        );
    }

    #[actix_rt::test]
    async fn paused_tokio_clock_four_hour_resolve_policy_warns_at_3h_and_breaches_at_4h_once_each()
    {
        let real = std::time::Instant::now();
        let created = t(T0);
        let cfg = policy(900, 4 * 3600);
        let mut state = SlaState::start(created, Severity::Medium, &cfg);
        // Acknowledged in time: only the resolve clock runs.
        state.acknowledge(created + TimeDelta::minutes(5));
        let p = Paused::start(state, created);

        assert!(
            p.at(mins(3 * 60) - std::time::Duration::from_millis(1))
                .await
                .is_empty()
        );
        let fired = p
            .at(mins(3 * 60) + std::time::Duration::from_millis(2))
            .await;
        assert_eq!(events_of(&fired), [SlaEvent::ResolveWarning]);
        p.check(&fired[0], SlaEvent::ResolveWarning, TimeDelta::hours(3));

        assert_eq!(
            p.at(mins(4 * 60) - std::time::Duration::from_millis(1))
                .await
                .len(),
            1
        );
        let fired = p
            .at(mins(4 * 60) + std::time::Duration::from_millis(2))
            .await;
        assert_eq!(
            events_of(&fired),
            [SlaEvent::ResolveWarning, SlaEvent::ResolveBreached]
        );
        p.check(&fired[1], SlaEvent::ResolveBreached, TimeDelta::hours(4));

        assert_eq!(
            p.at(mins(365 * 24 * 60)).await.len(),
            2,
            "each exactly once"
        );
        let elapsed = real.elapsed();
        assert!(
            elapsed < std::time::Duration::from_secs(2),
            "took {elapsed:?} of real time"
        );
    }
}
