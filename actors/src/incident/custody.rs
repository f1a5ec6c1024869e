//! The chain of custody of evidence as a hash chain: every access (upload, download, failed
//! verification, export) is one entry carrying the hash of the entry before, so editing,
//! deleting, reordering or inserting an entry breaks the chain where it happened. This is
//! what an auditor checks offline in an exported bundle.
//!
//! The hashed form is a fixed, length-prefixed text (not serde JSON), so the hash does not
//! depend on a serialiser's whims and can be recomputed by anyone from the documented
//! format:
//!
//! ```text
//! corerecon.custody.v1\n
//! seq=<decimal>\n
//! at=<len>:<RFC 3339 UTC, nanoseconds, Z>\n
//! evidence_id=<len>:<text>\n  incident_id=… actor=…
//! ip=~\n | ip=<len>:<text>\n          (~ = absent)
//! action=<upload|download|verify_failed|export>\n
//! reason=~\n | reason=<len>:<text>\n
//! prev_hash=<len>:<hex>\n
//! ```
//! where `<len>` is the byte length of the UTF-8 text; the hash is lowercase hex SHA-256.
//!
//! A chain alone cannot reveal that its newest entries were cut off; keep its head
//! ([`ChainHead`]) somewhere else too (the evidence record, a signed export) and check with
//! [`verify_chain_against`].

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CustodyAction {
    Upload,
    Download,
    /// A download refused because the stored file no longer matched its SHA-256.
    VerifyFailed,
    Export,
}

impl CustodyAction {
    pub fn as_str(self) -> &'static str {
        match self {
            CustodyAction::Upload => "upload",
            CustodyAction::Download => "download",
            CustodyAction::VerifyFailed => "verify_failed",
            CustodyAction::Export => "export",
        }
    }
}

/// What happened, before it gets its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustodyRecord {
    pub at: DateTime<Utc>,
    pub evidence_id: String,
    pub incident_id: String,
    pub actor: String,
    pub ip: Option<String>,
    pub action: CustodyAction,
    pub reason: Option<String>,
}

/// One link of the chain, as stored and exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustodyEntry {
    /// 1 for the first entry, then +1 each.
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub evidence_id: String,
    pub incident_id: String,
    pub actor: String,
    pub ip: Option<String>,
    pub action: CustodyAction,
    pub reason: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

/// The newest entry's position and hash, kept outside the chain to detect truncation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    pub seq: u64,
    pub hash: String,
}

fn field(out: &mut String, name: &str, value: Option<&str>) {
    match value {
        Some(v) => {
            let _ = writeln!(out, "{name}={}:{v}", v.len());
        }
        None => {
            let _ = writeln!(out, "{name}=~");
        }
    }
}

impl CustodyEntry {
    /// The exact bytes that are hashed (see the module docs).
    pub fn canonical(&self) -> String {
        let mut s = String::from("corerecon.custody.v1\n");
        let _ = writeln!(s, "seq={}", self.seq);
        field(
            &mut s,
            "at",
            Some(&self.at.to_rfc3339_opts(SecondsFormat::Nanos, true)),
        );
        field(&mut s, "evidence_id", Some(&self.evidence_id));
        field(&mut s, "incident_id", Some(&self.incident_id));
        field(&mut s, "actor", Some(&self.actor));
        field(&mut s, "ip", self.ip.as_deref());
        let _ = writeln!(s, "action={}", self.action.as_str());
        field(&mut s, "reason", self.reason.as_deref());
        field(&mut s, "prev_hash", Some(&self.prev_hash));
        s
    }

    pub fn compute_hash(&self) -> String {
        hex::encode(Sha256::digest(self.canonical().as_bytes()))
    }

    pub fn head(&self) -> ChainHead {
        ChainHead {
            seq: self.seq,
            hash: self.hash.clone(),
        }
    }
}

/// The entry that follows `prev` (or starts a chain when `None`).
pub fn append(prev: Option<&CustodyEntry>, record: CustodyRecord) -> CustodyEntry {
    let (seq, prev_hash) = match prev {
        Some(p) => (p.seq.saturating_add(1), p.hash.clone()),
        None => (1, GENESIS_HASH.to_string()),
    };
    let mut e = CustodyEntry {
        seq,
        at: record.at,
        evidence_id: record.evidence_id,
        incident_id: record.incident_id,
        actor: record.actor,
        ip: record.ip,
        action: record.action,
        reason: record.reason,
        prev_hash,
        hash: String::new(),
    };
    e.hash = e.compute_hash();
    e
}

