//! The ports through which actors reach storage. The adapters live in the binary crate
//! (sled); tests use the in-memory ones behind the `testsuite` feature.

use std::future::Future;
use std::pin::Pin;

use crate::model::Alert;

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum PortError {
    #[error("storage: {0}")]
    Storage(String),
    #[error("the store is closed")]
    Closed,
}

pub type DurableFuture = Pin<Box<dyn Future<Output = Result<(), PortError>> + Send>>;

/// Where alert actors load and save their alert.
pub trait AlertRepo: Send + Sync + 'static {
    fn load(&self, id: &str) -> Result<Option<Alert>, PortError>;
    /// Saves the alert and appends `change` (`alert.updated`, ...) to the change log in
    /// the same commit. Visible at once; durable once [`AlertRepo::durable`] resolves.
    fn save(&self, before: Option<&Alert>, alert: &Alert, change: &str) -> Result<(), PortError>;
    fn durable(&self) -> DurableFuture;
}

#[cfg(any(test, feature = "testsuite"))]
pub mod memory {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use super::*;

    /// An in-memory repo recording every save, for actor tests.
    #[derive(Default)]
    pub struct MemoryAlertRepo {
        pub alerts: Mutex<HashMap<String, Alert>>,
        pub saves: Mutex<Vec<(String, String)>>,
    }

    impl MemoryAlertRepo {
        pub fn insert(&self, alert: Alert) {
            self.alerts.lock().unwrap().insert(alert.id.clone(), alert);
        }
    }

    impl AlertRepo for MemoryAlertRepo {
        fn load(&self, id: &str) -> Result<Option<Alert>, PortError> {
            Ok(self.alerts.lock().unwrap().get(id).cloned())
        }
        fn save(
            &self,
            _before: Option<&Alert>,
            alert: &Alert,
            change: &str,
        ) -> Result<(), PortError> {
            self.alerts
                .lock()
                .unwrap()
                .insert(alert.id.clone(), alert.clone());
            self.saves
                .lock()
                .unwrap()
                .push((alert.id.clone(), change.to_string()));
            Ok(())
        }
        fn durable(&self) -> DurableFuture {
            Box::pin(async { Ok(()) })
        }
    }
}
