//! The sled store: the source of truth. One tree per kind of record; values are rmp-serde
//! (named fields) behind a two-byte schema version; every mutation appends a sequenced
//! record to the change log in the same transaction; durability comes from the group
//! commit flusher, which fsyncs once per batch and wakes every waiter of that batch.

pub mod backup;
mod flusher;
pub mod migrate;

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sled::Transactional;

pub use flusher::{Flusher, Waiter as SyncWaiter};

/// Meta key of the mark [`Store::close`] leaves: the last change sequence at a clean stop.
const CLEAN_STOP_KEY: &[u8] = b"clean_stop";

/// The store's on-disk schema version. Bump it with a migration in `migrate.rs`.
pub const SCHEMA_VERSION: u32 = 2;

/// Every kind of record has its own tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Meta,
    Tenants,
    Users,
    UserNames,
    IngestTokens,
    RefreshTokens,
    Denylist,
    Alerts,
    AlertsByTenant,
    AlertKeys,
    /// Correlation-group members as earlier builds indexed them: still read, no longer
    /// written (the search index holds groups).
    AlertGroups,
    Incidents,
    IncidentsByTenant,
    Timeline,
    Observables,
    Tasks,
    Evidence,
    Custody,
    SlaPolicies,
    Changes,
    Cursors,
    Drops,
}

impl Kind {
    pub const ALL: [Kind; 22] = [
        Kind::Meta,
        Kind::Tenants,
        Kind::Users,
        Kind::UserNames,
        Kind::IngestTokens,
        Kind::RefreshTokens,
        Kind::Denylist,
        Kind::Alerts,
        Kind::AlertsByTenant,
        Kind::AlertKeys,
        Kind::AlertGroups,
        Kind::Incidents,
        Kind::IncidentsByTenant,
        Kind::Timeline,
        Kind::Observables,
        Kind::Tasks,
        Kind::Evidence,
        Kind::Custody,
        Kind::SlaPolicies,
        Kind::Changes,
        Kind::Cursors,
        Kind::Drops,
    ];

    pub fn tree_name(self) -> &'static str {
        match self {
            Kind::Meta => "meta",
            Kind::Tenants => "tenants",
            Kind::Users => "users",
            Kind::UserNames => "user_names",
            Kind::IngestTokens => "ingest_tokens",
            Kind::RefreshTokens => "refresh_tokens",
            Kind::Denylist => "denylist",
            Kind::Alerts => "alerts",
            Kind::AlertsByTenant => "alerts_by_tenant",
            Kind::AlertKeys => "alert_keys",
            Kind::AlertGroups => "alert_groups",
            Kind::Incidents => "incidents",
            Kind::IncidentsByTenant => "incidents_by_tenant",
            Kind::Timeline => "timeline",
            Kind::Observables => "observables",
            Kind::Tasks => "tasks",
            Kind::Evidence => "evidence",
            Kind::Custody => "custody",
            Kind::SlaPolicies => "sla_policies",
            Kind::Changes => "changes",
            Kind::Cursors => "cursors",
            Kind::Drops => "drops",
        }
    }

    fn index(self) -> usize {
        Kind::ALL.iter().position(|k| *k == self).unwrap_or(0)
    }
}

/// A value kept in one tree, with the version of its encoding.
pub trait Record: Serialize + DeserializeOwned {
    const KIND: Kind;
    /// Raised whenever the record's shape changes, with a migration step to match.
    const VERSION: u16 = 1;
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage engine: {0}")]
    Sled(#[from] sled::Error),
    #[error("record in `{tree}` could not be decoded: {reason}")]
    Decode { tree: &'static str, reason: String },
    #[error(
        "record in `{tree}` has version {found}, this build reads {expected}: run the migration"
    )]
    Version {
        tree: &'static str,
        found: u16,
        expected: u16,
    },
    #[error("the store is shutting down")]
    Closed,
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Invalid(String),
}

/// Set in the version header of a record whose body is LZ4-compressed.
const COMPRESSED: u16 = 0x8000;
/// Bodies at least this long are compressed. Alerts (which carry the sender's payload)
/// are; keys, index entries and change records stay plain. sled writes a record to its
/// log several times over (the leaf is rewritten on consolidation and on split), so
/// every byte saved here is saved several times in copies and in log size.
const COMPRESS_FROM: usize = 384;
/// A record never decompresses to more than this: a corrupt size prefix must give an
/// error, not an allocation of gigabytes.
const DECOMPRESSED_MAX: usize = 64 * 1024 * 1024;

