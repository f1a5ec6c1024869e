//! The full-text index of alerts (tantivy), fed from the change log. It is a derived
//! view: its cursor lives in sled, a crash only means re-reading a few changes, and
//! `corerecon reindex` rebuilds it from the store.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use corerecon_actors::model::{Alert, Scope};
use tantivy::query::{BooleanQuery, Occur, Query, QueryParser, TermQuery};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TEXT, Value,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::store::{Kind, Store, decode};

const CURSOR: &str = "search";
/// Changes past the index's cursor that a group lookup reads itself (under sustained
/// ingest at 30k alerts/s the index is ~15k behind). Further behind, the index is
/// rebuilding or badly lagging, and reading (and loading the new alerts of) that many
/// changes would take seconds: the lookup is refused rather than slow or incomplete.
const GROUP_TAIL_MAX: u64 = 50_000;
/// Text of an alert's raw payload that is indexed, at most.
const RAW_TEXT_MAX: usize = 8 * 1024;

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    tenant: Field,
    group: Field,
    text: Field,
    created: Field,
}

pub struct AlertIndex {
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
    /// The index was created afresh (absent, unreadable, or of an older schema) while the
    /// store may hold alerts: the next catch-up indexes every stored alert, whatever the
    /// stored cursor says.
    rebuild: AtomicBool,
}

/// Why a correlation group could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum GroupLookupError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("the search index is {behind} changes behind (rebuilding); retry shortly")]
    CatchingUp { behind: u64 },
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let id = b.add_text_field("id", STRING | STORED);
    let tenant = b.add_text_field("tenant", STRING);
    // Correlation groups are found here, not through a sled index entry per alert (that
    // entry was a third of the sled inserts of a correlated alert).
    let group = b.add_text_field("group", STRING);
    let text = b.add_text_field("text", TEXT);
    let created = b.add_i64_field("created", FAST | INDEXED);
    (
        b.build(),
        Fields {
            id,
            tenant,
            group,
            text,
            created,
        },
    )
}

