//! SLA clocks of an incident: policies per severity, business-hours calendars, absolute
//! deadlines and the once-only warning and breach events.
//!
//! Deadlines are a pure function of the incident's creation time, its severity, the
//! tenant's policy and calendar, and the business time spent paused. That is what lets a
//! severity change recompute them from creation (possibly into the past, which breaches at
//! once), and lets a restarted [`super::timer::SlaTimer`] resume the same clocks from the
//! stored [`SlaState`]. Which events already fired is part of the state, so each fires
//! once, also across restarts.

use std::collections::BTreeSet;
use std::str::FromStr;

use chrono::{
    DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta,
    TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::model::Severity;

/// Ten years: the longest clock a policy may set, so deadline arithmetic cannot overflow.
pub const MAX_POLICY_S: u64 = 10 * 365 * 24 * 3600;

/// How long a tenant's contract gives for one severity (seconds of business time).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaPolicy {
    pub acknowledge_s: u64,
    pub resolve_s: u64,
    /// Share of each clock after which `sla.warning` fires (e.g. 0.75).
    pub warn_ratio: f64,
}

impl SlaPolicy {
    fn problems(&self, severity: Severity, out: &mut Vec<PolicyError>) {
        for (field, v) in [
            ("acknowledge_s", self.acknowledge_s),
            ("resolve_s", self.resolve_s),
        ] {
            if v == 0 || v > MAX_POLICY_S {
                out.push(PolicyError {
                    field: format!("{severity}.{field}"),
                    message: format!("must be between 1 and {MAX_POLICY_S} seconds"),
                });
            }
        }
        if !(self.warn_ratio.is_finite() && self.warn_ratio > 0.0 && self.warn_ratio <= 1.0) {
            out.push(PolicyError {
                field: format!("{severity}.warn_ratio"),
                message: "must be greater than 0 and at most 1".into(),
            });
        }
    }
}

/// A tenant's policies, one per severity; the wire shape of
/// `GET|PUT /api/v1/tenants/{tenant}/sla-policy`. Every severity is required so that no
/// incident is ever without a clock.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaPolicySet {
    pub critical: SlaPolicy,
    pub high: SlaPolicy,
    pub medium: SlaPolicy,
    pub low: SlaPolicy,
    pub info: SlaPolicy,
}

/// One invalid field of a policy set, named by its JSON path (`high.warn_ratio`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PolicyError {
    pub field: String,
    pub message: String,
}

impl PolicyError {
    pub fn code(&self) -> &'static str {
        "sla.invalid_policy"
    }

    pub fn http_status(&self) -> u16 {
        422
    }
}

const SHIPPED_POLICY: &str = include_str!("../../../data/sla-policy.default.json");

impl SlaPolicySet {
    pub fn get(&self, severity: Severity) -> &SlaPolicy {
        match severity {
            Severity::Critical => &self.critical,
            Severity::High => &self.high,
            Severity::Medium => &self.medium,
            Severity::Low => &self.low,
            Severity::Info => &self.info,
        }
    }

    /// Every problem at once, so a PUT can report them together.
    pub fn validate(&self) -> Result<(), Vec<PolicyError>> {
        let mut out = Vec::new();
        for s in Severity::ALL {
            self.get(s).problems(s, &mut out);
        }
        if out.is_empty() { Ok(()) } else { Err(out) }
    }

    /// The defaults shipped in `data/sla-policy.default.json`, for tenants without their
    /// own policy. Falls back to the same values compiled in, should the file be broken (a
    /// test keeps the two equal).
    pub fn shipped_default() -> SlaPolicySet {
        serde_json::from_str::<SlaPolicySet>(SHIPPED_POLICY)
            .ok()
            .filter(|p| p.validate().is_ok())
            .unwrap_or_else(SlaPolicySet::compiled_default)
    }

    fn compiled_default() -> SlaPolicySet {
        let p = |acknowledge_s, resolve_s| SlaPolicy {
            acknowledge_s,
            resolve_s,
            warn_ratio: 0.75,
        };
        SlaPolicySet {
            critical: p(15 * 60, 4 * 3600),
            high: p(3600, 8 * 3600),
            medium: p(4 * 3600, 24 * 3600),
            low: p(8 * 3600, 72 * 3600),
            info: p(24 * 3600, 168 * 3600),
        }
    }
}

impl Default for SlaPolicySet {
    fn default() -> Self {
        SlaPolicySet::shipped_default()
    }
}

/// A calendar as configured (the wire and file form). `always` is 24/7; `business_hours`
/// runs the clocks only on working days between `start` and `end` local time
/// (`"09:00"`, `"17:30"`, `end` may be `"24:00"`), never on `holidays`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CalendarSpec {
    #[default]
    Always,
    BusinessHours {
        /// IANA time zone name (`Europe/Berlin`).
        timezone: String,
        /// `mon` … `sun` (full names accepted).
        working_days: Vec<String>,
        start: String,
        end: String,
        #[serde(default)]
        holidays: BTreeSet<NaiveDate>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("unknown time zone {0:?}")]
    UnknownTimezone(String),
    #[error("unknown weekday {0:?}")]
    UnknownWeekday(String),
    #[error("bad time {0:?}: expected HH:MM")]
    BadTime(String),
    #[error("a business-hours calendar needs at least one working day")]
    NoWorkingDays,
    #[error("working hours must end after they start")]
    EmptyDay,
}

impl CalendarError {
    pub fn code(&self) -> &'static str {
        "sla.invalid_calendar"
    }

    pub fn http_status(&self) -> u16 {
        422
    }
}

#[derive(Debug, Clone)]
struct Hours {
    tz: Tz,
    days: [bool; 7],
    start_s: u32,
    end_s: u32,
    holidays: BTreeSet<NaiveDate>,
}