pub fn encode<R: Record>(record: &R) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&R::VERSION.to_be_bytes());
    // Named encoding so that a field added later does not shift old records.
    rmp_serde::encode::write_named(&mut out, record).expect("serialising to a Vec cannot fail");
    if out.len() - 2 >= COMPRESS_FROM {
        let packed = lz4_flex::block::compress_prepend_size(&out[2..]);
        if packed.len() < out.len() - 2 {
            let mut framed = Vec::with_capacity(2 + packed.len());
            framed.extend_from_slice(&(R::VERSION | COMPRESSED).to_be_bytes());
            framed.extend_from_slice(&packed);
            return framed;
        }
    }
    out
}

pub fn decode<R: Record>(bytes: &[u8]) -> Result<R, StoreError> {
    decode_fields::<R, R>(bytes)
}

/// Some fields of a stored record of kind `R`, decoded into `T` (a narrower struct), for
/// readers that need only those: the rest is skipped, not built.
pub fn decode_fields<R: Record, T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    let body = record_body::<R>(bytes)?;
    rmp_serde::from_slice(&body).map_err(|e| StoreError::Decode {
        tree: R::KIND.tree_name(),
        reason: e.to_string(),
    })
}

/// The encoded fields of a stored record of kind `R`, after its version check and
/// decompression; for readers that decode fields borrowed from them (else
/// [`decode_fields`]).
pub fn record_body<R: Record>(bytes: &[u8]) -> Result<Cow<'_, [u8]>, StoreError> {
    let tree = R::KIND.tree_name();
    let (version, body) =
        open_envelope(bytes).map_err(|reason| StoreError::Decode { tree, reason })?;
    if version != R::VERSION {
        return Err(StoreError::Version {
            tree,
            found: version,
            expected: R::VERSION,
        });
    }
    Ok(body)
}

/// A record's version and its encoded fields, decompressed when stored compressed.
pub(crate) fn open_envelope(bytes: &[u8]) -> Result<(u16, Cow<'_, [u8]>), String> {
    let (head, body) = bytes
        .split_at_checked(2)
        .ok_or("shorter than its version header")?;
    let version = u16::from_be_bytes([head[0], head[1]]);
    if version & COMPRESSED == 0 {
        return Ok((version, Cow::Borrowed(body)));
    }
    let (size, packed) =
        lz4_flex::block::uncompressed_size(body).map_err(|e| format!("compressed body: {e}"))?;
    if size > DECOMPRESSED_MAX {
        return Err(format!(
            "compressed body claims {size} bytes, more than any record"
        ));
    }
    let plain =
        lz4_flex::block::decompress(packed, size).map_err(|e| format!("compressed body: {e}"))?;
    if plain.len() != size {
        return Err(format!(
            "compressed body gave {} bytes, its header says {size}",
            plain.len()
        ));
    }
    Ok((version & !COMPRESSED, Cow::Owned(plain)))
}

/// One entry of the change log: what changed, for whom. Consumers (search index,
/// WebSocket hub, exporters) load the entity's current state by id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub tenant: String,
    /// `alert.created`, `alert.updated`, `incident.created`, `sla.breached`, ...
    pub kind: String,
    pub id: String,
    #[serde(default)]
    pub data: Option<serde_json::Value>,
}

impl Record for Change {
    const KIND: Kind = Kind::Changes;
}

/// The changes of one commit, stored as one record under the sequence number of its last
/// change. A batch of 100 new alerts used to write 100 change records; one record costs
/// sled one insert instead of a hundred (an insert clones and relinks a leaf, whatever its
/// size), and readers decode it once. Records of version 1 hold a single [`Change`]: an
/// older build wrote those, and they are read as runs of one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeRun {
    pub changes: Vec<Change>,
}

impl Record for ChangeRun {
    const KIND: Kind = Kind::Changes;
    const VERSION: u16 = 2;
}

/// The changes one record of the change log holds, of either version.
pub fn decode_changes(bytes: &[u8]) -> Result<Vec<Change>, StoreError> {
    let version = bytes
        .get(..2)
        .map(|h| u16::from_be_bytes([h[0], h[1]]) & !COMPRESSED);
    if version == Some(Change::VERSION) {
        return decode::<Change>(bytes).map(|c| vec![c]);
    }
    // Any other header, short or unknown, gets `decode`'s own error.
    decode::<ChangeRun>(bytes).map(|r| r.changes)
}

/// Writes gathered for one atomic commit.
#[derive(Default)]
pub struct Batch {
    ops: Vec<(Kind, Vec<u8>, Option<Vec<u8>>)>,
    changes: Vec<(String, String, String, Option<serde_json::Value>)>,
}

impl Batch {
    pub fn new() -> Batch {
        Batch::default()
    }

    pub fn put<R: Record>(&mut self, key: impl AsRef<[u8]>, record: &R) -> &mut Self {
        self.ops
            .push((R::KIND, key.as_ref().to_vec(), Some(encode(record))));
        self
    }

