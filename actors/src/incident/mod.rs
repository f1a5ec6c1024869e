//! Incidents: the IO-free engine parts the incident actor and the HTTP layer build on.
pub mod custody;
pub mod kpi;
pub mod lifecycle;
pub mod model;
pub mod sla;
pub mod timer;