/// A validated calendar: the only way to get one is through [`BusinessCalendar::new`] (or
/// deserialising a [`CalendarSpec`]), so the time arithmetic never meets a bad zone name.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "CalendarSpec", into = "CalendarSpec")]
pub struct BusinessCalendar {
    spec: CalendarSpec,
    hours: Option<Hours>,
}

impl PartialEq for BusinessCalendar {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec
    }
}

impl Default for BusinessCalendar {
    fn default() -> Self {
        BusinessCalendar::always()
    }
}

impl TryFrom<CalendarSpec> for BusinessCalendar {
    type Error = CalendarError;
    fn try_from(spec: CalendarSpec) -> Result<Self, Self::Error> {
        BusinessCalendar::new(spec)
    }
}

impl From<BusinessCalendar> for CalendarSpec {
    fn from(c: BusinessCalendar) -> Self {
        c.spec
    }
}

/// Longest span the calendar arithmetic walks, in days (~270 years); beyond it the answer
/// is "never", which is what an unreachable deadline means.
const MAX_DAYS: u32 = 100_000;

fn parse_time_of_day(s: &str, allow_24: bool) -> Option<u32> {
    let parts: Vec<&str> = s.trim().split(':').collect();
    if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.len() != 2) {
        return None;
    }
    let n = |p: &str| p.parse::<u32>().ok();
    let (h, m, sec) = (
        n(parts[0])?,
        n(parts[1])?,
        if parts.len() == 3 { n(parts[2])? } else { 0 },
    );
    if allow_24 && h == 24 && m == 0 && sec == 0 {
        return Some(86_400);
    }
    (h < 24 && m < 60 && sec < 60).then_some(h * 3600 + m * 60 + sec)
}

/// Maps a local wall time to UTC. An ambiguous time (clocks going back) takes the first
/// occurrence; a time that does not exist (clocks going forward) is read with the offset
/// in force before the jump, i.e. it lands just after the gap, as most calendars do.
fn local_to_utc(tz: Tz, naive: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, _) => Some(a.with_timezone(&Utc)),
        LocalResult::None => {
            let probe = naive.checked_sub_signed(TimeDelta::days(1))?;
            let offset = tz.offset_from_utc_datetime(&probe).fix().local_minus_utc();
            let utc = naive.checked_sub_signed(TimeDelta::seconds(i64::from(offset)))?;
            Some(Utc.from_utc_datetime(&utc))
        }
    }
}

impl Hours {
    /// The working window of one local day, in UTC, or `None` on a day off.
    fn window(&self, day: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let weekday = day.weekday().num_days_from_monday() as usize;
        if !self.days.get(weekday).copied().unwrap_or(false) || self.holidays.contains(&day) {
            return None;
        }
        let midnight = day.and_time(NaiveTime::MIN);
        let at = |s: u32| midnight.checked_add_signed(TimeDelta::seconds(i64::from(s)));
        let start = local_to_utc(self.tz, at(self.start_s)?)?;
        let end = local_to_utc(self.tz, at(self.end_s)?)?;
        (end > start).then_some((start, end))
    }

    fn local_day(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.tz).date_naive()
    }
}

impl BusinessCalendar {
    pub fn new(spec: CalendarSpec) -> Result<BusinessCalendar, CalendarError> {
        let hours = match &spec {
            CalendarSpec::Always => None,
            CalendarSpec::BusinessHours {
                timezone,
                working_days,
                start,
                end,
                holidays,
            } => {
                let tz = Tz::from_str(timezone.trim())
                    .map_err(|_| CalendarError::UnknownTimezone(timezone.clone()))?;
                let mut days = [false; 7];
                for d in working_days {
                    let w = Weekday::from_str(d.trim())
                        .map_err(|_| CalendarError::UnknownWeekday(d.clone()))?;
                    days[w.num_days_from_monday() as usize] = true;
                }
                if !days.iter().any(|d| *d) {
                    return Err(CalendarError::NoWorkingDays);
                }
                let start_s = parse_time_of_day(start, false)
                    .ok_or_else(|| CalendarError::BadTime(start.clone()))?;
                let end_s = parse_time_of_day(end, true)
                    .ok_or_else(|| CalendarError::BadTime(end.clone()))?;
                if end_s <= start_s {
                    return Err(CalendarError::EmptyDay);
                }
                Some(Hours {
                    tz,
                    days,
                    start_s,
                    end_s,
                    holidays: holidays.clone(),
                })
            }
        };
        Ok(BusinessCalendar { spec, hours })
    }

    /// Clocks that never stop: the default for tenants without a business-hours contract.
    pub fn always() -> BusinessCalendar {
        BusinessCalendar {
            spec: CalendarSpec::Always,
            hours: None,
        }
    }

    pub fn spec(&self) -> &CalendarSpec {
        &self.spec
    }

    /// The instant when `dur` of business time has elapsed after `start`: nights, days off
    /// and holidays do not count; within a working window real elapsed time counts, so a
    /// window spanning a DST change is an hour shorter or longer, as the wall clock says.
    /// A start outside working hours begins counting at the next window. Zero or negative
    /// durations return `start`.
    pub fn add_business_time(&self, start: DateTime<Utc>, dur: TimeDelta) -> DateTime<Utc> {
        if dur <= TimeDelta::zero() {
            return start;
        }
        let Some(h) = &self.hours else {
            return start
                .checked_add_signed(dur)
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
        };
        let mut remaining = dur;
        let mut day = h.local_day(start);
        for _ in 0..MAX_DAYS {
            if let Some((ws, we)) = h.window(day) {
                let from = ws.max(start);
                if we > from {
                    let available = we - from;
                    if remaining <= available {
                        return from.checked_add_signed(remaining).unwrap_or(we);
                    }
                    remaining -= available;
                }
            }
            match day.succ_opt() {
                Some(d) => day = d,
                None => break,
            }
        }
        DateTime::<Utc>::MAX_UTC
    }