    pub fn put_raw(
        &mut self,
        kind: Kind,
        key: impl AsRef<[u8]>,
        value: impl Into<Vec<u8>>,
    ) -> &mut Self {
        self.ops
            .push((kind, key.as_ref().to_vec(), Some(value.into())));
        self
    }

    pub fn delete(&mut self, kind: Kind, key: impl AsRef<[u8]>) -> &mut Self {
        self.ops.push((kind, key.as_ref().to_vec(), None));
        self
    }

    /// Appends a change-log record, committed with the batch's writes.
    pub fn change(
        &mut self,
        tenant: &str,
        kind: &str,
        id: &str,
        data: Option<serde_json::Value>,
    ) -> &mut Self {
        self.changes
            .push((tenant.to_string(), kind.to_string(), id.to_string(), data));
        self
    }

    /// Moves another batch's writes and changes after this one's.
    pub fn append(&mut self, other: Batch) -> &mut Self {
        self.ops.extend(other.ops);
        self.changes.extend(other.changes);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.changes.is_empty()
    }
}

/// The handle every part of the appliance shares.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db: sled::Db,
    trees: Vec<sled::Tree>,
    dir: PathBuf,
    /// Held shared by every commit and exclusively by a backup, which so sees no commit
    /// half applied.
    commit_gate: RwLock<()>,
    /// Set by [`Store::close`]: commits after it are refused, so none is cut by the exit.
    closed: AtomicBool,
    /// Known to hold no ingest batch cut short by a crash: the last run stopped cleanly,
    /// or the check of the newest alerts ran. Only then does `close` mark a clean stop
    /// (an admin command on a crashed store must not hide the cut batch from `serve`).
    whole: AtomicBool,
    /// Change sequence numbers handed out to commits, applied or not yet.
    allocated: Mutex<u64>,
    /// Commits run concurrently; their change sequence numbers become visible in order.
    published: Arc<Published>,
    flusher: Flusher,
    ids: Mutex<ulid::Generator>,
    /// Per kind, how many commits have written it: a [`RecordCache`] of that kind is
    /// valid while this has not moved.
    written: [AtomicU64; Kind::ALL.len()],
}

/// The highest change sequence number below which every commit has been applied. A
/// consumer that has read up to it never later finds a smaller sequence number appear,
/// even though commits finish out of order.
pub(crate) struct Published {
    last: AtomicU64,
    finished: Mutex<std::collections::BTreeMap<u64, u64>>,
}

impl Published {
    fn new(last: u64) -> Published {
        Published {
            last: AtomicU64::new(last),
            finished: Mutex::new(std::collections::BTreeMap::new()),
        }
    }

    pub(crate) fn get(&self) -> u64 {
        self.last.load(Ordering::Acquire)
    }

    /// Marks `first..=last` applied (or abandoned) and advances over every contiguous
    /// finished range.
    fn finish(&self, first: u64, last: u64) {
        let mut done = self.finished.lock().unwrap_or_else(|p| p.into_inner());
        done.insert(first, last);
        let mut next = self.get() + 1;
        while let Some((&f, &l)) = done.first_key_value() {
            if f != next {
                break;
            }
            done.pop_first();
            next = l + 1;
        }
        self.last.store(next - 1, Ordering::Release);
    }
}

/// Publishes a commit's sequence numbers however the commit ends, so that a failed
/// commit does not hold back every later one.
struct SeqRange<'a> {
    published: &'a Published,
    first: u64,
    last: u64,
}

impl Drop for SeqRange<'_> {
    fn drop(&mut self) {
        if self.last >= self.first {
            self.published.finish(self.first, self.last);
        }
    }
}

