//! Settings: command-line flags > `CORERECON_*` environment variables > the TOML file
//! named by `--config` > embedded defaults. Parsing and merging are pure; validation
//! collects every problem before reporting, so an admin fixes them in one go.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use serde::Deserialize;

/// Options shared by every subcommand. Each can also be set by its environment variable
/// or in the TOML file (same name, snake_case).
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Opt {
    /// TOML file with settings (lower precedence than environment and flags).
    #[arg(long, global = true, env = "CORERECON_CONFIG", value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    /// Where the store, search index, evidence and keys live.
    /// [default: ./corerecon-data; packaged service: /var/lib/corerecon]
    #[arg(long, global = true, env = "CORERECON_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Address of the HTTP API, dashboard and webhook/HEC ingest. [default: 127.0.0.1:8080]
    #[arg(long, global = true, env = "CORERECON_HTTP", value_name = "ADDR")]
    pub http: Option<String>,

    /// UDP syslog listener, or `off`. [default: 127.0.0.1:5514]
    #[arg(
        long,
        global = true,
        env = "CORERECON_SYSLOG_UDP",
        value_name = "ADDR|off"
    )]
    pub syslog_udp: Option<String>,

    /// TCP syslog listener (newline or octet-counting framing), or `off`. [default: 127.0.0.1:5514]
    #[arg(
        long,
        global = true,
        env = "CORERECON_SYSLOG_TCP",
        value_name = "ADDR|off"
    )]
    pub syslog_tcp: Option<String>,

    /// `development` or `production`; production refuses weak secrets. [default: development]
    #[arg(long = "env", global = true, env = "CORERECON_ENV", value_name = "ENV")]
    pub environment: Option<String>,

    /// Log format: `text` or `json`. [default: text]
    #[arg(
        long,
        global = true,
        env = "CORERECON_LOG_FORMAT",
        value_name = "FORMAT"
    )]
    pub log_format: Option<String>,

    /// Largest accepted ingest request body, in bytes. [default: 5242880]
    #[arg(
        long,
        global = true,
        env = "CORERECON_INGEST_MAX_BODY",
        value_name = "BYTES"
    )]
    pub ingest_max_body: Option<usize>,

    /// Largest accepted alerts in one ingest request. [default: 10000]
    #[arg(
        long,
        global = true,
        env = "CORERECON_INGEST_MAX_ALERTS",
        value_name = "N"
    )]
    pub ingest_max_alerts: Option<usize>,

    /// Alerts that may be in flight in the ingest pipeline before senders get 503. [default: 200000]
    #[arg(
        long,
        global = true,
        env = "CORERECON_PIPELINE_CAPACITY",
        value_name = "N"
    )]
    pub pipeline_capacity: Option<usize>,

    /// Default dedup window in seconds (a tenant or source may override). [default: 600]
    #[arg(
        long,
        global = true,
        env = "CORERECON_DEDUP_WINDOW",
        value_name = "SECONDS"
    )]
    pub dedup_window_s: Option<u64>,

    /// Window in which alerts sharing host, user or source IP are correlated. [default: 1800]
    #[arg(
        long,
        global = true,
        env = "CORERECON_CORRELATION_WINDOW",
        value_name = "SECONDS"
    )]
    pub correlation_window_s: Option<u64>,

    /// New alerts per minute from one tenant and rule above which they fold into one
    /// storm alert. [default: 500]
    #[arg(
        long,
        global = true,
        env = "CORERECON_STORM_THRESHOLD",
        value_name = "PER_MINUTE"
    )]
    pub storm_threshold: Option<u64>,

    /// Largest evidence file, in bytes. [default: 1073741824]
    #[arg(
        long,
        global = true,
        env = "CORERECON_EVIDENCE_MAX_BYTES",
        value_name = "BYTES"
    )]
    pub evidence_max_bytes: Option<u64>,

    /// Frames a WebSocket client may have queued before it is dropped as too slow. [default: 2048]
    #[arg(long, global = true, env = "CORERECON_WS_QUEUE", value_name = "FRAMES")]
    pub ws_queue: Option<usize>,

    /// Failed logins per minute from one IP before 429. [default: 5]
    #[arg(
        long,
        global = true,
        env = "CORERECON_LOGIN_FAILURES_PER_MINUTE",
        value_name = "N"
    )]
    pub login_failures_per_minute: Option<u32>,

    /// HTTP worker threads. [default: twice the number of cores, at least 4]
    #[arg(long, global = true, env = "CORERECON_WORKERS", value_name = "N")]
    pub workers: Option<usize>,

    /// PEM certificate chain (server certificate first): the HTTP listener then speaks
    /// HTTPS only. Needs `tls_key`. [default: none, plain HTTP]
    #[arg(long, global = true, env = "CORERECON_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of `tls_cert`.
    #[arg(long, global = true, env = "CORERECON_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
}

