//! Online backup and restore. A backup is one file: a header, every tree's records, and
//! the data dir's key and evidence files, closed by a SHA-256 of all that precedes it.
//! It is taken with writes paused (the commit lock held), so it is one consistent
//! point in time while `serve` keeps answering reads.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{Kind, Store, StoreError, migrate};

const MAGIC: &[u8; 8] = b"CRBKUP01";
const TREE_RECORD: u8 = 1;
const FILE_RECORD: u8 = 2;
const END: u8 = 0;

/// Files of the data dir that travel with a backup (relative paths).
fn data_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for name in ["secret.key", "evidence-signing.pem"] {
        if dir.join(name).is_file() {
            out.push(PathBuf::from(name));
        }
    }
    let ev = dir.join("evidence");
    if let Ok(rd) = std::fs::read_dir(&ev) {
        let mut names: Vec<_> = rd
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_file())
            .collect();
        names.sort_by_key(|e| e.file_name());
        for e in names {
            out.push(PathBuf::from("evidence").join(e.file_name()));
        }
    }
    out
}

struct HashingWriter<W: Write> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn put_bytes(w: &mut impl Write, b: &[u8]) -> std::io::Result<()> {
    w.write_all(&(b.len() as u64).to_be_bytes())?;
    w.write_all(b)
}

#[derive(Debug, serde::Serialize)]
pub struct BackupReport {
    pub records: u64,
    pub files: u64,
    pub bytes: u64,
    pub sha256: String,
}

pub fn backup(store: &Store, out: &Path) -> Result<BackupReport, StoreError> {
    let tmp = out.with_extension("partial");
    let f = File::create(&tmp)?;
    let mut w = HashingWriter {
        inner: BufWriter::new(f),
        hash: Sha256::new(),
    };
    let dir = store.data_dir().to_path_buf();
    let (records, files) =
        store.with_writes_paused(|_db, trees| -> Result<(u64, u64), StoreError> {
            w.write_all(MAGIC)?;
            put_bytes(&mut w, super::SCHEMA_VERSION.to_string().as_bytes())?;
            let mut records = 0u64;
            for (kind, tree) in Kind::ALL.iter().zip(trees) {
                for kv in tree.iter() {
                    let (k, v) = kv?;
                    w.write_all(&[TREE_RECORD])?;
                    put_bytes(&mut w, kind.tree_name().as_bytes())?;
                    put_bytes(&mut w, &k)?;
                    put_bytes(&mut w, &v)?;
                    records += 1;
                }
            }
            let mut files = 0u64;
            for rel in data_files(&dir) {
                let mut f = File::open(dir.join(&rel))?;
                let len = f.metadata()?.len();
                w.write_all(&[FILE_RECORD])?;
                put_bytes(&mut w, rel.to_string_lossy().as_bytes())?;
                w.write_all(&len.to_be_bytes())?;
                let copied = std::io::copy(&mut (&mut f).take(len), &mut w)?;
                if copied != len {
                    return Err(StoreError::Invalid(format!(
                        "{} changed while being backed up",
                        rel.display()
                    )));
                }
                files += 1;
            }
            w.write_all(&[END])?;
            Ok((records, files))
        })?;
    let digest = w.hash.clone().finalize();
    w.inner.write_all(&digest)?;
    w.inner.flush()?;
    let f = w
        .inner
        .into_inner()
        .map_err(|e| StoreError::Io(e.into_error()))?;
    f.sync_all()?;
    let bytes = f.metadata()?.len();
    std::fs::rename(&tmp, out)?;
    Ok(BackupReport {
        records,
        files,
        bytes,
        sha256: hex::encode(digest),
    })
}

fn get_bytes(r: &mut impl Read, max: u64) -> Result<Vec<u8>, StoreError> {
    let mut len = [0u8; 8];
    r.read_exact(&mut len)?;
    let len = u64::from_be_bytes(len);
    if len > max {
        return Err(StoreError::Invalid(
            "backup file is corrupt (oversized field)".into(),
        ));
    }
    let mut b = vec![0u8; len as usize];
    r.read_exact(&mut b)?;
    Ok(b)
}