impl Store {
    /// Opens (or creates) the store under `<data_dir>/db`.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        let dir = data_dir.join("db");
        let db = sled::Config::new()
            .path(&dir)
            .cache_capacity(cache_bytes())
            .mode(sled::Mode::HighThroughput)
            // Durability is ours (group commit); sled's own timer flush would only add fsyncs.
            .flush_every_ms(None)
            .open()?;
        let trees = Kind::ALL
            .iter()
            .map(|k| db.open_tree(k.tree_name()))
            .collect::<Result<Vec<_>, _>>()?;
        let last_seq = match trees[Kind::Changes.index()].last()? {
            Some((k, _)) => be_u64(&k),
            None => 0,
        };
        let published = Arc::new(Published::new(last_seq));
        let flusher = Flusher::start(db.clone(), published.clone());
        Ok(Store {
            inner: Arc::new(Inner {
                db,
                trees,
                dir: data_dir.to_path_buf(),
                commit_gate: RwLock::new(()),
                closed: AtomicBool::new(false),
                whole: AtomicBool::new(false),
                allocated: Mutex::new(last_seq),
                published,
                flusher,
                ids: Mutex::new(ulid::Generator::new()),
                written: std::array::from_fn(|_| AtomicU64::new(0)),
            }),
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.inner.dir
    }

    pub fn tree(&self, kind: Kind) -> &sled::Tree {
        &self.inner.trees[kind.index()]
    }

    /// A new time-ordered id (ULID, monotonic within a millisecond).
    pub fn new_id(&self) -> String {
        let mut g = self.inner.ids.lock().unwrap_or_else(|p| p.into_inner());
        match g.generate() {
            Ok(u) => u.to_string(),
            Err(_) => ulid::Ulid::new().to_string(),
        }
    }

    pub fn get<R: Record>(&self, key: impl AsRef<[u8]>) -> Result<Option<R>, StoreError> {
        match self.tree(R::KIND).get(key)? {
            Some(v) => decode::<R>(&v).map(Some),
            None => Ok(None),
        }
    }

    pub fn get_raw(
        &self,
        kind: Kind,
        key: impl AsRef<[u8]>,
    ) -> Result<Option<sled::IVec>, StoreError> {
        Ok(self.tree(kind).get(key)?)
    }

    /// Every record of a tree under a key prefix, in key order.
    pub fn scan_prefix<R: Record>(&self, prefix: impl AsRef<[u8]>) -> Result<Vec<R>, StoreError> {
        self.tree(R::KIND)
            .scan_prefix(prefix)
            .map(|kv| {
                let (_, v) = kv?;
                decode::<R>(&v)
            })
            .collect()
    }

    /// How many commits have written records of `kind` since the store was opened.
    pub fn written(&self, kind: Kind) -> u64 {
        self.inner.written[kind.index()].load(Ordering::Acquire)
    }

    pub fn len(&self, kind: Kind) -> usize {
        self.tree(kind).len()
    }

    /// Applies a batch atomically (all trees it touches plus the change log). Returns the
    /// last change sequence number of the batch; the writes are visible at once and
    /// durable after [`Store::sync`].
    pub fn commit(&self, batch: Batch) -> Result<u64, StoreError> {
        self.apply(batch, true)
    }

    /// Applies a batch of new alerts without a multi-tree transaction: its writes go in
    /// the batch's order with the change log last, and run concurrently with other
    /// commits. sled recovers a prefix of its log after a crash, so an unacknowledged
    /// batch can leave records without their change records; the ingest pipeline withdraws
    /// those at start (`withdraw_unannounced_alerts`). A sled transaction costs a read per
    /// written key and excludes every other writer: on the ingest path that was most of
    /// the time of a request.
    pub fn commit_concurrent(&self, batch: Batch) -> Result<u64, StoreError> {
        self.apply(batch, false)
    }

    fn apply(&self, batch: Batch, atomic: bool) -> Result<u64, StoreError> {
        if batch.is_empty() {
            return Ok(self.last_seq());
        }
        let _gate = self
            .inner
            .commit_gate
            .read()
            .unwrap_or_else(|p| p.into_inner());
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        let n = batch.changes.len() as u64;
        let first_seq = {
            let mut a = self
                .inner
                .allocated
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            *a += n;
            *a - n + 1
        };
        let range = SeqRange {
            published: &self.inner.published,
            first: first_seq,
            last: first_seq + n - 1,
        };
        let now = Utc::now();
        let run = ChangeRun {
            changes: batch
                .changes
                .iter()
                .enumerate()
                .map(|(i, (tenant, kind, id, data))| Change {
                    seq: first_seq + i as u64,
                    at: now,
                    tenant: tenant.clone(),
                    kind: kind.clone(),
                    id: id.clone(),
                    data: data.clone(),
                })
                .collect(),
        };
        let run = (n > 0).then(|| ((first_seq + n - 1).to_be_bytes(), encode(&run)));
        let written = if atomic {
            self.apply_transaction(&batch, run.as_ref())
        } else {
            (|| {
                for (kind, key, value) in &batch.ops {
                    let tree = self.tree(*kind);
                    match value {
                        Some(v) => tree.insert(key.as_slice(), v.as_slice())?,
                        None => tree.remove(key.as_slice())?,
                    };
                }
                if let Some((last, bytes)) = &run {
                    self.tree(Kind::Changes).insert(last, bytes.as_slice())?;
                }
                Ok(())
            })()
        };
        // After the writes, and also after a failed one, which may have written part of
        // its batch: a cache that reads the count before its store read, and finds it
        // unchanged after, cannot hold what these writes replaced.
        let mut touched = 0u32;
        for (kind, _, _) in &batch.ops {
            touched |= 1 << kind.index();
        }
        for (i, w) in self.inner.written.iter().enumerate() {
            if touched & (1 << i) != 0 {
                w.fetch_add(1, Ordering::Release);
            }
        }
        written?;
        drop(range);
        Ok(if n > 0 {
            first_seq + n - 1
        } else {
            self.last_seq()
        })
    }

    fn apply_transaction(
        &self,
        batch: &Batch,
        run: Option<&([u8; 8], Vec<u8>)>,
    ) -> Result<(), StoreError> {
        let mut kinds: Vec<Kind> = batch.ops.iter().map(|(k, _, _)| *k).collect();
        kinds.push(Kind::Changes);
        kinds.sort_by_key(|k| k.index());
        kinds.dedup();
        let trees: Vec<&sled::Tree> = kinds.iter().map(|k| self.tree(*k)).collect();
        let slot = |k: Kind| kinds.iter().position(|x| *x == k).unwrap_or(0);
        let result: Result<(), sled::transaction::TransactionError<()>> =
            trees.as_slice().transaction(|views| {
                for (kind, key, value) in &batch.ops {
                    let view = &views[slot(*kind)];
                    match value {
                        Some(v) => {
                            view.insert(key.as_slice(), v.as_slice())?;
                        }
                        None => {
                            view.remove(key.as_slice())?;
                        }
                    }
                }
                if let Some((last, bytes)) = run {
                    views[slot(Kind::Changes)].insert(last, bytes.as_slice())?;
                }
                Ok(())
            });
        match result {
            Ok(()) => Ok(()),
            Err(sled::transaction::TransactionError::Storage(e)) => Err(e.into()),
            Err(sled::transaction::TransactionError::Abort(())) => {
                Err(StoreError::Invalid("transaction aborted".into()))
            }
        }
    }

    /// Resolves once everything committed before the call is on disk (group commit).
    pub async fn sync(&self) -> Result<(), StoreError> {
        self.inner.flusher.wait().await
    }

    /// Calls each waiter once the writes made before this call are durable: [`Store::sync`]
    /// for a thread that must not block on the fsync.
    pub fn after_sync(&self, waiters: Vec<SyncWaiter>) {
        self.inner.flusher.after_flush(waiters)
    }

    /// Commit and wait for durability: the common path of a write that answers a client.
    pub async fn commit_durable(&self, batch: Batch) -> Result<u64, StoreError> {
        let seq = self.commit(batch)?;
        self.sync().await?;
        Ok(seq)
    }

    /// The last change sequence number below which every commit is applied.
    pub fn last_seq(&self) -> u64 {
        self.inner.published.get()
    }

    /// The highest change sequence number known to be on disk; consumers that must not
    /// show what a crash could lose (the WebSocket hub) read up to it.
    pub fn durable_seq(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.flusher.durable_seq()
    }

    /// Changes after `after`, up to `upto` inclusive, at most `limit`.
    pub fn changes_since(
        &self,
        after: u64,
        upto: u64,
        limit: usize,
    ) -> Result<Vec<Change>, StoreError> {
        let mut out = Vec::new();
        if after >= upto {
            return Ok(out);
        }
        // A run is keyed by its last sequence number, so the first key at or past
        // `after + 1` is the run that holds it.
        for kv in self.tree(Kind::Changes).range((after + 1).to_be_bytes()..) {
            let (_, v) = kv?;
            for c in decode_changes(&v)? {
                if c.seq > upto || out.len() >= limit {
                    return Ok(out);
                }
                if c.seq > after {
                    out.push(c);
                }
            }
        }
        Ok(out)
    }

    pub fn cursor(&self, consumer: &str) -> Result<u64, StoreError> {
        Ok(self
            .tree(Kind::Cursors)
            .get(consumer)?
            .map(|v| be_u64(&v))
            .unwrap_or(0))
    }

    /// Cursors are written outside the change log: moving one is not a change anyone
    /// subscribes to, and an old cursor after a crash only means re-reading a few changes.
    pub fn set_cursor(&self, consumer: &str, seq: u64) -> Result<(), StoreError> {
        self.tree(Kind::Cursors)
            .insert(consumer, &seq.to_be_bytes())?;
        Ok(())
    }

    pub fn flush_stats(&self) -> flusher::FlushStats {
        self.inner.flusher.stats()
    }

    /// Graceful shutdown: waits for the commits in flight, refuses any later one,
    /// records the clean stop, flushes and stops the flusher. A commit refused here is
    /// one nobody was acknowledged for.
    pub fn close(&self) -> Result<(), StoreError> {
        self.with_writes_paused(|db, _| -> Result<(), StoreError> {
            self.inner.closed.store(true, Ordering::Release);
            if self.inner.whole.load(Ordering::Acquire) {
                self.tree(Kind::Meta)
                    .insert(CLEAN_STOP_KEY, &self.last_seq().to_be_bytes())?;
            }
            db.flush()?;
            Ok(())
        })?;
        self.inner.flusher.stop();
        Ok(())
    }

    /// Whether the last run closed the store with every commit whole and nothing written
    /// since. The mark is removed durably first, so a crash of this run is never taken
    /// for a clean stop.
    pub fn take_clean_stop(&self) -> Result<bool, StoreError> {
        let meta = self.tree(Kind::Meta);
        let Some(mark) = meta.remove(CLEAN_STOP_KEY)? else {
            return Ok(false);
        };
        self.inner.db.flush()?;
        let clean = mark.as_ref() == self.last_seq().to_be_bytes();
        if clean {
            self.mark_whole();
        }
        Ok(clean)
    }

    /// Records that no batch cut short by a crash is left (the check of the newest
    /// alerts has run), so a clean close may say so.
    pub fn mark_whole(&self) {
        self.inner.whole.store(true, Ordering::Release);
    }

    /// Holds the write lock while `f` runs: a consistent view for backups.
    pub fn with_writes_paused<T>(&self, f: impl FnOnce(&sled::Db, &[sled::Tree]) -> T) -> T {
        let _guard = self
            .inner
            .commit_gate
            .write()
            .unwrap_or_else(|p| p.into_inner());
        f(&self.inner.db, &self.inner.trees)
    }

    pub fn size_on_disk(&self) -> u64 {
        self.inner.db.size_on_disk().unwrap_or(0)
    }
}

/// sled's page cache. It counts nodes at their size on disk, and their decoded form in
/// memory runs about twice that: at 1M alerts under ingest, 64 MB here cost ~55 MB more
/// RSS than 32 MB and no throughput. `CORERECON_STORE_CACHE_MB` raises it on a box with
/// memory to spare.
fn cache_bytes() -> u64 {
    std::env::var("CORERECON_STORE_CACHE_MB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(32)
        .clamp(8, 64 * 1024)
        * 1024
        * 1024
}

pub fn be_u64(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = bytes.len().min(8);
    b[..n].copy_from_slice(&bytes[..n]);
    u64::from_be_bytes(b)
}

/// The key range of one tenant's index entries (`tenant\0id`), newest-first paging
/// ending before `cursor` when one is given.
pub fn tenant_range(tenant: &str, cursor: Option<&str>) -> std::ops::Range<Vec<u8>> {
    let lo = key(&[tenant, ""]);
    let hi = match cursor {
        Some(c) => key(&[tenant, c]),
        None => {
            // Just past every `tenant\0...` key.
            let mut k = lo.clone();
            k.pop();
            k.push(1);
            k
        }
    };
    lo..hi
}

/// The last part of a NUL-joined key: the id in index keys.
pub fn last_part(k: &[u8]) -> String {
    String::from_utf8_lossy(k.rsplit(|b| *b == 0).next().unwrap_or(k)).into_owned()
}

/// Joins key parts with a NUL separator (tenant slugs and ids never contain one).
pub fn key(parts: &[&str]) -> Vec<u8> {
    let mut k = Vec::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            k.push(0);
        }
        k.extend_from_slice(p.as_bytes());
    }
    k
}