    /// Business time between two instants (zero when `to <= from`); used to measure a
    /// pause so that a pause over a weekend does not extend a business-hours deadline.
    pub fn business_time_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> TimeDelta {
        if to <= from {
            return TimeDelta::zero();
        }
        let Some(h) = &self.hours else {
            return to - from;
        };
        let mut total = TimeDelta::zero();
        let mut day = h.local_day(from);
        let last = h.local_day(to);
        for _ in 0..MAX_DAYS {
            if day > last {
                break;
            }
            if let Some((ws, we)) = h.window(day) {
                let (a, b) = (ws.max(from), we.min(to));
                if b > a {
                    total += b - a;
                }
            }
            match day.succ_opt() {
                Some(d) => day = d,
                None => break,
            }
        }
        total
    }
}

/// Everything a tenant's contract says about clocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SlaConfig {
    pub policies: SlaPolicySet,
    #[serde(default)]
    pub calendar: BusinessCalendar,
}

/// The four absolute instants of an incident's clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaDeadlines {
    pub acknowledge_due: DateTime<Utc>,
    pub resolve_due: DateTime<Utc>,
    pub acknowledge_warn_at: DateTime<Utc>,
    pub resolve_warn_at: DateTime<Utc>,
}

fn seconds(n: i64) -> TimeDelta {
    TimeDelta::try_seconds(n.clamp(0, 100 * MAX_POLICY_S as i64)).unwrap_or_default()
}

fn share(total_s: u64, ratio: f64) -> TimeDelta {
    let total_ms = total_s.min(MAX_POLICY_S) as f64 * 1000.0;
    let ms = if ratio.is_finite() && (0.0..=1.0).contains(&ratio) {
        (total_ms * ratio).round()
    } else {
        total_ms
    };
    TimeDelta::try_milliseconds(ms as i64).unwrap_or_default()
}

/// The deadlines of an incident created at `created_at`: the policy's durations in business
/// time from creation, extended by `paused_total_s` of business time spent paused.
pub fn compute_deadlines(
    created_at: DateTime<Utc>,
    severity: Severity,
    policies: &SlaPolicySet,
    calendar: &BusinessCalendar,
    paused_total_s: i64,
) -> SlaDeadlines {
    let p = policies.get(severity);
    let paused = seconds(paused_total_s);
    let at = |d: TimeDelta| calendar.add_business_time(created_at, d + paused);
    SlaDeadlines {
        acknowledge_due: at(share(p.acknowledge_s, 1.0)),
        resolve_due: at(share(p.resolve_s, 1.0)),
        acknowledge_warn_at: at(share(p.acknowledge_s, p.warn_ratio)),
        resolve_warn_at: at(share(p.resolve_s, p.warn_ratio)),
    }
}

/// The stored state of an incident's clocks: deadlines, outcomes, which events fired, and
/// the pause. Persisted with the incident; the timer actor only holds a copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SlaState {
    pub acknowledge_due: DateTime<Utc>,
    pub resolve_due: DateTime<Utc>,
    pub acknowledge_warn_at: DateTime<Utc>,
    pub resolve_warn_at: DateTime<Utc>,
    /// `None` while the acknowledge clock runs; whether it was met once it stopped.
    pub acknowledged_met: Option<bool>,
    /// `None` while the resolve clock runs; whether it was met once it stopped.
    pub resolved_met: Option<bool>,
    pub warned_ack: bool,
    pub warned_resolve: bool,
    pub breached_ack: bool,
    pub breached_resolve: bool,
    pub paused: bool,
    pub pause_reason: Option<String>,
    pub paused_at: Option<DateTime<Utc>>,
    /// Business seconds spent paused in finished pauses; added to every deadline.
    pub paused_total_s: i64,
}

/// Deadlines default to "never" (not the epoch), so a state that was never started, or a
/// record stored before SLAs existed, cannot breach by accident.
impl Default for SlaState {
    fn default() -> Self {
        let never = DateTime::<Utc>::MAX_UTC;
        SlaState {
            acknowledge_due: never,
            resolve_due: never,
            acknowledge_warn_at: never,
            resolve_warn_at: never,
            acknowledged_met: None,
            resolved_met: None,
            warned_ack: false,
            warned_resolve: false,
            breached_ack: false,
            breached_resolve: false,
            paused: false,
            pause_reason: None,
            paused_at: None,
            paused_total_s: 0,
        }
    }
}

/// One summary word for dashboards and lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SlaStatus {
    Ok,
    Warning,
    Breached,
    Met,
    Paused,
}

/// A clock event. A breach implies its warning: when both are due at once (a restart long
/// after the warning time, a severity raise into the past), only the breach is sent and
/// both are marked fired — a warning after the breach would tell nobody anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlaEvent {
    AckWarning,
    AckBreached,
    ResolveWarning,
    ResolveBreached,
}

impl SlaEvent {
    pub const ALL: [SlaEvent; 4] = [
        SlaEvent::AckWarning,
        SlaEvent::AckBreached,
        SlaEvent::ResolveWarning,
        SlaEvent::ResolveBreached,
    ];

    pub fn is_breach(self) -> bool {
        matches!(self, SlaEvent::AckBreached | SlaEvent::ResolveBreached)
    }