/// How the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChainBreak {
    #[error("the first entry is not a chain start (seq 1 with a zero previous hash)")]
    BadGenesis,
    #[error("expected entry {expected}, found {found}: an entry was deleted, inserted or moved")]
    OutOfSequence { expected: u64, found: u64 },
    #[error("the entry does not link to the one before it")]
    BrokenLink,
    #[error("the entry's content does not match its hash: it was edited")]
    HashMismatch,
    #[error("the chain ends before its recorded head: newer entries were removed")]
    Truncated,
    #[error("the chain's newest entry is not its recorded head")]
    HeadMismatch,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("chain of custody broken at entry {at_seq}: {reason}")]
pub struct ChainError {
    pub at_seq: u64,
    pub reason: ChainBreak,
}

/// Checks every entry's hash and its link to the one before. An empty chain is valid.
pub fn verify_chain(entries: &[CustodyEntry]) -> Result<(), ChainError> {
    let mut prev: Option<&CustodyEntry> = None;
    for e in entries {
        let fail = |reason| {
            Err(ChainError {
                at_seq: e.seq,
                reason,
            })
        };
        if e.compute_hash() != e.hash {
            return fail(ChainBreak::HashMismatch);
        }
        match prev {
            None => {
                if e.seq != 1 || e.prev_hash != GENESIS_HASH {
                    return fail(ChainBreak::BadGenesis);
                }
            }
            Some(p) => {
                let expected = p.seq.saturating_add(1);
                if e.seq != expected {
                    return fail(ChainBreak::OutOfSequence {
                        expected,
                        found: e.seq,
                    });
                }
                if e.prev_hash != p.hash {
                    return fail(ChainBreak::BrokenLink);
                }
            }
        }
        prev = Some(e);
    }
    Ok(())
}

