//! Incidents: the IO-free engine parts that the incident actor and the HTTP layer build
//! on. Everything here is a pure function of its inputs (time comes in as an argument or
//! through [`timer::Clock`]), so the rules that contracts and audits depend on — the
//! transition table, SLA deadlines, the custody chain, the KPIs — are tested on their own.
//!
//! - [`model`]: the records and their wire names;
//! - [`lifecycle`]: the one transition table and what a transition changes;
//! - [`sla`]: policies, business-hours calendars, deadlines and once-only events;
//! - [`timer`]: the `SlaTimer` actor that sleeps until the next deadline;
//! - [`custody`]: the evidence chain of custody as a hash chain;
//! - [`kpi`]: dashboard counters maintained change by change;
//! - [`merge`]: folding one incident into another;
//! - [`templates`]: response tasks pre-filled per category.

pub mod custody;
pub mod kpi;
pub mod lifecycle;
pub mod merge;
pub mod model;
pub mod sla;
pub mod templates;
pub mod timer;

pub use custody::{
    ChainBreak, ChainError, ChainHead, CustodyAction, CustodyEntry, CustodyRecord, GENESIS_HASH,
    append, verify_chain, verify_chain_against,
};
pub use kpi::{KpiBook, KpiSummary};
pub use lifecycle::{
    TransitionError, allowed_transitions, apply_sla_event, apply_transition, change_severity,
    check_transition, is_allowed, pause_sla, resume_sla,
};
pub use merge::{
    MergeError, MergeOutcome, Upsert, merge, merge_observables, merge_timelines, upsert_observable,
};
pub use model::{
    Change, Incident, IncidentObservable, IncidentState, Pap, Priority, Resolution, Task,
    TaskStatus, TimelineEntry, Tlp, observable_key,
};
pub use sla::{
    BusinessCalendar, CalendarError, CalendarSpec, PolicyError, SlaConfig, SlaDeadlines, SlaError,
    SlaEvent, SlaPolicy, SlaPolicySet, SlaState, SlaStatus, SlaView, compute_deadlines, due_events,
    mark_fired, next_wakeup,
};
pub use templates::{IncidentTemplate, TemplateTask, builtin_template, builtin_templates};
#[cfg(any(test, feature = "testsuite"))]
pub use timer::ManualClock;
pub use timer::{Clock, SlaFired, SlaTimer, SlaTimerSnapshot, SystemClock, TokioClock, UpdateSla};