struct HashingReader<R: Read> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// Restores a backup into `data_dir`, which must be empty unless `force` (then its
/// contents are replaced). The checksum is verified before anything is kept.
pub fn restore(file: &Path, data_dir: &Path, force: bool) -> Result<BackupReport, StoreError> {
    if data_dir.exists() {
        let non_empty = std::fs::read_dir(data_dir)?.next().is_some();
        if non_empty && !force {
            return Err(StoreError::Invalid(format!(
                "{} is not empty; restore into an empty directory, or pass --force to replace its contents",
                data_dir.display()
            )));
        }
        if non_empty {
            for e in std::fs::read_dir(data_dir)? {
                let p = e?.path();
                if p.is_dir() {
                    std::fs::remove_dir_all(&p)?;
                } else {
                    std::fs::remove_file(&p)?;
                }
            }
        }
    }
    std::fs::create_dir_all(data_dir)?;
    let result = restore_into(file, data_dir);
    if result.is_err() {
        // A failed restore leaves nothing half-made behind.
        for e in std::fs::read_dir(data_dir)?.flatten() {
            let p = e.path();
            let _ = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
        }
    }
    result
}

fn restore_into(file: &Path, data_dir: &Path) -> Result<BackupReport, StoreError> {
    let total = std::fs::metadata(file)?.len();
    let mut r = HashingReader {
        inner: BufReader::new(File::open(file)?),
        hash: Sha256::new(),
    };
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(StoreError::Invalid(format!(
            "{} is not a CoreRecon backup",
            file.display()
        )));
    }
    let version: u32 = String::from_utf8_lossy(&get_bytes(&mut r, 16)?)
        .parse()
        .map_err(|_| StoreError::Invalid("backup header is corrupt".into()))?;
    let store = Store::open(data_dir)?;
    let mut records = 0u64;
    let mut files = 0u64;
    loop {
        let mut tag = [0u8; 1];
        r.read_exact(&mut tag)?;
        match tag[0] {
            TREE_RECORD => {
                let tree = String::from_utf8_lossy(&get_bytes(&mut r, 256)?).to_string();
                let k = get_bytes(&mut r, 1 << 20)?;
                let v = get_bytes(&mut r, 1 << 30)?;
                let kind = Kind::ALL
                    .iter()
                    .find(|k| k.tree_name() == tree)
                    .ok_or_else(|| {
                        StoreError::Invalid(format!("backup names an unknown tree `{tree}`"))
                    })?;
                store.tree(*kind).insert(k, v)?;
                records += 1;
            }
            FILE_RECORD => {
                let rel =
                    PathBuf::from(String::from_utf8_lossy(&get_bytes(&mut r, 4096)?).to_string());
                if rel.is_absolute()
                    || rel
                        .components()
                        .any(|c| matches!(c, std::path::Component::ParentDir))
                {
                    return Err(StoreError::Invalid(
                        "backup holds a path outside the data dir".into(),
                    ));
                }
                let mut len = [0u8; 8];
                r.read_exact(&mut len)?;
                let len = u64::from_be_bytes(len);
                let dest = data_dir.join(&rel);
                if let Some(parent) = dest.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                let mut out = {
                    use std::os::unix::fs::OpenOptionsExt;
                    std::fs::OpenOptions::new()
                        .write(true)
                        .create(true)
                        .truncate(true)
                        .mode(0o600)
                        .open(&dest)?
                };
                let copied = std::io::copy(&mut (&mut r).take(len), &mut out)?;
                if copied != len {
                    return Err(StoreError::Invalid("backup file is truncated".into()));
                }
                files += 1;
            }
            END => break,
            _ => {
                return Err(StoreError::Invalid(
                    "backup file is corrupt (unknown record)".into(),
                ));
            }
        }
    }
    let digest = r.hash.clone().finalize();
    let mut stored = [0u8; 32];
    r.inner.read_exact(&mut stored)?;
    if stored[..] != digest[..] {
        return Err(StoreError::Invalid(
            "backup checksum does not match: the file is damaged".into(),
        ));
    }
    // The search index is rebuilt from the store on the next start.
    store.tree(Kind::Cursors).clear()?;
    store.close()?;
    drop(store);
    migrate::write_version(data_dir, version)?;
    Ok(BackupReport {
        records,
        files,
        bytes: total,
        sha256: hex::encode(digest),
    })
}