fn flatten_strings(v: &serde_json::Value, out: &mut String) {
    if out.len() >= RAW_TEXT_MAX {
        return;
    }
    match v {
        serde_json::Value::String(s) => {
            out.push(' ');
            out.push_str(s);
        }
        serde_json::Value::Number(n) => {
            out.push(' ');
            out.push_str(&n.to_string());
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| flatten_strings(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| flatten_strings(x, out)),
        _ => {}
    }
}

/// What the index holds of an alert: its id, tenant and group, and its words in one text.
pub struct IndexEntry {
    id: String,
    tenant: String,
    group: Option<String>,
    text: String,
    created_ms: i64,
}

impl IndexEntry {
    pub fn of(a: &Alert) -> IndexEntry {
        let mut text = String::with_capacity(512);
        for s in [
            Some(a.title.as_str()),
            a.description.as_deref(),
            a.host.as_deref(),
            a.user.as_deref(),
            a.rule.as_deref(),
            a.category.as_deref(),
            a.src_ip.as_deref(),
            a.dst_ip.as_deref(),
            a.assignee.as_deref(),
            a.source_ref.as_deref(),
            Some(a.source.as_str()),
            Some(a.id.as_str()),
        ]
        .into_iter()
        .flatten()
        {
            text.push(' ');
            text.push_str(s);
        }
        for t in a.techniques.iter().chain(&a.tactics) {
            text.push(' ');
            text.push_str(t);
        }
        for o in &a.observables {
            text.push(' ');
            text.push_str(&o.value);
        }
        for c in &a.comments {
            text.push(' ');
            text.push_str(&c.text);
        }
        flatten_strings(&a.raw, &mut text);
        IndexEntry {
            id: a.id.clone(),
            tenant: a.tenant.clone(),
            group: a.group.clone(),
            text,
            created_ms: a.created_at.timestamp_millis(),
        }
    }
}

/// The index entries of alerts just stored, made by the ingest committer while it holds
/// the alerts: the indexer reads an `alert.created` right after it is written, and
/// decoding the alert back from the store (its raw document above all) cost it more than
/// indexing it. Taken once indexed; past [`FreshEntries::CAPACITY`] the oldest are
/// dropped and read from the store instead. An update is always read from the store.
#[derive(Default)]
pub struct FreshEntries {
    /// By id: ids are ULIDs, so the first entry is the oldest.
    entries: Mutex<BTreeMap<String, IndexEntry>>,
}

impl FreshEntries {
    /// About one indexer pass of alerts sent one per request: a few MB of text.
    pub const CAPACITY: usize = 8_192;

    pub fn add(&self, entries: impl IntoIterator<Item = IndexEntry>) {
        let mut g = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        for e in entries {
            g.insert(e.id.clone(), e);
        }
        while g.len() > Self::CAPACITY {
            g.pop_first();
        }
    }

    fn take(&self, id: &str) -> Option<IndexEntry> {
        let mut g = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        g.remove(id)
    }
}

impl AlertIndex {
    pub fn open(data_dir: &Path) -> tantivy::Result<AlertIndex> {
        let dir = data_dir.join("index");
        std::fs::create_dir_all(&dir)?;
        let (schema, fields) = schema();
        let opened = Index::open_in_dir(&dir)
            .ok()
            // An index of an older schema is rebuilt, not read with the wrong fields.
            .filter(|i| i.schema() == schema);
        let rebuild = opened.is_none();
        let index = match opened {
            Some(i) => i,
            None => {
                // Absent, unreadable or outdated: it is derived data, start afresh.
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::create_dir_all(&dir)?;
                Index::create_in_dir(&dir, schema)?
            }
        };
        let writer = index.writer_with_num_threads(1, 32 * 1024 * 1024)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(AlertIndex {
            index,
            reader,
            writer: Mutex::new(writer),
            fields,
            rebuild: AtomicBool::new(rebuild),
        })
    }

    fn document(&self, e: &IndexEntry) -> TantivyDocument {
        let f = self.fields;
        let mut doc = TantivyDocument::default();
        doc.add_text(f.id, &e.id);
        doc.add_text(f.tenant, &e.tenant);
        if let Some(g) = &e.group {
            doc.add_text(f.group, g);
        }
        doc.add_text(f.text, &e.text);
        doc.add_i64(f.created, e.created_ms);
        doc
    }

    fn upsert(&self, w: &IndexWriter, e: &IndexEntry) -> tantivy::Result<()> {
        w.delete_term(Term::from_field_text(self.fields.id, &e.id));
        w.add_document(self.document(e))?;
        Ok(())
    }

    /// Indexes the changes after the stored cursor; returns how many alerts were indexed.
    pub fn catch_up(
        &self,
        store: &Store,
        fresh: &FreshEntries,
        upto: u64,
    ) -> anyhow::Result<usize> {
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let rebuild = self.rebuild.load(Ordering::Acquire);
        let mut cursor = if rebuild { 0 } else { store.cursor(CURSOR)? };
        let mut indexed = 0;
        if cursor == 0 && store.len(Kind::Alerts) > 0 {
            // First run (or reindex): the change log may be trimmed; the store is complete.
            w.delete_all_documents()?;
            for kv in store.tree(Kind::Alerts).iter() {
                let (_, v) = kv?;
                if let Ok(a) = decode::<Alert>(&v) {
                    w.add_document(self.document(&IndexEntry::of(&a)))?;
                    indexed += 1;
                }
            }
            cursor = upto;
        } else {
            loop {
                let changes = store.changes_since(cursor, upto, 20_000)?;
                let Some(last) = changes.last().map(|c| c.seq) else {
                    break;
                };
                let mut seen = std::collections::HashSet::new();
                for c in changes.iter().rev() {
                    if !c.kind.starts_with("alert.") || !seen.insert(c.id.clone()) {
                        continue;
                    }
                    // The newest change of an alert in this stretch: a creation has
                    // nothing to replace (a creation indexed twice after a crash shows
                    // once, as `search` keeps each id once).
                    if c.kind == "alert.created" {
                        let entry = match fresh.take(&c.id) {
                            Some(e) => e,
                            None => match store.get::<Alert>(&c.id)? {
                                Some(a) => IndexEntry::of(&a),
                                None => continue,
                            },
                        };
                        w.add_document(self.document(&entry))?;
                    } else if let Some(a) = store.get::<Alert>(&c.id)? {
                        self.upsert(&w, &IndexEntry::of(&a))?;
                    } else {
                        continue;
                    }
                    indexed += 1;
                }
                cursor = last;
            }
        }
        if indexed > 0 {
            w.commit()?;
            self.reader.reload()?;
        }
        store.set_cursor(CURSOR, cursor)?;
        // Cleared under the writer lock and only once the rebuild is committed: a failed
        // rebuild starts over at the next catch-up.
        self.rebuild.store(false, Ordering::Release);
        drop(w);
        Ok(indexed)
    }

    /// Ids of the alerts of one tenant's correlation group, oldest first, at most
    /// `limit`: those in the index, and those created since its last commit, read from
    /// the change log (so an alert is in its group as soon as it is acknowledged).
    pub fn group_member_ids(
        &self,
        store: &Store,
        tenant: &str,
        group: &str,
        limit: usize,
    ) -> Result<Vec<String>, GroupLookupError> {
        // The cursor before the search: catch_up reloads the reader before it moves the
        // cursor, so every change up to the cursor read here is in the searcher below.
        let cursor = if self.rebuild.load(Ordering::Acquire) {
            0
        } else {
            store.cursor(CURSOR)?
        };
        let last = store.last_seq();
        let behind = last.saturating_sub(cursor);
        if behind > GROUP_TAIL_MAX {
            return Err(GroupLookupError::CatchingUp { behind });
        }
        let f = self.fields;
        let query = BooleanQuery::new(vec![
            (Occur::Must, exactly(f.group, group)),
            (Occur::Must, exactly(f.tenant, tenant)),
        ]);
        let mut ids: std::collections::BTreeSet<String> =
            self.ids_of(&query, limit).into_iter().collect();
        for c in store.changes_since(cursor, last, usize::MAX)? {
            if c.kind == "alert.created"
                && c.tenant == tenant
                && !ids.contains(&c.id)
                && store
                    .get::<Alert>(&c.id)?
                    .is_some_and(|a| a.group.as_deref() == Some(group))
            {
                ids.insert(c.id);
            }
        }
        Ok(ids.into_iter().take(limit).collect())
    }

    /// Ids of the alerts matching `q` in the caller's scope, newest first.
    pub fn search(&self, scope: &Scope, q: &str, limit: usize) -> Vec<String> {
        let f = self.fields;
        let mut parser = QueryParser::for_index(&self.index, vec![f.text]);
        parser.set_conjunction_by_default();
        let (parsed, _errors) = parser.parse_query_lenient(q);
        let query: Box<dyn Query> = match scope {
            Scope::All => parsed,
            Scope::Tenant(t) => Box::new(BooleanQuery::new(vec![
                (Occur::Must, parsed),
                (Occur::Must, exactly(f.tenant, t)),
            ])),
        };
        self.ids_of(query.as_ref(), limit)
    }

    /// Ids of the `limit` newest matches of `query`.
    fn ids_of(&self, query: &dyn Query, limit: usize) -> Vec<String> {
        let f = self.fields;
        let searcher = self.reader.searcher();
        let Ok(hits) = newest_first(&searcher, query, limit.max(1)) else {
            return Vec::new();
        };
        let mut seen = std::collections::HashSet::new();
        hits.into_iter()
            .filter_map(|(_, addr)| {
                let doc: TantivyDocument = searcher.doc(addr).ok()?;
                doc.get_first(f.id)
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            })
            .filter(|id| seen.insert(id.clone()))
            .collect()
    }

    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }
}

