//! The appliance's secrets in the data dir: the access-token signing key and the ed25519
//! key that signs evidence bundles. Generated on first start, mode 0600.

use std::io::Write;
use std::path::Path;

use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rand::RngCore;

pub struct Keys {
    pub token_secret: Vec<u8>,
    pub evidence: ed25519_dalek::SigningKey,
}

/// Writes a file readable by its owner only, atomically.
pub fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

pub fn load_or_create(data_dir: &Path, env_secret: Option<&str>) -> anyhow::Result<Keys> {
    let token_secret = match env_secret {
        Some(s) => s.as_bytes().to_vec(),
        None => {
            let p = data_dir.join("secret.key");
            match std::fs::read_to_string(&p) {
                Ok(hexed) => hex::decode(hexed.trim()).map_err(|_| {
                    anyhow::anyhow!(
                        "{} is not hex; delete it to generate a new key (sessions will end)",
                        p.display()
                    )
                })?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let mut k = vec![0u8; 32];
                    rand::rng().fill_bytes(&mut k);
                    write_private(&p, hex::encode(&k).as_bytes())?;
                    k
                }
                Err(e) => return Err(anyhow::anyhow!("reading {}: {e}", p.display())),
            }
        }
    };
    let p = data_dir.join("evidence-signing.pem");
    let evidence = match std::fs::read_to_string(&p) {
        Ok(pem) => ed25519_dalek::SigningKey::from_pkcs8_pem(&pem)
            .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            rand::rng().fill_bytes(&mut seed);
            let key = ed25519_dalek::SigningKey::from_bytes(&seed);
            let pem = key
                .to_pkcs8_pem(Default::default())
                .map_err(|e| anyhow::anyhow!("encoding the evidence key: {e}"))?;
            write_private(&p, pem.as_bytes())?;
            key
        }
        Err(e) => return Err(anyhow::anyhow!("reading {}: {e}", p.display())),
    };
    Ok(Keys {
        token_secret,
        evidence,
    })
}

/// The evidence signing key of a data dir (for `evidence export` outside `serve`).
pub fn load_evidence_key(data_dir: &Path) -> anyhow::Result<ed25519_dalek::SigningKey> {
    let p = data_dir.join("evidence-signing.pem");
    let pem =
        std::fs::read_to_string(&p).map_err(|e| anyhow::anyhow!("reading {}: {e}", p.display()))?;
    ed25519_dalek::SigningKey::from_pkcs8_pem(&pem)
        .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))
}
