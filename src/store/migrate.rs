//! Start-up migrations. The data dir's `VERSION` file names its schema version; each
//! step upgrades the records of the trees it names from one version to the next. A step
//! is idempotent: records already at the new record version are left alone, and the
//! `VERSION` file is rewritten atomically only after the step's writes are flushed, so
//! a crash in the middle re-runs the step on the next start without harm.

use std::path::Path;

use serde_json::{Value, json};

use super::{Kind, SCHEMA_VERSION, Store, StoreError, open_envelope};

pub struct Step {
    /// Schema version this step upgrades to.
    pub to: u32,
    pub name: &'static str,
    /// Trees touched, with the record version their values carry after the step.
    pub trees: &'static [(Kind, u16)],
    pub apply: fn(Kind, &mut Value),
}

/// The migrations, in order. Append only.
pub const STEPS: &[Step] = &[Step {
    to: 2,
    name: "alerts: numeric severity becomes a word, tactics added; users: status flags added",
    trees: &[(Kind::Alerts, 2), (Kind::Users, 2)],
    apply: v1_to_v2,
}];

fn v1_to_v2(kind: Kind, v: &mut Value) {
    let Some(obj) = v.as_object_mut() else { return };
    match kind {
        Kind::Alerts => {
            if let Some(n) = obj.get("severity").and_then(Value::as_i64) {
                // Schema 1 stored severity as 0 (info) .. 4 (critical).
                let word = match n {
                    i64::MIN..=0 => "info",
                    1 => "low",
                    2 => "medium",
                    3 => "high",
                    _ => "critical",
                };
                obj.insert("severity".into(), json!(word));
            }
            obj.entry("tactics").or_insert_with(|| json!([]));
            obj.entry("storm").or_insert(json!(false));
        }
        Kind::Users => {
            obj.entry("disabled").or_insert(json!(false));
            obj.entry("must_change_password").or_insert(json!(false));
        }
        _ => {}
    }
}

pub fn read_version(data_dir: &Path) -> Result<Option<u32>, StoreError> {
    match std::fs::read_to_string(data_dir.join("VERSION")) {
        Ok(s) => s.trim().parse::<u32>().map(Some).map_err(|_| {
            StoreError::Invalid(format!("VERSION file holds `{}`, not a number", s.trim()))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub fn write_version(data_dir: &Path, version: u32) -> Result<(), StoreError> {
    let tmp = data_dir.join("VERSION.tmp");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        writeln!(f, "{version}")?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, data_dir.join("VERSION"))?;
    Ok(())
}

#[derive(Debug, Default, serde::Serialize)]
pub struct MigrationReport {
    pub from: u32,
    pub to: u32,
    pub upgraded: usize,
}

/// Brings the store to [`SCHEMA_VERSION`]. A data dir without a VERSION file is new
/// (empty store) or, when it holds records, schema 1.
pub fn run(store: &Store) -> Result<MigrationReport, StoreError> {
    let dir = store.data_dir().to_path_buf();
    let found = match read_version(&dir)? {
        Some(v) => v,
        None if store.len(Kind::Users) == 0 && store.len(Kind::Alerts) == 0 => SCHEMA_VERSION,
        None => 1,
    };
    if found > SCHEMA_VERSION {
        return Err(StoreError::Invalid(format!(
            "the data dir has schema version {found}, newer than this build's {SCHEMA_VERSION}: run a newer corerecon"
        )));
    }
    let mut report = MigrationReport {
        from: found,
        to: SCHEMA_VERSION,
        upgraded: 0,
    };
    for step in STEPS.iter().filter(|s| s.to > found) {
        tracing::info!(to = step.to, name = step.name, "migrating store");
        for (kind, record_version) in step.trees {
            let tree = store.tree(*kind);
            for kv in tree.iter() {
                let (k, v) = kv?;
                // An unreadable record is left for the reader to name in its error.
                let Ok((version, body)) = open_envelope(&v) else {
                    continue;
                };
                if version >= *record_version {
                    continue;
                }
                let mut value: Value =
                    rmp_serde::from_slice(&body).map_err(|e| StoreError::Decode {
                        tree: kind.tree_name(),
                        reason: e.to_string(),
                    })?;
                (step.apply)(*kind, &mut value);
                let mut out = record_version.to_be_bytes().to_vec();
                rmp_serde::encode::write_named(&mut out, &value)
                    .map_err(|e| StoreError::Invalid(e.to_string()))?;
                tree.insert(k, out)?;
                report.upgraded += 1;
            }
        }
        store.tree(Kind::Meta).flush()?;
        for (kind, _) in step.trees {
            store.tree(*kind).flush()?;
        }
        write_version(&dir, step.to)?;
    }
    if read_version(&dir)? != Some(SCHEMA_VERSION) {
        write_version(&dir, SCHEMA_VERSION)?;
    }
    Ok(report)
}