/// Documents whose `field` (a STRING field) is exactly `value`.
fn exactly(field: Field, value: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, value),
        IndexRecordOption::Basic,
    ))
}

/// The `limit` newest matches of `query`, newest first. Segments are searched newest first
/// and a segment whose newest alert is older than every hit kept so far is skipped: a
/// query matching most alerts then reads the recent segments, not every posting of the
/// index (at 1M alerts, a term in all of them took ~19 ms collected across every segment).
fn newest_first(
    searcher: &tantivy::Searcher,
    query: &dyn Query,
    limit: usize,
) -> tantivy::Result<Vec<(i64, tantivy::DocAddress)>> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let weight = query.weight(tantivy::query::EnableScoring::disabled_from_searcher(
        searcher,
    ))?;
    let mut segments = Vec::with_capacity(searcher.segment_readers().len());
    for (ord, reader) in searcher.segment_readers().iter().enumerate() {
        let created = reader
            .fast_fields()
            .i64("created")?
            .first_or_default_col(i64::MIN);
        segments.push((created.max_value(), ord as u32, reader, created));
    }
    segments.sort_by_key(|(newest, ..)| Reverse(*newest));
    // The kept hits, oldest on top.
    let mut kept: BinaryHeap<Reverse<(i64, u32, u32)>> = BinaryHeap::with_capacity(limit + 1);
    let mut times = Vec::new();
    for (newest, ord, reader, created) in segments {
        if kept.len() >= limit
            && kept
                .peek()
                .is_some_and(|Reverse((oldest, ..))| newest < *oldest)
        {
            break;
        }
        let alive = reader.alive_bitset();
        weight.for_each_no_score(reader, &mut |docs| {
            times.resize(docs.len(), 0);
            created.get_vals(docs, &mut times);
            for (&doc, &t) in docs.iter().zip(&times) {
                if alive.is_some_and(|a| !a.is_alive(doc)) {
                    continue;
                }
                if kept.len() < limit {
                    kept.push(Reverse((t, ord, doc)));
                } else if kept.peek().is_some_and(|Reverse((oldest, ..))| t > *oldest) {
                    kept.pop();
                    kept.push(Reverse((t, ord, doc)));
                }
            }
        })?;
    }
    let mut hits: Vec<(i64, tantivy::DocAddress)> = kept
        .into_iter()
        .map(|Reverse((t, ord, doc))| (t, tantivy::DocAddress::new(ord, doc)))
        .collect();
    hits.sort_by_key(|(t, _)| Reverse(*t));
    Ok(hits)
}