/// Decoded records of a kind that is read on every request and seldom written (tenants,
/// ingest tokens), dropped whole whenever a commit writes that kind: a revoked token is
/// refused from the moment its revocation is committed. Bounded; past the bound it reads
/// through.
pub struct RecordCache<R> {
    entries: Mutex<Cached<R>>,
}

struct Cached<R> {
    /// The kind's write count the records were read under.
    written: u64,
    records: HashMap<Vec<u8>, Arc<R>>,
}

impl<R> Default for RecordCache<R> {
    fn default() -> Self {
        RecordCache {
            entries: Mutex::new(Cached {
                written: 0,
                records: HashMap::new(),
            }),
        }
    }
}

impl<R: Record> RecordCache<R> {
    const CAPACITY: usize = 4_096;

    pub fn get(&self, store: &Store, key: impl AsRef<[u8]>) -> Result<Option<Arc<R>>, StoreError> {
        let key = key.as_ref();
        // Read before the record, so a write between the two leaves this count stale.
        let written = store.written(R::KIND);
        {
            let mut g = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if g.written != written {
                g.records.clear();
                g.written = written;
            }
            if let Some(r) = g.records.get(key) {
                return Ok(Some(r.clone()));
            }
        }
        let Some(record) = store.get::<R>(key)? else {
            return Ok(None);
        };
        let record = Arc::new(record);
        let mut g = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if g.written == written && g.records.len() < Self::CAPACITY {
            g.records.insert(key.to_vec(), record.clone());
        }
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Probe {
        a: u32,
        b: String,
    }
    impl Record for Probe {
        const KIND: Kind = Kind::Meta;
    }

    #[test]
    fn a_record_cache_serves_no_record_a_commit_replaced_or_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let cache = RecordCache::<Probe>::default();
        let put = |a: u32| {
            let mut b = Batch::new();
            b.put("k", &Probe { a, b: "x".into() });
            store.commit(b).unwrap();
        };
        put(1);
        assert_eq!(cache.get(&store, "k").unwrap().unwrap().a, 1);
        assert_eq!(cache.get(&store, "k").unwrap().unwrap().a, 1, "cached");
        put(2);
        assert_eq!(cache.get(&store, "k").unwrap().unwrap().a, 2, "replaced");
        let mut b = Batch::new();
        b.delete(Kind::Meta, "k");
        store.commit_concurrent(b).unwrap();
        assert!(cache.get(&store, "k").unwrap().is_none(), "deleted");
        // A commit of another kind leaves the cache alone.
        put(3);
        assert_eq!(cache.get(&store, "k").unwrap().unwrap().a, 3);
        let written = store.written(Kind::Meta);
        let mut b = Batch::new();
        b.delete(Kind::Tenants, "t");
        store.commit(b).unwrap();
        assert_eq!(store.written(Kind::Meta), written);
    }

