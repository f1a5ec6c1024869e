//! Group commit: one thread fsyncs the store for everyone who waits. A waiter that
//! arrives while a flush runs joins the next one, so under load one fsync covers many
//! acknowledgements and under no load a single write is flushed at once.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use super::StoreError;

/// Called with the outcome of the flush that covers what was written before it queued.
pub type Waiter = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct FlushStats {
    pub flushes: u64,
    pub waiters_served: u64,
    pub largest_batch: u64,
    pub last_batch: u64,
}

struct State {
    waiting: Vec<Waiter>,
    stopping: bool,
    stats: FlushStats,
}

pub struct Flusher {
    shared: Arc<(Mutex<State>, Condvar)>,
    durable: tokio::sync::watch::Sender<u64>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Flusher {
    pub(crate) fn start(db: sled::Db, published: Arc<super::Published>) -> Flusher {
        let shared = Arc::new((
            Mutex::new(State {
                waiting: Vec::new(),
                stopping: false,
                stats: FlushStats::default(),
            }),
            Condvar::new(),
        ));
        let (durable, _) = tokio::sync::watch::channel(published.get());
        let worker_shared = shared.clone();
        let worker_durable = durable.clone();
        let thread = std::thread::Builder::new()
            .name("store-flusher".into())
            .spawn(move || run(db, published, worker_shared, worker_durable))
            .expect("spawning the flusher thread");
        Flusher {
            shared,
            durable,
            thread: Mutex::new(Some(thread)),
        }
    }

    pub async fn wait(&self) -> Result<(), StoreError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.after_flush(vec![Box::new(move |r| {
            let _ = tx.send(r);
        })]);
        rx.await.unwrap_or(Err(StoreError::Closed))
    }

    /// Calls each waiter once a flush covers every write made before this call (with
    /// `Closed` at once when the store is stopping). For a thread that must not block on
    /// the flush, and so its callers wake once, not once for the write and again for it.
    pub fn after_flush(&self, waiters: Vec<Waiter>) {
        let (lock, cv) = &*self.shared;
        let mut st = lock.lock().unwrap_or_else(|p| p.into_inner());
        if st.stopping {
            drop(st);
            for w in waiters {
                w(Err(StoreError::Closed));
            }
            return;
        }
        st.waiting.extend(waiters);
        cv.notify_one();
    }

    pub fn durable_seq(&self) -> tokio::sync::watch::Receiver<u64> {
        self.durable.subscribe()
    }

    pub fn stats(&self) -> FlushStats {
        self.shared
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .stats
    }

    pub fn stop(&self) {
        {
            let (lock, cv) = &*self.shared;
            let mut st = lock.lock().unwrap_or_else(|p| p.into_inner());
            st.stopping = true;
            cv.notify_all();
        }
        if let Some(t) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = t.join();
        }
    }
}

fn run(
    db: sled::Db,
    published: Arc<super::Published>,
    shared: Arc<(Mutex<State>, Condvar)>,
    durable: tokio::sync::watch::Sender<u64>,
) {
    loop {
        let batch = {
            let (lock, cv) = &*shared;
            let mut st = lock.lock().unwrap_or_else(|p| p.into_inner());
            while st.waiting.is_empty() && !st.stopping {
                st = cv.wait(st).unwrap_or_else(|p| p.into_inner());
            }
            if st.waiting.is_empty() && st.stopping {
                return;
            }
            std::mem::take(&mut st.waiting)
        };
        // Every commit published before this point is covered by the flush below (a
        // commit still running may have written part of its batch; it is published, and
        // made durable, by a later flush).
        let seq_before = published.get();
        let result = db.flush().map(|_| ()).map_err(|e| e.to_string());
        let n = batch.len() as u64;
        // The durable sequence moves before the waiters wake: whoever was told "durable"
        // must find it so.
        if result.is_ok() {
            durable.send_if_modified(|d| {
                if seq_before > *d {
                    *d = seq_before;
                    true
                } else {
                    false
                }
            });
        }
        for w in batch {
            w(result
                .clone()
                .map_err(|e| StoreError::Invalid(format!("flush failed: {e}"))));
        }
        let mut st = shared.0.lock().unwrap_or_else(|p| p.into_inner());
        st.stats.flushes += 1;
        st.stats.waiters_served += n;
        st.stats.last_batch = n;
        st.stats.largest_batch = st.stats.largest_batch.max(n);
    }
}
