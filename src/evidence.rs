//! Evidence files with a chain of custody. Uploads stream to the data dir while being
//! hashed (no whole file in memory), are never overwritten, and are re-verified against
//! their SHA-256 on every download; every access is a custody entry in a hash chain per
//! incident. `corerecon evidence export` writes the files, their hashes and the chain as
//! one bundle signed with the appliance's ed25519 key; `corerecon evidence verify`
//! checks a bundle offline.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use chrono::Utc;
use corerecon_actors::incident::{
    CustodyAction, CustodyEntry, CustodyRecord, append, verify_chain,
};
use ed25519_dalek::{Signature, Signer, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::incidents::{EvidenceRecord, custody_chain, custody_key, evidence_list};
use crate::store::{Batch, Store, StoreError, key};

pub fn evidence_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("evidence")
}

pub fn evidence_path(data_dir: &Path, id: &str) -> PathBuf {
    evidence_dir(data_dir).join(id)
}

/// Appends one custody entry to an incident's chain. The caller holds the custody lock so
/// that two appends never share a predecessor.
pub fn custody(
    store: &Store,
    batch: &mut Batch,
    record: CustodyRecord,
) -> Result<CustodyEntry, StoreError> {
    let chain = custody_chain(store, &record.incident_id)?;
    let entry = append(chain.last(), record);
    batch.put(custody_key(&entry.incident_id, entry.seq), &entry);
    Ok(entry)
}