    #[test]
    fn envelope_round_trips_and_checks_version() {
        let p = Probe {
            a: 7,
            b: "x".into(),
        };
        let bytes = encode(&p);
        assert_eq!(&bytes[..2], &[0, 1]);
        assert_eq!(decode::<Probe>(&bytes).unwrap(), p);
        let mut old = bytes.clone();
        old[1] = 9;
        assert!(matches!(
            decode::<Probe>(&old),
            Err(StoreError::Version { found: 9, .. })
        ));
        assert!(matches!(
            decode::<Probe>(&[1]),
            Err(StoreError::Decode { .. })
        ));
    }

    #[test]
    fn large_records_are_stored_compressed_and_read_back_whole() {
        let p = Probe {
            a: 3,
            b: "process.command_line=powershell -enc ".repeat(40),
        };
        let bytes = encode(&p);
        assert_eq!(u16::from_be_bytes([bytes[0], bytes[1]]), 1 | COMPRESSED);
        let plain_len = rmp_serde::to_vec_named(&p).unwrap().len();
        assert!(
            bytes.len() < plain_len / 4,
            "{} bytes stored for {plain_len} bytes of fields",
            bytes.len()
        );
        assert_eq!(decode::<Probe>(&bytes).unwrap(), p);

        // A record written before compression existed is read as it is.
        let mut plain = 1u16.to_be_bytes().to_vec();
        plain.extend(rmp_serde::to_vec_named(&p).unwrap());
        assert_eq!(decode::<Probe>(&plain).unwrap(), p);

        // The version check sees through the compression flag.
        let mut newer = bytes.clone();
        newer[1] = 2;
        assert!(matches!(
            decode::<Probe>(&newer),
            Err(StoreError::Version { found: 2, .. })
        ));
    }