    /// The WebSocket frame type (CONTRACT.md, Real time).
    pub fn frame_type(self) -> &'static str {
        if self.is_breach() {
            "sla.breached"
        } else {
            "sla.warning"
        }
    }

    /// `acknowledge` or `resolve`: which clock the event is about.
    pub fn clock(self) -> &'static str {
        match self {
            SlaEvent::AckWarning | SlaEvent::AckBreached => "acknowledge",
            SlaEvent::ResolveWarning | SlaEvent::ResolveBreached => "resolve",
        }
    }

    /// The instant the event is due under `state`.
    pub fn due_at(self, state: &SlaState) -> DateTime<Utc> {
        match self {
            SlaEvent::AckWarning => state.acknowledge_warn_at,
            SlaEvent::AckBreached => state.acknowledge_due,
            SlaEvent::ResolveWarning => state.resolve_warn_at,
            SlaEvent::ResolveBreached => state.resolve_due,
        }
    }

    /// Whether `state` records this event as fired.
    pub fn is_fired(self, state: &SlaState) -> bool {
        match self {
            SlaEvent::AckWarning => state.warned_ack,
            SlaEvent::AckBreached => state.breached_ack,
            SlaEvent::ResolveWarning => state.warned_resolve,
            SlaEvent::ResolveBreached => state.breached_resolve,
        }
    }
}

/// Why a pause or resume was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlaError {
    #[error("the SLA clock is already paused")]
    AlreadyPaused,
    #[error("the SLA clock is not paused")]
    NotPaused,
    #[error("no SLA clock is running")]
    NotRunning,
}

impl SlaError {
    pub fn code(&self) -> &'static str {
        "sla.invalid_pause"
    }

    pub fn http_status(&self) -> u16 {
        409
    }
}

/// What the API shows under `sla`: the stored state plus the status at read time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlaView {
    #[serde(flatten)]
    pub state: SlaState,
    pub status: SlaStatus,
}

impl SlaState {
    /// Clocks of a new incident.
    pub fn start(created_at: DateTime<Utc>, severity: Severity, config: &SlaConfig) -> SlaState {
        let mut s = SlaState::default();
        s.recompute(created_at, severity, config);
        s
    }

    pub fn set_deadlines(&mut self, d: SlaDeadlines) {
        self.acknowledge_due = d.acknowledge_due;
        self.resolve_due = d.resolve_due;
        self.acknowledge_warn_at = d.acknowledge_warn_at;
        self.resolve_warn_at = d.resolve_warn_at;
    }

    pub fn deadlines(&self) -> SlaDeadlines {
        SlaDeadlines {
            acknowledge_due: self.acknowledge_due,
            resolve_due: self.resolve_due,
            acknowledge_warn_at: self.acknowledge_warn_at,
            resolve_warn_at: self.resolve_warn_at,
        }
    }

    /// Recomputes the deadlines from creation (after a severity or policy change). Fired
    /// flags stay: an event that fired is history and does not fire again.
    pub fn recompute(&mut self, created_at: DateTime<Utc>, severity: Severity, config: &SlaConfig) {
        self.set_deadlines(compute_deadlines(
            created_at,
            severity,
            &config.policies,
            &config.calendar,
            self.paused_total_s,
        ));
    }

    pub fn ack_running(&self) -> bool {
        self.acknowledged_met.is_none()
    }

    pub fn resolve_running(&self) -> bool {
        self.resolved_met.is_none()
    }

    /// Stops the clocks while waiting on the client. Nothing fires while paused.
    pub fn pause(&mut self, now: DateTime<Utc>, reason: Option<String>) -> Result<(), SlaError> {
        if self.paused {
            return Err(SlaError::AlreadyPaused);
        }
        if !self.ack_running() && !self.resolve_running() {
            return Err(SlaError::NotRunning);
        }
        self.paused = true;
        self.pause_reason = reason;
        self.paused_at = Some(now);
        Ok(())
    }

    /// Restarts the clocks; the business time spent paused extends every deadline.
    /// Returns the seconds added.
    pub fn resume(
        &mut self,
        now: DateTime<Utc>,
        created_at: DateTime<Utc>,
        severity: Severity,
        config: &SlaConfig,
    ) -> Result<i64, SlaError> {
        if !self.paused {
            return Err(SlaError::NotPaused);
        }
        let added = self
            .paused_at
            .map(|p| config.calendar.business_time_between(p, now).num_seconds())
            .unwrap_or(0);
        self.paused_total_s = self.paused_total_s.saturating_add(added.max(0));
        self.end_pause();
        self.recompute(created_at, severity, config);
        Ok(added)
    }

    fn end_pause(&mut self) {
        self.paused = false;
        self.pause_reason = None;
        self.paused_at = None;
    }

    /// While paused no SLA time elapses, so a stop during a pause is judged at the pause's
    /// start.
    fn clock_time(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        match (self.paused, self.paused_at) {
            (true, Some(p)) => p.min(now),
            _ => now,
        }
    }

    /// Stops the acknowledge clock (first move out of `new`). A clock whose breach fired
    /// stays unmet even if a later pause moved its deadline.
    pub fn acknowledge(&mut self, now: DateTime<Utc>) {
        if self.ack_running() {
            let at = self.clock_time(now);
            self.acknowledged_met = Some(!self.breached_ack && at <= self.acknowledge_due);
        }
    }

    /// Stops the resolve clock (and the acknowledge clock if still running). A pause in
    /// progress ends without extending anything: no clock is left to extend.
    pub fn resolve(&mut self, now: DateTime<Utc>) {
        self.acknowledge(now);
        if self.resolve_running() {
            let at = self.clock_time(now);
            self.resolved_met = Some(!self.breached_resolve && at <= self.resolve_due);
        }
        if self.paused {
            self.end_pause();
        }
    }

