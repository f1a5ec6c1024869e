//! The control socket: `<data-dir>/control.sock` (mode 0600). Administrative commands
//! (`user add`, `tenant add`, `token create`, `backup`, `reindex`) reach a running
//! appliance through it, since sled lets only one process open the store. Access is
//! the file system's: whoever may read the data dir may administer the appliance.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use corerecon_actors::model::{Role, SourceKind};
use serde::{Deserialize, Serialize};

use crate::accounts::{self, NewUser};
use crate::store::{Kind, Store, backup};

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    Ping,
    UserAdd {
        username: String,
        password: String,
        role: Role,
        tenant: Option<String>,
    },
    TenantAdd {
        slug: String,
        display_name: String,
    },
    TokenCreate {
        tenant: String,
        source: SourceKind,
        signing_secret: Option<String>,
    },
    Backup {
        out: PathBuf,
    },
    Reindex,
    EvidenceExport {
        incident: String,
        out: PathBuf,
    },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Reply {
    Ok { text: String },
    Err { error: String },
}

pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("control.sock")
}

/// Sends a request to a running appliance; `None` when none is listening.
pub fn call(data_dir: &Path, req: &Request) -> anyhow::Result<Option<Reply>> {
    let path = socket_path(data_dir);
    let Ok(mut stream) = UnixStream::connect(&path) else {
        return Ok(None);
    };
    let mut line = serde_json::to_string(req)?;
    line.push('\n');
    stream.write_all(line.as_bytes())?;
    let mut reply = String::new();
    BufReader::new(stream).read_line(&mut reply)?;
    Ok(Some(serde_json::from_str(&reply)?))
}

/// Carries out a request on an open store.
pub fn execute(store: &Store, req: Request) -> Reply {
    let result: anyhow::Result<String> = (|| match req {
        Request::Ping => Ok("pong".into()),
        Request::UserAdd {
            username,
            password,
            role,
            tenant,
        } => {
            let u = accounts::add_user(
                store,
                NewUser {
                    username: &username,
                    password: &password,
                    role,
                    tenant: tenant.as_deref(),
                    must_change_password: false,
                },
            )?;
            Ok(format!(
                "user {} added (id {}, role {})",
                u.username,
                u.id,
                u.role.as_str()
            ))
        }
        Request::TenantAdd { slug, display_name } => {
            let t = accounts::add_tenant(store, &slug, &display_name)?;
            Ok(format!("tenant {} added", t.slug))
        }
        Request::TokenCreate {
            tenant,
            source,
            signing_secret,
        } => {
            let (_, clear) = accounts::create_ingest_token(
                store,
                &tenant,
                source,
                signing_secret.as_deref(),
                "cli",
            )?;
            Ok(clear)
        }
        Request::Backup { out } => {
            let r = backup::backup(store, &out)?;
            Ok(serde_json::to_string_pretty(&r)?)
        }
        Request::EvidenceExport { incident, out } => {
            let key = crate::keys::load_evidence_key(store.data_dir())?;
            crate::evidence::export(store, &key, &incident, &out)
        }
        Request::Reindex => {
            store.tree(Kind::Cursors).remove("search")?;
            std::fs::remove_dir_all(store.data_dir().join("index")).or_else(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    Ok(())
                } else {
                    Err(e)
                }
            })?;
            Ok("search index will be rebuilt from the store".into())
        }
    })();
    match result {
        Ok(text) => Reply::Ok { text },
        Err(e) => Reply::Err {
            error: format!("{e:#}"),
        },
    }
}

/// Serves the control socket until the process ends.
pub fn listen(store: Store, on_reindex: impl Fn() + Send + Sync + 'static) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let path = socket_path(store.data_dir());
    let _ = std::fs::remove_file(&path);
    let listener = std::os::unix::net::UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    let on_reindex = std::sync::Arc::new(on_reindex);
    std::thread::Builder::new()
        .name("control-socket".into())
        .spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let store = store.clone();
                let on_reindex = on_reindex.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(&conn);
                    let mut line = String::new();
                    if reader.read_line(&mut line).is_err() || line.len() > 1 << 20 {
                        return;
                    }
                    let reply = match serde_json::from_str::<Request>(&line) {
                        Ok(Request::Reindex) => {
                            on_reindex();
                            Reply::Ok {
                                text: "search index rebuild started".into(),
                            }
                        }
                        Ok(req) => execute(&store, req),
                        Err(e) => Reply::Err {
                            error: format!("bad request: {e}"),
                        },
                    };
                    let mut out = serde_json::to_string(&reply).unwrap_or_default();
                    out.push('\n');
                    let _ = (&conn).write_all(out.as_bytes());
                });
            }
        })?;
    Ok(())
}