/// SHA-256 and size of a file, read in chunks.
pub fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut n = 0u64;
    loop {
        let r = f.read(&mut buf)?;
        if r == 0 {
            break;
        }
        h.update(&buf[..r]);
        n += r as u64;
    }
    Ok((hex::encode(h.finalize()), n))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct BundleFile {
    pub id: String,
    pub filename: String,
    pub size: u64,
    pub sha256: String,
    pub uploaded_by: String,
    pub uploaded_at: chrono::DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct BundleManifest {
    pub format: String,
    pub incident: String,
    pub tenant: String,
    pub exported_at: chrono::DateTime<Utc>,
    pub files: Vec<BundleFile>,
    pub custody: Vec<CustodyEntry>,
    /// The appliance's ed25519 public key, hex.
    pub public_key: String,
}

const BUNDLE_FORMAT: &str = "corerecon-evidence-bundle/1";

/// Writes the bundle: line 1 the manifest (JSON), line 2 the hex signature of line 1's
/// bytes, then each file's bytes in manifest order.
pub fn export(
    store: &Store,
    key_pair: &ed25519_dalek::SigningKey,
    incident: &str,
    out: &Path,
) -> anyhow::Result<String> {
    let i = store
        .get::<corerecon_actors::incident::Incident>(incident)?
        .ok_or_else(|| anyhow::anyhow!("no incident `{incident}`"))?;
    let records = evidence_list(store, incident)?;
    let mut files = Vec::new();
    for r in &records {
        let (sha, size) = hash_file(&evidence_path(store.data_dir(), &r.id))?;
        if sha != r.sha256 || size != r.size {
            anyhow::bail!(
                "evidence {} ({}) does not match its recorded SHA-256: it was altered on disk; not exported",
                r.id,
                r.filename
            );
        }
        files.push(BundleFile {
            id: r.id.clone(),
            filename: r.filename.clone(),
            size: r.size,
            sha256: r.sha256.clone(),
            uploaded_by: r.uploaded_by.clone(),
            uploaded_at: r.uploaded_at,
        });
    }
    let mut b = Batch::new();
    for r in &records {
        custody(
            store,
            &mut b,
            CustodyRecord {
                at: Utc::now(),
                evidence_id: r.id.clone(),
                incident_id: incident.into(),
                actor: "cli".into(),
                ip: None,
                action: CustodyAction::Export,
                reason: Some(format!("exported to {}", out.display())),
            },
        )?;
        store.commit(std::mem::take(&mut b))?;
    }
    let chain = custody_chain(store, incident)?;
    verify_chain(&chain).map_err(|e| anyhow::anyhow!("the custody chain is broken: {e:?}"))?;
    let manifest = BundleManifest {
        format: BUNDLE_FORMAT.into(),
        incident: incident.into(),
        tenant: i.tenant,
        exported_at: Utc::now(),
        files,
        custody: chain,
        public_key: hex::encode(key_pair.verifying_key().as_bytes()),
    };
    let line = serde_json::to_string(&manifest)?;
    let sig = key_pair.sign(line.as_bytes());
    let tmp = out.with_extension("partial");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
    writeln!(w, "{line}")?;
    writeln!(w, "{}", hex::encode(sig.to_bytes()))?;
    for f in &manifest.files {
        let mut src = std::fs::File::open(evidence_path(store.data_dir(), &f.id))?;
        std::io::copy(&mut src, &mut w)?;
    }
    let f = w.into_inner().map_err(|e| e.into_error())?;
    f.sync_all()?;
    std::fs::rename(&tmp, out)?;
    Ok(format!(
        "exported {} file(s) and {} custody entries of incident {incident} to {}; signer key {}",
        manifest.files.len(),
        manifest.custody.len(),
        out.display(),
        manifest.public_key
    ))
}

#[derive(Debug, Serialize)]
pub struct VerifyReport {
    pub incident: String,
    pub files: usize,
    pub custody_entries: usize,
    pub public_key: String,
}

/// Checks a bundle offline: the signature over the manifest, every file's SHA-256 and
/// size, and the custody hash chain. `trusted_key` pins the signer when given.
pub fn verify(path: &Path, trusted_key: Option<&str>) -> anyhow::Result<VerifyReport> {
    let mut r = BufReader::new(std::fs::File::open(path)?);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let manifest_line = line.trim_end_matches('\n').to_string();
    let mut sig_line = String::new();
    r.read_line(&mut sig_line)?;
    let manifest: BundleManifest = serde_json::from_str(&manifest_line)
        .map_err(|e| anyhow::anyhow!("not an evidence bundle: {e}"))?;
    if manifest.format != BUNDLE_FORMAT {
        anyhow::bail!("unknown bundle format `{}`", manifest.format);
    }
    let key_bytes: [u8; 32] = hex::decode(&manifest.public_key)?
        .try_into()
        .map_err(|_| anyhow::anyhow!("the bundle's public key is not 32 bytes"))?;
    if let Some(t) = trusted_key
        && !t.eq_ignore_ascii_case(&manifest.public_key)
    {
        anyhow::bail!(
            "the bundle was signed by {}, not the trusted key {t}",
            manifest.public_key
        );
    }
    let key = VerifyingKey::from_bytes(&key_bytes)?;
    let sig_bytes: [u8; 64] = hex::decode(sig_line.trim())?
        .try_into()
        .map_err(|_| anyhow::anyhow!("the signature is not 64 bytes"))?;
    key.verify(manifest_line.as_bytes(), &Signature::from_bytes(&sig_bytes))
        .map_err(|_| {
            anyhow::anyhow!("SIGNATURE INVALID: the manifest was altered or signed by another key")
        })?;
    for f in &manifest.files {
        let mut h = Sha256::new();
        let mut left = f.size;
        let mut buf = vec![0u8; 256 * 1024];
        while left > 0 {
            let want = (left as usize).min(buf.len());
            r.read_exact(&mut buf[..want]).map_err(|_| {
                anyhow::anyhow!("file {} ({}) is truncated in the bundle", f.id, f.filename)
            })?;
            h.update(&buf[..want]);
            left -= want as u64;
        }
        if hex::encode(h.finalize()) != f.sha256 {
            anyhow::bail!(
                "file {} ({}) does not match its SHA-256: altered",
                f.id,
                f.filename
            );
        }
    }
    let mut rest = [0u8; 1];
    if r.read(&mut rest)? != 0 {
        anyhow::bail!("the bundle has bytes after its last file");
    }
    verify_chain(&manifest.custody).map_err(|e| anyhow::anyhow!("custody chain broken: {e:?}"))?;
    Ok(VerifyReport {
        incident: manifest.incident,
        files: manifest.files.len(),
        custody_entries: manifest.custody.len(),
        public_key: manifest.public_key,
    })
}

pub fn record_key(incident: &str, id: &str) -> Vec<u8> {
    key(&[incident, id])
}

pub fn get_record(
    store: &Store,
    incident: &str,
    id: &str,
) -> Result<Option<EvidenceRecord>, StoreError> {
    store.get::<EvidenceRecord>(record_key(incident, id))
}