    /// Restarts the resolve clock against the original deadline (from creation).
    pub fn reopen(&mut self) {
        self.resolved_met = None;
    }

    /// The summary at `now`: `met` or `breached` once resolved; else `paused`; else
    /// `breached` if any clock is past due (or missed), `warning` if past a warning time.
    pub fn status(&self, now: DateTime<Utc>) -> SlaStatus {
        let missed =
            self.breached_ack || self.breached_resolve || self.acknowledged_met == Some(false);
        if let Some(met) = self.resolved_met {
            return if met && !missed {
                SlaStatus::Met
            } else {
                SlaStatus::Breached
            };
        }
        if self.paused {
            return SlaStatus::Paused;
        }
        let ack = self.ack_running();
        if missed || (ack && now >= self.acknowledge_due) || now >= self.resolve_due {
            SlaStatus::Breached
        } else if (ack && now >= self.acknowledge_warn_at) || now >= self.resolve_warn_at {
            SlaStatus::Warning
        } else {
            SlaStatus::Ok
        }
    }

    pub fn view(&self, now: DateTime<Utc>) -> SlaView {
        SlaView {
            state: self.clone(),
            status: self.status(now),
        }
    }

    /// The event each running clock is waiting for next, if any: its breach once the
    /// warning fired, its warning before. Paused clocks wait for nothing.
    fn pending(&self) -> impl Iterator<Item = SlaEvent> + '_ {
        let clocks = [
            (
                self.ack_running(),
                SlaEvent::AckWarning,
                SlaEvent::AckBreached,
            ),
            (
                self.resolve_running(),
                SlaEvent::ResolveWarning,
                SlaEvent::ResolveBreached,
            ),
        ];
        clocks
            .into_iter()
            .filter(|_| !self.paused)
            .filter_map(move |(running, warn, breach)| {
                if !running || breach.is_fired(self) {
                    None
                } else if warn.is_fired(self) {
                    Some(breach)
                } else {
                    Some(warn)
                }
            })
    }
}

/// Events due at `now` that have not fired yet, earliest first. A clock whose breach is
/// due yields only the breach (see [`SlaEvent`]).
pub fn due_events(state: &SlaState, now: DateTime<Utc>) -> Vec<SlaEvent> {
    let mut out: Vec<SlaEvent> = state
        .pending()
        .filter_map(|next| {
            let breach = match next {
                SlaEvent::AckWarning | SlaEvent::AckBreached => SlaEvent::AckBreached,
                SlaEvent::ResolveWarning | SlaEvent::ResolveBreached => SlaEvent::ResolveBreached,
            };
            if now >= breach.due_at(state) {
                Some(breach)
            } else if now >= next.due_at(state) {
                Some(next)
            } else {
                None
            }
        })
        .collect();
    out.sort_by_key(|e| e.due_at(state));
    out
}

/// Records that `event` fired (a breach also marks its warning). The caller persists the
/// state in the same write as the event's timeline entry, which makes "once" survive a
/// restart.
pub fn mark_fired(state: &mut SlaState, event: SlaEvent) {
    match event {
        SlaEvent::AckWarning => state.warned_ack = true,
        SlaEvent::AckBreached => {
            state.warned_ack = true;
            state.breached_ack = true;
        }
        SlaEvent::ResolveWarning => state.warned_resolve = true,
        SlaEvent::ResolveBreached => {
            state.warned_resolve = true;
            state.breached_resolve = true;
        }
    }
}

