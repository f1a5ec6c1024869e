//! Every actor answers [`Observe`] with a serialisable snapshot of its state: the admin
//! API and the tests read actors the same way.

use actix::Message;

#[derive(Debug, Clone, Copy, Default)]
pub struct Observe;

impl Message for Observe {
    type Result = serde_json::Value;
}

/// Runs a handler body, turning a panic into `Err(())` so the caller can stop the actor
/// and let its supervisor restart it from the store. actix itself would close the
/// mailbox for good on a panic.
pub fn catch_handler_panic<T>(f: impl FnOnce() -> T) -> Result<T, HandlerPanicked> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|_| HandlerPanicked)
}

/// A handler body panicked; the actor must be restarted from the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandlerPanicked;