    #[test]
    fn a_corrupt_compressed_record_is_an_error_not_a_panic() {
        let bytes = encode(&Probe {
            a: 3,
            b: "y".repeat(2000),
        });
        // Every truncation and every single-byte change of the body.
        for cut in 2..bytes.len() {
            let _ = decode::<Probe>(&bytes[..cut]);
        }
        for i in 2..bytes.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut bad = bytes.clone();
                bad[i] ^= flip;
                let _ = decode::<Probe>(&bad);
            }
        }
        // A size prefix claiming gigabytes is refused before anything is allocated.
        let mut huge = bytes[..2].to_vec();
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        huge.extend_from_slice(&bytes[6..]);
        match decode::<Probe>(&huge) {
            Err(StoreError::Decode { reason, .. }) => {
                assert!(reason.contains("more than any record"), "{reason}")
            }
            other => panic!("expected a decode error, got {other:?}"),
        }
        assert!(matches!(
            decode::<Probe>(&bytes[..4]),
            Err(StoreError::Decode { .. })
        ));
    }

    /// Ends a run the way a crash does, without `close`, and opens the store again. Only
    /// the flusher thread, which holds a handle on sled, is stopped.
    fn crash_and_reopen(store: Store, path: &std::path::Path) -> Store {
        store.inner.flusher.stop();
        drop(store);
        reopen(path)
    }

    /// Opens a store this process dropped a moment ago. sled's own I/O threads may hold
    /// its file lock a little longer than the last handle, after a crash or a `close`
    /// alike (a reopen failed now and then in parallel runs), so the open is retried
    /// until it succeeds or a deadline passes.
    fn reopen(path: &std::path::Path) -> Store {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match Store::open(path) {
                Ok(s) => return s,
                Err(e) if std::time::Instant::now() >= deadline => {
                    panic!("reopening the store: {e}")
                }
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
            }
        }
    }

    fn probe_batch(key: &str) -> Batch {
        let mut b = Batch::new();
        b.put(
            key,
            &Probe {
                a: 1,
                b: key.into(),
            },
        );
        b.change("t", "probe.created", key, None);
        b
    }

    #[test]
    fn only_a_clean_close_of_a_checked_store_skips_the_next_crash_check() {
        let dir = tempfile::tempdir().unwrap();

        // A store nobody checked (an admin command on a crashed store) leaves no mark.
        let store = Store::open(dir.path()).unwrap();
        store.commit(probe_batch("a")).unwrap();
        store.close().unwrap();
        drop(store);
        let store = reopen(dir.path());
        assert!(!store.take_clean_stop().unwrap());

        // Checked, then closed: the next open is clean, once.
        store.mark_whole();
        store.commit(probe_batch("b")).unwrap();
        store.close().unwrap();
        assert!(
            matches!(store.commit(probe_batch("late")), Err(StoreError::Closed)),
            "a commit after close must be refused, not cut by the exit"
        );
        drop(store);
        let store = reopen(dir.path());
        assert!(store.take_clean_stop().unwrap());
        // The mark is consumed: this run ends without close (a crash).
        store.commit(probe_batch("c")).unwrap();
        let store = crash_and_reopen(store, dir.path());
        assert!(!store.take_clean_stop().unwrap());
        assert!(store.get::<Probe>("c").unwrap().is_some());
        assert!(store.get::<Probe>("late").unwrap().is_none());
    }

    #[test]
    fn a_mark_older_than_the_last_change_is_not_a_clean_stop() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.mark_whole();
        store.close().unwrap();
        drop(store);
        // Written by a run that found the mark but died before removing it: the change
        // log has moved past the recorded sequence.
        let store = reopen(dir.path());
        let mark = store.tree(Kind::Meta).get(CLEAN_STOP_KEY).unwrap().unwrap();
        store.commit(probe_batch("a")).unwrap();
        store.tree(Kind::Meta).insert(CLEAN_STOP_KEY, mark).unwrap();
        let store = crash_and_reopen(store, dir.path());
        assert!(!store.take_clean_stop().unwrap());
    }

    #[test]
    fn change_runs_are_read_change_by_change_after_older_single_records() {
        let dir = tempfile::tempdir().unwrap();
        {
            // What an older build left: one record per change, keyed by its sequence.
            let store = Store::open(dir.path()).unwrap();
            for seq in 1..=2u64 {
                let c = Change {
                    seq,
                    at: Utc::now(),
                    tenant: "t".into(),
                    kind: "probe.created".into(),
                    id: format!("old{seq}"),
                    data: None,
                };
                store
                    .tree(Kind::Changes)
                    .insert(seq.to_be_bytes(), encode(&c))
                    .unwrap();
            }
            store.close().unwrap();
        }
        let store = reopen(dir.path());
        assert_eq!(
            store.last_seq(),
            2,
            "the sequence goes on from the old records"
        );
        let mut b = Batch::new();
        for i in 0..5 {
            b.change("t", "probe.created", &format!("new{i}"), None);
        }
        assert_eq!(store.commit_concurrent(b).unwrap(), 7);
        let mut b = Batch::new();
        b.change("u", "probe.updated", "new0", None);
        assert_eq!(store.commit(b).unwrap(), 8);
        assert_eq!(
            store.len(Kind::Changes),
            4,
            "two old records, then one record per commit"
        );

        let ids = |after, upto, limit| -> Vec<(u64, String)> {
            store
                .changes_since(after, upto, limit)
                .unwrap()
                .into_iter()
                .map(|c| (c.seq, c.id))
                .collect()
        };
        let all = ids(0, 8, 100);
        assert_eq!(
            all.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            (1..=8).collect::<Vec<_>>()
        );
        assert_eq!(all[0].1, "old1");
        assert_eq!(all[2].1, "new0");
        assert_eq!(all[7].1, "new0");
        // Starting, ending and stopping inside a run.
        assert_eq!(
            ids(3, 5, 100).iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            vec![4, 5]
        );
        assert_eq!(
            ids(1, 8, 3).iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            vec![2, 3, 4]
        );
        assert!(ids(8, 8, 10).is_empty());
        // And what a restart finds.
        store.close().unwrap();
        drop(store);
        let store = reopen(dir.path());
        assert_eq!(store.last_seq(), 8);
    }

    #[tokio::test]
    async fn commit_appends_changes_in_order_and_sync_makes_them_durable() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut b = Batch::new();
        b.put(
            "k1",
            &Probe {
                a: 1,
                b: "one".into(),
            },
        );
        b.change("t", "probe.created", "k1", None);
        b.change("t", "probe.updated", "k1", None);
        let seq = store.commit(b).unwrap();
        assert_eq!(seq, 2);
        store.sync().await.unwrap();
        assert!(*store.durable_seq().borrow() >= 2);
        let changes = store.changes_since(0, 10, 100).unwrap();
        assert_eq!(
            changes.iter().map(|c| c.seq).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert_eq!(store.get::<Probe>("k1").unwrap().unwrap().a, 1);
    }
}