/// The certificate and key files the HTTP listener serves TLS with.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Settings after merging, with every default applied.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub http: SocketAddr,
    pub syslog_udp: Option<SocketAddr>,
    pub syslog_tcp: Option<SocketAddr>,
    pub production: bool,
    pub log_json: bool,
    pub ingest_max_body: usize,
    pub ingest_max_alerts: usize,
    pub api_max_body: usize,
    pub pipeline_capacity: usize,
    pub dedup_window_s: u64,
    pub correlation_window_s: u64,
    pub storm_threshold: u64,
    pub evidence_max_bytes: u64,
    pub ws_queue: usize,
    pub login_failures_per_minute: u32,
    pub workers: usize,
    pub tls: Option<TlsFiles>,
    /// `CORERECON_ADMIN_PASSWORD`: first start only.
    pub admin_password: Option<String>,
    /// `CORERECON_SECRET_KEY`: the token-signing key; generated into the data dir when absent.
    pub secret_key: Option<String>,
}

/// Reads the TOML file named by the options, if any.
pub fn load_file(opt: &Opt) -> Result<Opt, Vec<String>> {
    let Some(path) = &opt.config else {
        return Ok(Opt::default());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![format!("config file {}: {e}", path.display())])?;
    toml::from_str::<Opt>(&text).map_err(|e| vec![format!("config file {}: {e}", path.display())])
}

/// Merges flags/env (already merged by clap, flags first) over the file, then defaults,
/// and validates. Every problem is reported, not just the first.
pub fn resolve(cli: &Opt, file: &Opt, env_secret: Secrets) -> Result<Settings, Vec<String>> {
    let mut problems = Vec::new();
    macro_rules! pick {
        ($f:ident) => {
            cli.$f.clone().or_else(|| file.$f.clone())
        };
    }
    let addr = |name: &str,
                v: Option<String>,
                default: &str,
                allow_off: bool,
                problems: &mut Vec<String>| {
        let v = v.unwrap_or_else(|| default.to_string());
        if allow_off && v.eq_ignore_ascii_case("off") {
            return None;
        }
        match v.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                problems.push(format!(
                    "{name} = `{v}` is not an address like 127.0.0.1:8080{}",
                    if allow_off { " or `off`" } else { "" }
                ));
                None
            }
        }
    };
    let http = addr(
        "http (CORERECON_HTTP)",
        pick!(http),
        "127.0.0.1:8080",
        false,
        &mut problems,
    );
    let syslog_udp = addr(
        "syslog_udp (CORERECON_SYSLOG_UDP)",
        pick!(syslog_udp),
        "127.0.0.1:5514",
        true,
        &mut problems,
    );
    let syslog_tcp = addr(
        "syslog_tcp (CORERECON_SYSLOG_TCP)",
        pick!(syslog_tcp),
        "127.0.0.1:5514",
        true,
        &mut problems,
    );
    let environment = pick!(environment).unwrap_or_else(|| "development".into());
    let production = match environment.as_str() {
        "production" => true,
        "development" => false,
        other => {
            problems.push(format!(
                "env (CORERECON_ENV) = `{other}`: use `development` or `production`"
            ));
            false
        }
    };
    let log_json = match pick!(log_format).as_deref() {
        None | Some("text") => false,
        Some("json") => true,
        Some(other) => {
            problems.push(format!("log_format = `{other}`: use `text` or `json`"));
            false
        }
    };
    let positive = |name: &str, v: u64, problems: &mut Vec<String>| {
        if v == 0 {
            problems.push(format!("{name} must be greater than 0"));
        }
    };
    let ingest_max_body = pick!(ingest_max_body).unwrap_or(5 * 1024 * 1024);
    positive("ingest_max_body", ingest_max_body as u64, &mut problems);
    let ingest_max_alerts = pick!(ingest_max_alerts).unwrap_or(10_000);
    positive("ingest_max_alerts", ingest_max_alerts as u64, &mut problems);
    let pipeline_capacity = pick!(pipeline_capacity).unwrap_or(200_000);
    positive("pipeline_capacity", pipeline_capacity as u64, &mut problems);
    let dedup_window_s = pick!(dedup_window_s).unwrap_or(600);
    let correlation_window_s = pick!(correlation_window_s).unwrap_or(1800);
    let storm_threshold = pick!(storm_threshold).unwrap_or(500);
    positive("storm_threshold", storm_threshold, &mut problems);
    let evidence_max_bytes = pick!(evidence_max_bytes).unwrap_or(1 << 30);
    let ws_queue = pick!(ws_queue).unwrap_or(2048);
    positive("ws_queue", ws_queue as u64, &mut problems);
    let login_failures_per_minute = pick!(login_failures_per_minute).unwrap_or(5);
    positive(
        "login_failures_per_minute",
        login_failures_per_minute as u64,
        &mut problems,
    );
    // Twice the cores: a worker waiting on the store (sled blocks writers while it
    // rotates its log buffers under a flush) would otherwise leave its core idle; on the
    // 2-core box, 4 workers took one-alert requests from 5,500/s to 9,200/s.
    let workers = pick!(workers).unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get() * 2)
            .unwrap_or(4)
            .max(4)
    });

    let tls = match (pick!(tls_cert), pick!(tls_key)) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        (None, None) => None,
        (Some(_), None) => {
            problems.push(
                "tls_cert (CORERECON_TLS_CERT) is set without tls_key (CORERECON_TLS_KEY): set both, or neither for plain HTTP".into(),
            );
            None
        }
        (None, Some(_)) => {
            problems.push(
                "tls_key (CORERECON_TLS_KEY) is set without tls_cert (CORERECON_TLS_CERT): set both, or neither for plain HTTP".into(),
            );
            None
        }
    };

    if production {
        if let Some(p) = &env_secret.admin_password
            && let Some(why) = weak_secret(p, 12)
        {
            problems.push(format!(
                "CORERECON_ADMIN_PASSWORD is too weak ({why}); in production use at least 12 characters of a generated secret (e.g. `openssl rand -base64 18`), or leave it unset to have one generated"
            ));
        }
        if let Some(k) = &env_secret.secret_key
            && let Some(why) = weak_secret(k, 32)
        {
            problems.push(format!(
                "CORERECON_SECRET_KEY is too weak ({why}); in production use at least 32 bytes (e.g. `openssl rand -hex 32`), or leave it unset to have one generated into the data dir"
            ));
        }
    }

    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Settings {
        data_dir: pick!(data_dir).unwrap_or_else(|| PathBuf::from("./corerecon-data")),
        http: http.unwrap_or_else(|| ([127, 0, 0, 1], 8080).into()),
        syslog_udp,
        syslog_tcp,
        production,
        log_json,
        ingest_max_body,
        ingest_max_alerts,
        api_max_body: 1024 * 1024,
        pipeline_capacity,
        dedup_window_s,
        correlation_window_s,
        storm_threshold,
        evidence_max_bytes,
        ws_queue,
        login_failures_per_minute,
        workers,
        tls,
        admin_password: env_secret.admin_password,
        secret_key: env_secret.secret_key,
    })
}

