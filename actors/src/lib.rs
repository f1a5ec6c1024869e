//! The CoreRecon engine: domain types, entity actors and pipeline stages. Storage and
//! search are reached through the port traits in [`ports`]; nothing here knows sled,
//! tantivy or actix-web.

pub mod alert;
pub mod incident;
pub mod incident_actor;
pub mod model;
pub mod normalize;
pub mod observe;
pub mod ports;
