//! The `corerecon` command line (CONTRACT.md: Command line).

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use corerecon_actors::model::{Role, SourceKind};

use crate::accounts;
use crate::config::{self, Opt, Secrets, Settings};
use crate::control;
use crate::store::{Store, backup, migrate};

/// CoreRecon: a Security Operations Center in one binary. Alert ingest from SIEMs and
/// syslog, triage, incidents with SLAs, and a live dashboard.
///
/// Settings come from flags, CORERECON_* environment variables and an optional TOML
/// file (--config), in that order of precedence. Secrets (CORERECON_ADMIN_PASSWORD,
/// CORERECON_SECRET_KEY) are read from the environment only.
#[derive(Debug, Parser)]
#[command(
    name = "corerecon",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub opt: Opt,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the appliance: HTTP API and dashboard, ingest, every actor.
    ///
    /// On an empty data dir, creates tenant `default` and user `admin`, printing the
    /// generated password once (also written to <data-dir>/initial-admin-password).
    Serve,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage tenants (the MSP's clients).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage ingest tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Write a consistent backup of the data dir to FILE (works while `serve` runs).
    Backup {
        /// Where to write the backup.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Restore a backup into the data dir, which must be empty unless --force.
    Restore {
        /// The backup file.
        file: PathBuf,
        /// Replace the contents of a non-empty data dir.
        #[arg(long)]
        force: bool,
    },
    /// Rebuild the search index from the store (on the next start of `serve`).
    Reindex,
    /// Validate settings and the data dir; exits non-zero with every problem found.
    Check,
    /// Export or verify signed evidence bundles (files, hashes and chain of custody).
    #[command(subcommand)]
    Evidence(EvidenceCommand),
}

#[derive(Debug, Subcommand)]
pub enum EvidenceCommand {
    /// Write an incident's evidence files, their SHA-256 hashes and the custody chain as
    /// one bundle signed with the appliance's ed25519 key.
    Export {
        /// The incident id.
        incident: String,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Check a bundle offline: signature, every file's hash, the custody chain.
    Verify {
        file: PathBuf,
        /// Hex ed25519 public key the bundle must be signed with (printed by `export`).
        #[arg(long, value_name = "HEX")]
        key: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user; the password is read from standard input.
    Add {
        #[arg(long)]
        username: String,
        /// admin, analyst or viewer.
        #[arg(long, value_parser = ["admin", "analyst", "viewer"])]
        role: String,
        /// Bind the user to one tenant; without it the user is MSP staff and sees all.
        #[arg(long)]
        tenant: Option<String>,
        /// Read the password from standard input (required: never pass it as a flag).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Add a tenant with slug NAME ([a-z0-9-]{1,63}).
    Add {
        name: String,
        /// A display name; defaults to the slug.
        #[arg(long)]
        display_name: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an ingest token for one tenant and source, and print it (shown once).
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long, value_parser = ["elastic", "sentinel", "splunk", "generic", "hec", "syslog"])]
        source: String,
        /// Also require X-CoreRecon-Signature HMACs made with this secret.
        #[arg(long)]
        signing_secret: Option<String>,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let file = match config::load_file(&cli.opt) {
        Ok(f) => f,
        Err(problems) => return report(&problems),
    };
    let settings = match config::resolve(&cli.opt, &file, Secrets::from_env()) {
        Ok(s) => s,
        Err(problems) => return report(&problems),
    };
    crate::http::init_tracing(&settings);
    let result = match cli.command {
        Command::Serve => crate::http::serve(settings),
        Command::Check => check(&settings),
        Command::Backup { out } => run_admin(
            &settings,
            control::Request::Backup {
                out: absolute(&out),
            },
        ),
        Command::Restore { file, force } => backup::restore(&file, &settings.data_dir, force)
            .map(|r| println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default()))
            .map_err(|e| anyhow::anyhow!("restore: {e}")),
        Command::Reindex => run_admin(&settings, control::Request::Reindex),
        Command::Evidence(EvidenceCommand::Export { incident, out }) => run_admin(
            &settings,
            control::Request::EvidenceExport {
                incident,
                out: absolute(&out),
            },
        ),
        Command::Evidence(EvidenceCommand::Verify { file, key }) => {
            crate::evidence::verify(&file, key.as_deref()).map(|r| {
                println!(
                    "bundle verified: {}",
                    serde_json::to_string_pretty(&r).unwrap_or_default()
                );
            })
        }
        Command::User(UserCommand::Add {
            username,
            role,
            tenant,
            ..
        }) => {
            let mut password = String::new();
            if let Err(e) = std::io::stdin().read_to_string(&mut password) {
                return report(&[format!("reading the password from standard input: {e}")]);
            }
            let password = password.trim_end_matches(['\n', '\r']).to_string();
            run_admin(
                &settings,
                control::Request::UserAdd {
                    username,
                    password,
                    role: Role::parse(&role).unwrap_or(Role::Viewer),
                    tenant,
                },
            )
        }
        Command::Tenant(TenantCommand::Add { name, display_name }) => run_admin(
            &settings,
            control::Request::TenantAdd {
                display_name: display_name.unwrap_or_else(|| name.clone()),
                slug: name,
            },
        ),
        Command::Token(TokenCommand::Create {
            tenant,
            source,
            signing_secret,
        }) => run_admin(
            &settings,
            control::Request::TokenCreate {
                tenant,
                source: SourceKind::parse(&source).unwrap_or(SourceKind::Generic),
                signing_secret,
            },
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&[format!("{e:#}")]),
    }
}

fn absolute(p: &std::path::Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

fn report(problems: &[String]) -> ExitCode {
    for p in problems {
        eprintln!("corerecon: error: {p}");
    }
    ExitCode::from(2)
}

/// Runs an administrative command: through the running appliance's control socket when
/// `serve` holds the store, or directly on the store when it does not.
fn run_admin(settings: &Settings, req: control::Request) -> anyhow::Result<()> {
    if let Some(reply) = control::call(&settings.data_dir, &req)? {
        return print_reply(reply);
    }
    std::fs::create_dir_all(&settings.data_dir)?;
    let store =
        Store::open(&settings.data_dir).map_err(|e| anyhow::anyhow!("opening the store: {e}"))?;
    migrate::run(&store)?;
    let reply = control::execute(&store, req);
    store.close()?;
    print_reply(reply)
}

fn print_reply(reply: control::Reply) -> anyhow::Result<()> {
    match reply {
        control::Reply::Ok { text } => {
            println!("{text}");
            Ok(())
        }
        control::Reply::Err { error } => Err(anyhow::anyhow!(error)),
    }
}

fn check(settings: &Settings) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    if let Some(files) = &settings.tls
        && let Err(e) = crate::http::tls_config(files)
    {
        problems.push(e.to_string());
    }
    let dir = &settings.data_dir;
    if dir.exists() {
        if !dir.is_dir() {
            problems.push(format!("data dir {} is not a directory", dir.display()));
        } else if control::socket_path(dir).exists()
            && control::call(dir, &control::Request::Ping)?.is_some()
        {
            println!(
                "data dir {} is in use by a running corerecon; its settings are valid",
                dir.display()
            );
            return Ok(());
        } else {
            match Store::open(dir) {
                Ok(store) => {
                    match migrate::read_version(dir) {
                        Ok(Some(v)) if v > crate::store::SCHEMA_VERSION => problems.push(format!(
                            "data dir schema {v} is newer than this build's {}",
                            crate::store::SCHEMA_VERSION
                        )),
                        Ok(_) => {}
                        Err(e) => problems.push(e.to_string()),
                    }
                    if let Err(e) = accounts::list_users(&store) {
                        problems.push(format!("user records: {e}"));
                    }
                    let _ = store.close();
                }
                Err(e) => problems.push(format!("data dir {}: {e}", dir.display())),
            }
        }
    }
    if problems.is_empty() {
        println!("configuration and data dir {} are valid", dir.display());
        Ok(())
    } else {
        Err(anyhow::anyhow!(problems.join("\ncorerecon: error: ")))
    }
}