/// [`verify_chain`], and the chain must end exactly at `head` (catches a cut-off tail and a
/// chain rebuilt from scratch with fresh hashes).
pub fn verify_chain_against(entries: &[CustodyEntry], head: &ChainHead) -> Result<(), ChainError> {
    verify_chain(entries)?;
    let last = entries.last();
    let last_seq = last.map(|e| e.seq).unwrap_or(0);
    if last_seq < head.seq {
        return Err(ChainError {
            at_seq: head.seq,
            reason: ChainBreak::Truncated,
        });
    }
    match last {
        Some(e) if e.seq == head.seq && e.hash == head.hash => Ok(()),
        _ => Err(ChainError {
            at_seq: last_seq,
            reason: ChainBreak::HeadMismatch,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn record(k: u32, action: CustodyAction) -> CustodyRecord {
        CustodyRecord {
            at: t("2026-01-01T10:00:00.123456789Z") + chrono::TimeDelta::minutes(i64::from(k)),
            evidence_id: "ev1".into(),
            incident_id: "inc1".into(),
            actor: format!("analyst{k}"),
            ip: Some("192.0.2.7".into()),
            action,
            reason: k.is_multiple_of(2).then(|| "case review".to_string()),
        }
    }

    fn chain(n: u32) -> Vec<CustodyEntry> {
        let mut out: Vec<CustodyEntry> = Vec::new();
        for k in 0..n {
            let action = if k == 0 {
                CustodyAction::Upload
            } else {
                CustodyAction::Download
            };
            let e = append(out.last(), record(k, action));
            out.push(e);
        }
        out
    }

    fn err(r: Result<(), ChainError>) -> (u64, ChainBreak) {
        let e = r.unwrap_err();
        (e.at_seq, e.reason)
    }

    #[test]
    fn a_fresh_chain_verifies() {
        let c = chain(5);
        assert_eq!(c[0].prev_hash, GENESIS_HASH);
        assert_eq!(c[0].seq, 1);
        assert_eq!(c[4].seq, 5);
        assert_eq!(c[3].prev_hash, c[2].hash);
        assert!(verify_chain(&c).is_ok());
        assert!(verify_chain(&[]).is_ok());
        assert!(verify_chain_against(&c, &c[4].head()).is_ok());
    }

    #[test]
    fn the_hashed_form_is_pinned() {
        let e = append(None, record(0, CustodyAction::Upload));
        assert_eq!(
            e.canonical(),
            "corerecon.custody.v1\nseq=1\nat=30:2026-01-01T10:00:00.123456789Z\nevidence_id=3:ev1\n\
             incident_id=4:inc1\nactor=8:analyst0\nip=9:192.0.2.7\naction=upload\nreason=11:case review\n\
             prev_hash=64:0000000000000000000000000000000000000000000000000000000000000000\n"
        );
        assert_eq!(
            e.hash,
            hex::encode(Sha256::digest(e.canonical().as_bytes()))
        );
        // Absent and empty are different.
        let mut a = e.clone();
        a.ip = None;
        let mut b = e.clone();
        b.ip = Some(String::new());
        assert_ne!(a.compute_hash(), b.compute_hash());
    }

    #[test]
    fn the_chain_survives_a_json_round_trip() {
        let c = chain(3);
        let back: Vec<CustodyEntry> =
            serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert!(verify_chain(&back).is_ok());
    }

    #[test]
    fn an_edited_entry_is_detected() {
        let mut c = chain(5);
        c[2].actor = "mallory".into();
        assert_eq!(err(verify_chain(&c)), (3, ChainBreak::HashMismatch));
    }

    #[test]
    fn an_edited_entry_with_a_recomputed_hash_breaks_the_next_link() {
        let mut c = chain(5);
        c[2].reason = Some("nothing to see".into());
        c[2].hash = c[2].compute_hash();
        assert_eq!(err(verify_chain(&c)), (4, ChainBreak::BrokenLink));
    }

    #[test]
    fn a_deleted_entry_is_detected() {
        let mut c = chain(5);
        c.remove(2);
        assert_eq!(
            err(verify_chain(&c)),
            (
                4,
                ChainBreak::OutOfSequence {
                    expected: 3,
                    found: 4
                }
            )
        );
        let mut first_gone = chain(3);
        first_gone.remove(0);
        assert_eq!(err(verify_chain(&first_gone)), (2, ChainBreak::BadGenesis));
    }

    #[test]
    fn reordered_entries_are_detected() {
        let mut c = chain(5);
        c.swap(1, 3);
        assert_eq!(
            err(verify_chain(&c)),
            (
                4,
                ChainBreak::OutOfSequence {
                    expected: 2,
                    found: 4
                }
            )
        );
    }

    #[test]
    fn an_inserted_entry_is_detected() {
        let c = chain(5);
        // A forged entry that links correctly to its predecessor and takes the next number.
        let forged = append(Some(&c[1]), record(9, CustodyAction::Export));
        let mut tampered = c.clone();
        tampered.insert(2, forged);
        assert_eq!(
            err(verify_chain(&tampered)),
            (
                3,
                ChainBreak::OutOfSequence {
                    expected: 4,
                    found: 3
                }
            )
        );
        // Renumbering everything after it still leaves a broken link.
        for (i, e) in tampered.iter_mut().enumerate().skip(3) {
            e.seq = i as u64 + 1;
            e.hash = e.compute_hash();
        }
        assert_eq!(err(verify_chain(&tampered)), (4, ChainBreak::BrokenLink));
    }

    #[test]
    fn a_cut_off_or_rebuilt_chain_is_detected_against_its_head() {
        let c = chain(5);
        let head = c[4].head();
        assert_eq!(
            err(verify_chain_against(&c[..3], &head)),
            (5, ChainBreak::Truncated)
        );
        assert_eq!(
            err(verify_chain_against(&[], &head)),
            (5, ChainBreak::Truncated)
        );
        // Rebuilt from scratch with an edit: internally consistent, but not the head.
        let mut rebuilt: Vec<CustodyEntry> = Vec::new();
        for (k, e) in c.iter().enumerate() {
            let mut r = record(k as u32, e.action);
            if k == 1 {
                r.actor = "mallory".into();
            }
            let next = append(rebuilt.last(), r);
            rebuilt.push(next);
        }
        assert!(verify_chain(&rebuilt).is_ok());
        assert_eq!(
            err(verify_chain_against(&rebuilt, &head)),
            (5, ChainBreak::HeadMismatch)
        );
    }

    #[test]
    fn errors_read_well() {
        let e = ChainError {
            at_seq: 3,
            reason: ChainBreak::HashMismatch,
        };
        assert_eq!(
            e.to_string(),
            "chain of custody broken at entry 3: the entry's content does not match its hash: it was edited"
        );
        assert_eq!(
            serde_json::to_value(CustodyAction::VerifyFailed).unwrap(),
            "verify_failed"
        );
    }
}