/// Feeds the index from the change log until the process ends. Commits at most every
/// 200 ms, so an alert is searchable well within a second of its acknowledgement.
pub fn spawn_indexer(index: Arc<AlertIndex>, store: Store, fresh: Arc<FreshEntries>) {
    actix_web::rt::spawn(async move {
        let mut durable = store.durable_seq();
        loop {
            let upto = store.last_seq();
            let (idx, st, fr) = (index.clone(), store.clone(), fresh.clone());
            match actix_web::rt::task::spawn_blocking(move || idx.catch_up(&st, &fr, upto)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "search indexer"),
                Err(e) => tracing::error!(error = %e, "search indexer task"),
            }
            let _ = tokio::time::timeout(Duration::from_millis(250), durable.changed()).await;
            // Each commit makes a segment for the merger to fold later: under sustained
            // ingest, fewer and larger commits cost less and still keep search within a
            // second of the acknowledgement.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::Order;
    use tantivy::collector::TopDocs;
    use tantivy::query::AllQuery;

    fn alert(id: &str, tenant: &str, group: &str) -> Alert {
        Alert {
            group: Some(group.to_string()),
            ..crate::test_support::alert(id, tenant)
        }
    }

    /// Stores and announces alerts as the ingest pipeline does.
    fn ingest(store: &Store, alerts: &[Alert]) {
        let mut b = crate::store::Batch::new();
        crate::repo::put_alerts(&mut b, alerts);
        for a in alerts {
            b.change(&a.tenant, "alert.created", &a.id, None);
        }
        store.commit(b).unwrap();
    }

    #[test]
    fn fresh_entries_are_taken_once_and_kept_to_the_newest() {
        let fresh = FreshEntries::default();
        let ids: Vec<String> = (0..FreshEntries::CAPACITY + 10)
            .map(|i| format!("a{i:05}"))
            .collect();
        fresh.add(
            ids[..100]
                .iter()
                .map(|id| IndexEntry::of(&alert(id, "acme", "g1"))),
        );
        fresh.add(
            ids[100..]
                .iter()
                .map(|id| IndexEntry::of(&alert(id, "globex", "g2"))),
        );
        for (i, id) in ids.iter().enumerate() {
            let taken = fresh.take(id);
            if i < 10 {
                assert!(taken.is_none(), "{id} is past the capacity");
                continue;
            }
            let e = taken.unwrap_or_else(|| panic!("{id} is among the newest"));
            assert_eq!(e.id, *id);
            assert_eq!(e.tenant, if i < 100 { "acme" } else { "globex" });
            assert!(e.text.contains(id.as_str()), "the text holds the id");
            assert!(fresh.take(id).is_none(), "{id} is taken once");
        }
    }

    #[test]
    fn a_group_holds_its_indexed_and_its_newest_members_of_its_own_tenant_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let index = AlertIndex::open(dir.path()).unwrap();
        ingest(
            &store,
            &[
                alert("01A", "acme", "01A"),
                alert("01B", "acme", "01A"),
                alert("01C", "acme", "01C"),
                // Another tenant's alert in a group of the same name.
                alert("01D", "globex", "01A"),
            ],
        );
        index
            .catch_up(&store, &FreshEntries::default(), store.last_seq())
            .unwrap();
        assert_eq!(index.num_docs(), 4);
        // Created after the index's last commit: found through the change log.
        ingest(
            &store,
            &[
                alert("01E", "acme", "01A"),
                alert("01F", "globex", "01A"),
                alert("01G", "acme", "01C"),
            ],
        );
        let members = |tenant: &str, group: &str| {
            index.group_member_ids(&store, tenant, group, 1000).unwrap()
        };
        assert_eq!(members("acme", "01A"), ["01A", "01B", "01E"]);
        assert_eq!(members("acme", "01C"), ["01C", "01G"]);
        assert_eq!(members("globex", "01A"), ["01D", "01F"]);
        assert!(members("initech", "01A").is_empty());
        index
            .catch_up(&store, &FreshEntries::default(), store.last_seq())
            .unwrap();
        assert_eq!(
            members("acme", "01A"),
            ["01A", "01B", "01E"],
            "once indexed"
        );
        assert_eq!(members("acme", "01A").len(), 3);
        assert_eq!(
            index
                .group_member_ids(&store, "acme", "01A", 2)
                .unwrap()
                .len(),
            2,
            "at most the limit"
        );
        drop(index);
        store.close().unwrap();
    }

    #[test]
    fn an_index_of_an_older_schema_is_rebuilt_from_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        ingest(
            &store,
            &[alert("01A", "acme", "01A"), alert("01B", "acme", "01A")],
        );
        // An index as an earlier build left it: no group field, cursor at the end.
        let mut old = Schema::builder();
        old.add_text_field("id", STRING | STORED);
        old.add_text_field("tenant", STRING);
        old.add_text_field("text", TEXT);
        old.add_i64_field("created", FAST | INDEXED);
        std::fs::create_dir_all(dir.path().join("index")).unwrap();
        Index::create_in_dir(dir.path().join("index"), old.build()).unwrap();
        store.set_cursor(CURSOR, store.last_seq()).unwrap();

        let index = AlertIndex::open(dir.path()).unwrap();
        assert_eq!(index.num_docs(), 0);
        // Before the rebuild, lookups read every change past the start.
        assert_eq!(
            index.group_member_ids(&store, "acme", "01A", 1000).unwrap(),
            ["01A", "01B"]
        );
        index
            .catch_up(&store, &FreshEntries::default(), store.last_seq())
            .unwrap();
        assert_eq!(index.num_docs(), 2, "every stored alert indexed again");
        assert_eq!(
            index
                .search(&Scope::Tenant("acme".into()), "alert", 10)
                .len(),
            2
        );
        drop(index);
        store.close().unwrap();
    }

    /// Skipping segments must give exactly what collecting every segment gives, whatever
    /// the order of segments and of times within them.
    #[test]
    fn newest_first_matches_a_search_of_every_segment() {
        let (schema, f) = schema();
        let index = Index::create_in_ram(schema);
        let mut w: IndexWriter = index.writer_with_num_threads(1, 15_000_000).unwrap();
        w.set_merge_policy(Box::new(tantivy::indexer::NoMergePolicy));
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for segment in 0..8i64 {
            for i in 0..300i64 {
                // Segments overlap in time and times within one are out of order; every
                // time is distinct so the expected order is unique.
                let created = (next() % 1_000_000) as i64 * 16 + segment;
                let mut doc = TantivyDocument::default();
                doc.add_text(f.id, format!("{segment}-{i}"));
                doc.add_text(f.tenant, if i % 3 == 0 { "a" } else { "b" });
                doc.add_text(f.text, if i % 7 == 0 { "rare common" } else { "common" });
                doc.add_i64(f.created, created);
                w.add_document(doc).unwrap();
            }
            w.commit().unwrap();
        }
        let reader = index.reader().unwrap();
        let searcher = reader.searcher();
        assert_eq!(searcher.segment_readers().len(), 8);
        let parser = QueryParser::for_index(&index, vec![f.text]);
        for q in ["common", "rare", "nothing"] {
            let parsed = parser.parse_query(q).unwrap();
            let queries: Vec<Box<dyn Query>> = vec![
                parsed.box_clone(),
                Box::new(BooleanQuery::new(vec![
                    (Occur::Must, parsed.box_clone()),
                    (
                        Occur::Must,
                        Box::new(TermQuery::new(
                            Term::from_field_text(f.tenant, "a"),
                            IndexRecordOption::Basic,
                        )),
                    ),
                ])),
                Box::new(AllQuery),
            ];
            for query in queries {
                for limit in [1, 50, 500, 5000] {
                    let every = searcher
                        .search(
                            query.as_ref(),
                            &TopDocs::with_limit(limit)
                                .order_by_fast_field::<i64>("created", Order::Desc),
                        )
                        .unwrap();
                    let every: Vec<(i64, tantivy::DocAddress)> =
                        every.into_iter().map(|(t, a)| (t.unwrap(), a)).collect();
                    let skipping = newest_first(&searcher, query.as_ref(), limit).unwrap();
                    assert_eq!(skipping, every, "{q} limit {limit}");
                }
            }
        }
    }
}
