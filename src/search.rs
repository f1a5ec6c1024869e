//! The full-text index of alerts (tantivy), fed from the change log. It is a derived
//! view: its cursor lives in sled, a crash only means re-reading a few changes, and
//! `corerecon reindex` rebuilds it from the store.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use corerecon_actors::model::{Alert, Scope};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, QueryParser, TermQuery};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TEXT, Value,
};
use tantivy::{Index, IndexReader, IndexWriter, Order, ReloadPolicy, TantivyDocument, Term};

use crate::store::{Kind, Store, decode};

const CURSOR: &str = "search";
/// Text of an alert's raw payload that is indexed, at most.
const RAW_TEXT_MAX: usize = 8 * 1024;

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    tenant: Field,
    text: Field,
    created: Field,
}

pub struct AlertIndex {
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let id = b.add_text_field("id", STRING | STORED);
    let tenant = b.add_text_field("tenant", STRING);
    let text = b.add_text_field("text", TEXT);
    let created = b.add_i64_field("created", FAST | INDEXED);
    (
        b.build(),
        Fields {
            id,
            tenant,
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

impl AlertIndex {
    pub fn open(data_dir: &Path) -> tantivy::Result<AlertIndex> {
        let dir = data_dir.join("index");
        std::fs::create_dir_all(&dir)?;
        let (schema, fields) = schema();
        let index = match Index::open_in_dir(&dir) {
            Ok(i) => i,
            Err(_) => {
                // Unreadable or absent: it is derived data, start afresh.
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
        })
    }

    fn document(&self, a: &Alert) -> TantivyDocument {
        let f = self.fields;
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
        let mut doc = TantivyDocument::default();
        doc.add_text(f.id, &a.id);
        doc.add_text(f.tenant, &a.tenant);
        doc.add_text(f.text, &text);
        doc.add_i64(f.created, a.created_at.timestamp_millis());
        doc
    }

    fn upsert(&self, w: &IndexWriter, a: &Alert) -> tantivy::Result<()> {
        w.delete_term(Term::from_field_text(self.fields.id, &a.id));
        w.add_document(self.document(a))?;
        Ok(())
    }

    /// Indexes the changes after the stored cursor; returns how many alerts were indexed.
    pub fn catch_up(&self, store: &Store, upto: u64) -> anyhow::Result<usize> {
        let mut cursor = store.cursor(CURSOR)?;
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut indexed = 0;
        if cursor == 0 && store.len(Kind::Alerts) > 0 {
            // First run (or reindex): the change log may be trimmed; the store is complete.
            w.delete_all_documents()?;
            for kv in store.tree(Kind::Alerts).iter() {
                let (_, v) = kv?;
                if let Ok(a) = decode::<Alert>(&v) {
                    w.add_document(self.document(&a))?;
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
                    if c.kind.starts_with("alert.")
                        && seen.insert(c.id.clone())
                        && let Some(a) = store.get::<Alert>(&c.id)?
                    {
                        // The newest change of an alert in this stretch: a creation has
                        // nothing to replace (a creation indexed twice after a crash shows
                        // once, as `search` keeps each id once).
                        if c.kind == "alert.created" {
                            w.add_document(self.document(&a))?;
                        } else {
                            self.upsert(&w, &a)?;
                        }
                        indexed += 1;
                    }
                }
                cursor = last;
            }
        }
        if indexed > 0 {
            w.commit()?;
            self.reader.reload()?;
        }
        drop(w);
        store.set_cursor(CURSOR, cursor)?;
        Ok(indexed)
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
                (
                    Occur::Must,
                    Box::new(TermQuery::new(
                        Term::from_field_text(f.tenant, t),
                        IndexRecordOption::Basic,
                    )),
                ),
            ])),
        };
        let searcher = self.reader.searcher();
        let collector =
            TopDocs::with_limit(limit.max(1)).order_by_fast_field::<i64>("created", Order::Desc);
        let Ok(hits) = searcher.search(&query, &collector) else {
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

/// Feeds the index from the change log until the process ends. Commits at most every
/// 200 ms, so an alert is searchable well within a second of its acknowledgement.
pub fn spawn_indexer(index: Arc<AlertIndex>, store: Store) {
    actix_web::rt::spawn(async move {
        let mut durable = store.durable_seq();
        loop {
            let upto = store.last_seq();
            let (idx, st) = (index.clone(), store.clone());
            match actix_web::rt::task::spawn_blocking(move || idx.catch_up(&st, upto)).await {
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