/// When the next event is due (possibly in the past: then at once); `None` when paused or
/// when nothing is left to fire.
pub fn next_wakeup(state: &SlaState) -> Option<DateTime<Utc>> {
    state
        .pending()
        .map(|e| match e {
            // An unvalidated policy could put a warning after its breach; wake for whichever
            // comes first.
            SlaEvent::AckWarning => state.acknowledge_warn_at.min(state.acknowledge_due),
            SlaEvent::ResolveWarning => state.resolve_warn_at.min(state.resolve_due),
            other => other.due_at(state),
        })
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn hours(spec: serde_json::Value) -> BusinessCalendar {
        serde_json::from_value(spec).unwrap()
    }

    fn berlin_office() -> BusinessCalendar {
        hours(json!({
            "kind": "business_hours", "timezone": "Europe/Berlin",
            "working_days": ["mon", "tue", "wed", "thu", "fri"],
            "start": "09:00", "end": "17:00", "holidays": ["2026-12-25"]
        }))
    }

    fn one_hour_policy() -> SlaConfig {
        let p = SlaPolicy {
            acknowledge_s: 3600,
            resolve_s: 4 * 3600,
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
            calendar: BusinessCalendar::always(),
        }
    }

    #[test]
    fn shipped_defaults_parse_and_match_the_compiled_fallback() {
        let parsed: SlaPolicySet = serde_json::from_str(SHIPPED_POLICY).unwrap();
        assert_eq!(parsed, SlaPolicySet::compiled_default());
        assert!(parsed.validate().is_ok());
        assert_eq!(SlaPolicySet::shipped_default().critical.acknowledge_s, 900);
    }

    #[test]
    fn policy_wire_shape_is_the_contracts() {
        let v = serde_json::to_value(SlaPolicySet::shipped_default()).unwrap();
        assert_eq!(
            v["high"],
            json!({"acknowledge_s": 3600, "resolve_s": 28800, "warn_ratio": 0.75})
        );
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 5);
        let mut bad = v.clone();
        bad["low"]["extra"] = json!(1);
        assert!(serde_json::from_value::<SlaPolicySet>(bad).is_err());
        let mut missing = v;
        missing.as_object_mut().unwrap().remove("info");
        assert!(serde_json::from_value::<SlaPolicySet>(missing).is_err());
    }

    #[test]
    fn validation_reports_every_problem() {
        let mut p = SlaPolicySet::shipped_default();
        p.high.warn_ratio = 1.5;
        p.low.acknowledge_s = 0;
        p.info.warn_ratio = f64::NAN;
        let errs = p.validate().unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["high.warn_ratio", "low.acknowledge_s", "info.warn_ratio"]
        );
    }

    #[test]
    fn calendar_rejects_bad_specs() {
        let bad = |v: serde_json::Value| serde_json::from_value::<BusinessCalendar>(v).is_err();
        let base = json!({"kind":"business_hours","timezone":"Europe/Berlin","working_days":["mon"],"start":"09:00","end":"17:00"});
        let with = |k: &str, v: serde_json::Value| {
            let mut b = base.clone();
            b[k] = v;
            b
        };
        assert!(!bad(base.clone()));
        assert!(bad(with("timezone", json!("Mars/Olympus"))));
        assert!(bad(with("working_days", json!([]))));
        assert!(bad(with("working_days", json!(["funday"]))));
        assert!(bad(with("start", json!("9am"))));
        assert!(bad(with("end", json!("08:00"))));
        assert!(bad(with("extra", json!(1))));
        assert!(!bad(with("end", json!("24:00"))));
        assert_eq!(
            BusinessCalendar::new(CalendarSpec::BusinessHours {
                timezone: "UTC".into(),
                working_days: vec!["mon".into()],
                start: "10:00".into(),
                end: "10:00".into(),
                holidays: BTreeSet::new(),
            })
            .unwrap_err(),
            CalendarError::EmptyDay
        );
        assert_eq!(
            serde_json::to_value(BusinessCalendar::always()).unwrap(),
            json!({"kind": "always"})
        );
    }

    #[test]
    fn always_calendar_is_plain_addition() {
        let c = BusinessCalendar::always();
        let s = t("2026-03-28T23:30:00Z");
        assert_eq!(
            c.add_business_time(s, TimeDelta::hours(2)),
            t("2026-03-29T01:30:00Z")
        );
        assert_eq!(c.add_business_time(s, TimeDelta::zero()), s);
        assert_eq!(c.add_business_time(s, TimeDelta::seconds(-5)), s);
        assert_eq!(
            c.business_time_between(s, t("2026-03-29T01:30:00Z")),
            TimeDelta::hours(2)
        );
    }

    #[test]
    fn business_time_skips_nights_and_crosses_midnight() {
        let c = berlin_office();
        // Tuesday 16:30 CET (15:30 UTC) + 1 h → Wednesday 09:30 CET.
        assert_eq!(
            c.add_business_time(t("2026-02-03T15:30:00Z"), TimeDelta::hours(1)),
            t("2026-02-04T08:30:00Z")
        );
        // Started at night: counting begins at 09:00.
        assert_eq!(
            c.add_business_time(t("2026-02-03T22:00:00Z"), TimeDelta::minutes(15)),
            t("2026-02-04T08:15:00Z")
        );
        // Exactly a working day from opening ends at closing, not next morning.
        assert_eq!(
            c.add_business_time(t("2026-02-04T08:00:00Z"), TimeDelta::hours(8)),
            t("2026-02-04T16:00:00Z")
        );
    }

    #[test]
    fn business_time_skips_weekends_across_dst_start() {
        let c = berlin_office();
        // Friday 27 March 2026 16:00 CET = 15:00 UTC; clocks go forward on Sunday 29 March.
        // 1 h on Friday, then Monday 09:00 CEST (07:00 UTC) + 1 h.
        assert_eq!(
            c.add_business_time(t("2026-03-27T15:00:00Z"), TimeDelta::hours(2)),
            t("2026-03-30T08:00:00Z")
        );
        assert_eq!(
            c.business_time_between(t("2026-03-27T15:00:00Z"), t("2026-03-30T08:00:00Z")),
            TimeDelta::hours(2)
        );
    }

    #[test]
    fn business_time_across_dst_end_keeps_local_opening_hours() {
        let c = berlin_office();
        // Friday 23 October 2026 16:00 CEST = 14:00 UTC; clocks go back on Sunday 25 October.
        // Monday opens at 09:00 CET = 08:00 UTC.
        assert_eq!(
            c.add_business_time(t("2026-10-23T14:00:00Z"), TimeDelta::hours(2)),
            t("2026-10-26T09:00:00Z")
        );
    }

    #[test]
    fn a_whole_day_window_on_dst_day_counts_real_hours() {
        let c = hours(json!({
            "kind": "business_hours", "timezone": "Europe/Berlin",
            "working_days": ["mon","tue","wed","thu","fri","sat","sun"],
            "start": "00:00", "end": "24:00"
        }));
        let s = t("2026-03-28T11:00:00Z");
        assert_eq!(
            c.add_business_time(s, TimeDelta::hours(24)),
            t("2026-03-29T11:00:00Z")
        );
        assert_eq!(
            c.add_business_time(s, TimeDelta::hours(48)),
            t("2026-03-30T11:00:00Z")
        );
    }

    #[test]
    fn a_dst_gap_at_midnight_leaves_no_hole_between_days() {
        // Cuba moves its clocks from 00:00 to 01:00 (second Sunday of March): local midnight
        // of 8 March 2026 does not exist, yet one day's window must end where the next begins.
        let c = hours(json!({
            "kind": "business_hours", "timezone": "America/Havana",
            "working_days": ["mon","tue","wed","thu","fri","sat","sun"],
            "start": "00:00", "end": "24:00"
        }));
        let havana: Tz = "America/Havana".parse().unwrap();
        let midnight = NaiveDate::from_ymd_opt(2026, 3, 8)
            .unwrap()
            .and_time(NaiveTime::MIN);
        assert_eq!(havana.from_local_datetime(&midnight), LocalResult::None);
        let s = t("2026-03-07T17:00:00Z");
        for h in [6, 7, 8, 24, 48] {
            assert_eq!(
                c.add_business_time(s, TimeDelta::hours(h)),
                s + TimeDelta::hours(h),
                "{h} h"
            );
        }
        assert_eq!(
            c.business_time_between(s, s + TimeDelta::hours(48)),
            TimeDelta::hours(48)
        );
    }

    #[test]
    fn holidays_do_not_count() {
        let c = berlin_office();
        // Thursday 24 December 2026 16:30 CET + 1 h: Christmas Day (Friday) is a holiday,
        // then the weekend, so Monday 28 December 09:30 CET.
        assert_eq!(
            c.add_business_time(t("2026-12-24T15:30:00Z"), TimeDelta::hours(1)),
            t("2026-12-28T08:30:00Z")
        );
    }

    #[test]
    fn local_times_in_dst_gaps_and_folds_resolve_deterministically() {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let gap = NaiveDate::from_ymd_opt(2026, 3, 29)
            .unwrap()
            .and_hms_opt(2, 30, 0)
            .unwrap();
        assert_eq!(local_to_utc(tz, gap), Some(t("2026-03-29T01:30:00Z")));
        let fold = NaiveDate::from_ymd_opt(2026, 10, 25)
            .unwrap()
            .and_hms_opt(2, 30, 0)
            .unwrap();
        assert_eq!(local_to_utc(tz, fold), Some(t("2026-10-25T00:30:00Z")));
    }

    #[test]
    fn deadlines_count_from_creation() {
        let created = t("2026-01-01T10:00:00Z");
        let cfg = one_hour_policy();
        let s = SlaState::start(created, Severity::High, &cfg);
        assert_eq!(s.acknowledge_warn_at, t("2026-01-01T10:45:00Z"));
        assert_eq!(s.acknowledge_due, t("2026-01-01T11:00:00Z"));
        assert_eq!(s.resolve_warn_at, t("2026-01-01T13:00:00Z"));
        assert_eq!(s.resolve_due, t("2026-01-01T14:00:00Z"));
    }

    #[test]
    fn events_fire_in_order_and_once() {
        let created = t("2026-01-01T10:00:00Z");
        let mut s = SlaState::start(created, Severity::High, &one_hour_policy());
        assert_eq!(next_wakeup(&s), Some(t("2026-01-01T10:45:00Z")));
        assert!(due_events(&s, t("2026-01-01T10:44:59Z")).is_empty());
        assert_eq!(s.status(t("2026-01-01T10:44:59Z")), SlaStatus::Ok);
        let due = due_events(&s, t("2026-01-01T10:45:00Z"));
        assert_eq!(due, [SlaEvent::AckWarning]);
        assert_eq!(s.status(t("2026-01-01T10:45:00Z")), SlaStatus::Warning);
        mark_fired(&mut s, SlaEvent::AckWarning);
        assert!(due_events(&s, t("2026-01-01T10:50:00Z")).is_empty());
        assert_eq!(next_wakeup(&s), Some(t("2026-01-01T11:00:00Z")));
        assert_eq!(
            due_events(&s, t("2026-01-01T11:00:00Z")),
            [SlaEvent::AckBreached]
        );
        mark_fired(&mut s, SlaEvent::AckBreached);
        assert_eq!(next_wakeup(&s), Some(t("2026-01-01T13:00:00Z")));
        assert_eq!(s.status(t("2026-01-01T11:00:00Z")), SlaStatus::Breached);
    }

    #[test]
    fn a_late_start_fires_only_the_breach() {
        let mut s = SlaState::start(
            t("2026-01-01T10:00:00Z"),
            Severity::High,
            &one_hour_policy(),
        );
        let late = t("2026-01-01T15:00:00Z");
        assert_eq!(
            due_events(&s, late),
            [SlaEvent::AckBreached, SlaEvent::ResolveBreached]
        );
        for e in due_events(&s, late) {
            mark_fired(&mut s, e);
        }
        assert!(s.warned_ack && s.warned_resolve);
        assert!(due_events(&s, late).is_empty());
        assert_eq!(next_wakeup(&s), None);
    }

    #[test]
    fn acknowledging_stops_the_ack_clock_and_resolving_stops_both() {
        let mut s = SlaState::start(
            t("2026-01-01T10:00:00Z"),
            Severity::High,
            &one_hour_policy(),
        );
        s.acknowledge(t("2026-01-01T10:30:00Z"));
        assert_eq!(s.acknowledged_met, Some(true));
        assert_eq!(next_wakeup(&s), Some(t("2026-01-01T13:00:00Z")));
        assert!(due_events(&s, t("2026-01-01T12:00:00Z")).is_empty());
        s.resolve(t("2026-01-01T14:30:00Z"));
        assert_eq!(s.resolved_met, Some(false));
        assert_eq!(next_wakeup(&s), None);
        assert_eq!(s.status(t("2026-01-01T15:00:00Z")), SlaStatus::Breached);
        s.reopen();
        assert_eq!(
            due_events(&s, t("2026-01-01T15:00:00Z")),
            [SlaEvent::ResolveBreached]
        );
    }

    #[test]
    fn met_when_everything_stopped_in_time() {
        let mut s = SlaState::start(
            t("2026-01-01T10:00:00Z"),
            Severity::High,
            &one_hour_policy(),
        );
        s.acknowledge(t("2026-01-01T10:10:00Z"));
        s.resolve(t("2026-01-01T11:10:00Z"));
        assert_eq!(s.status(t("2026-02-01T00:00:00Z")), SlaStatus::Met);
    }

    #[test]
    fn pause_excludes_time_and_fires_nothing() {
        let created = t("2026-01-01T10:00:00Z");
        let cfg = one_hour_policy();
        let mut s = SlaState::start(created, Severity::High, &cfg);
        s.pause(t("2026-01-01T10:30:00Z"), Some("waiting on client".into()))
            .unwrap();
        assert_eq!(
            s.pause(t("2026-01-01T10:31:00Z"), None),
            Err(SlaError::AlreadyPaused)
        );
        assert_eq!(next_wakeup(&s), None);
        assert!(due_events(&s, t("2026-01-01T12:00:00Z")).is_empty());
        assert_eq!(s.status(t("2026-01-01T12:00:00Z")), SlaStatus::Paused);
        assert_eq!(
            s.resume(t("2026-01-01T12:00:00Z"), created, Severity::High, &cfg),
            Ok(5400)
        );
        assert_eq!(s.paused_total_s, 5400);
        assert_eq!(s.acknowledge_due, t("2026-01-01T12:30:00Z"));
        assert_eq!(s.acknowledge_warn_at, t("2026-01-01T12:15:00Z"));
        assert_eq!(
            s.resume(t("2026-01-01T12:00:00Z"), created, Severity::High, &cfg),
            Err(SlaError::NotPaused)
        );
        // A severity change keeps the pause credit.
        s.recompute(created, Severity::Critical, &cfg);
        assert_eq!(s.acknowledge_due, t("2026-01-01T12:30:00Z"));
    }

    #[test]
    fn acknowledging_during_a_pause_is_judged_at_the_pause_start() {
        let mut s = SlaState::start(
            t("2026-01-01T10:00:00Z"),
            Severity::High,
            &one_hour_policy(),
        );
        s.pause(t("2026-01-01T10:50:00Z"), None).unwrap();
        s.acknowledge(t("2026-01-01T13:00:00Z"));
        assert_eq!(s.acknowledged_met, Some(true));
        s.resolve(t("2026-01-01T20:00:00Z"));
        assert!(!s.paused && s.resolved_met == Some(true));
        assert_eq!(
            s.pause(t("2026-01-01T21:00:00Z"), None),
            Err(SlaError::NotRunning)
        );
    }

    #[test]
    fn a_pause_over_a_weekend_adds_only_business_time() {
        let created = t("2026-02-06T14:00:00Z"); // Friday 15:00 CET
        let cfg = SlaConfig {
            calendar: berlin_office(),
            ..one_hour_policy()
        };
        let mut s = SlaState::start(created, Severity::High, &cfg);
        assert_eq!(s.acknowledge_due, t("2026-02-06T15:00:00Z"));
        s.pause(t("2026-02-06T14:30:00Z"), None).unwrap();
        // Paused Friday 15:30 CET, resumed Monday 09:30 CET: 1.5 h on Friday + 0.5 h on
        // Monday count, the weekend does not. Due: 1 h + 2 h of business time from Friday
        // 15:00 = Monday 10:00 CET.
        assert_eq!(
            s.resume(t("2026-02-09T08:30:00Z"), created, Severity::High, &cfg),
            Ok(7200)
        );
        assert_eq!(s.acknowledge_due, t("2026-02-09T09:00:00Z"));
    }

    #[test]
    fn raising_severity_recomputes_from_creation_into_the_past() {
        let created = t("2026-01-01T10:00:00Z");
        let cfg = SlaConfig::default();
        let mut s = SlaState::start(created, Severity::Low, &cfg);
        assert_eq!(s.acknowledge_due, t("2026-01-01T18:00:00Z"));
        let now = t("2026-01-01T11:00:00Z");
        assert!(due_events(&s, now).is_empty());
        s.recompute(created, Severity::Critical, &cfg);
        assert_eq!(s.acknowledge_due, t("2026-01-01T10:15:00Z"));
        assert_eq!(due_events(&s, now), [SlaEvent::AckBreached]);
        assert!(next_wakeup(&s).unwrap() < now);
    }

    #[test]
    fn an_unstarted_state_never_fires() {
        let s = SlaState::default();
        assert!(due_events(&s, t("2999-01-01T00:00:00Z")).is_empty());
        assert_eq!(s.status(t("2999-01-01T00:00:00Z")), SlaStatus::Ok);
        let old_record: SlaState = serde_json::from_value(json!({"paused": false})).unwrap();
        assert_eq!(old_record, s);
    }

    #[test]
    fn a_warning_after_its_breach_does_not_delay_the_wakeup() {
        let mut s = SlaState::start(
            t("2026-01-01T10:00:00Z"),
            Severity::High,
            &one_hour_policy(),
        );
        s.acknowledge_warn_at = t("2026-01-01T12:00:00Z");
        assert_eq!(next_wakeup(&s), Some(t("2026-01-01T11:00:00Z")));
        assert_eq!(
            due_events(&s, t("2026-01-01T11:00:00Z")),
            [SlaEvent::AckBreached]
        );
    }

    #[test]
    fn view_carries_the_status() {
        let s = SlaState::start(
            t("2026-01-01T10:00:00Z"),
            Severity::High,
            &one_hour_policy(),
        );
        let v = serde_json::to_value(s.view(t("2026-01-01T10:50:00Z"))).unwrap();
        assert_eq!(v["status"], json!("warning"));
        assert_eq!(v["acknowledge_due"], json!("2026-01-01T11:00:00Z"));
        assert_eq!(
            serde_json::to_value(SlaEvent::ResolveBreached).unwrap(),
            json!("resolve_breached")
        );
        assert_eq!(SlaEvent::AckWarning.frame_type(), "sla.warning");
    }
}