/// Secrets are read from the environment only: never from flags (visible in `ps`) nor
/// from the settings file.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    pub admin_password: Option<String>,
    pub secret_key: Option<String>,
}

impl Secrets {
    pub fn from_env() -> Secrets {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Secrets {
            admin_password: get("CORERECON_ADMIN_PASSWORD"),
            secret_key: get("CORERECON_SECRET_KEY"),
        }
    }
}

/// Why a secret is too weak for production, if it is: shorter than `min` bytes or
/// containing a word that guessers try first.
pub fn weak_secret(secret: &str, min: usize) -> Option<String> {
    if secret.len() < min {
        return Some(format!("shorter than {min} characters"));
    }
    let lower = secret.to_ascii_lowercase();
    ["changeme", "password", "admin"]
        .iter()
        .find(|w| lower.contains(*w))
        .map(|w| format!("contains `{w}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_file_and_file_beats_defaults() {
        let cli = Opt {
            http: Some("127.0.0.1:9000".into()),
            ..Opt::default()
        };
        let file = Opt {
            http: Some("127.0.0.1:7000".into()),
            dedup_window_s: Some(60),
            ..Opt::default()
        };
        let s = resolve(&cli, &file, Secrets::default()).unwrap();
        assert_eq!(s.http.port(), 9000);
        assert_eq!(s.dedup_window_s, 60);
        assert_eq!(s.storm_threshold, 500);
    }

    #[test]
    fn every_problem_is_reported_together() {
        let cli = Opt {
            http: Some("nope".into()),
            environment: Some("production".into()),
            ..Opt::default()
        };
        let secrets = Secrets {
            admin_password: Some("changeme123456".into()),
            secret_key: Some("short".into()),
        };
        let problems = resolve(&cli, &Opt::default(), secrets).unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems.iter().any(
                |p| p.starts_with("CORERECON_ADMIN_PASSWORD is too weak (contains `changeme`)")
            )
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("CORERECON_SECRET_KEY is too weak (shorter than 32"))
        );
    }

    #[test]
    fn off_disables_syslog() {
        let cli = Opt {
            syslog_udp: Some("off".into()),
            ..Opt::default()
        };
        let s = resolve(&cli, &Opt::default(), Secrets::default()).unwrap();
        assert!(s.syslog_udp.is_none());
        assert!(s.syslog_tcp.is_some());
    }
}
