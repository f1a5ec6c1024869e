//! `corerecon-load`: drives a running CoreRecon appliance over real sockets and prints one
//! JSON object with throughput, latency percentiles and error counts. It is how a box is
//! sized: run it next to (or on) the appliance and read the numbers.
//!
//! Every mode stops by itself (`--duration` or `--requests`); a 503 is counted and its
//! `Retry-After` honoured (capped) before the worker continues.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::rt::{self, System};
use awc::error::{SendRequestError, WsClientError};
use awc::ws::{Frame, Message};
use clap::{Args, Parser, Subcommand};
use futures_util::{SinkExt, StreamExt};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

const EXAMPLES: &str = "\
EXAMPLES:
  Tokens come from the appliance: `corerecon token create --tenant default --source generic`
  (and `--source hec`); export them as CORERECON_INGEST_TOKEN rather than typing them.

  Sustained ingest, 100 alerts per request, 32 connections, 30 s:
    corerecon-load webhook --batch 100 -c 32 --duration 30

  One alert per request (request rate bound), two client threads:
    corerecon-load webhook --batch 1 -c 64 --threads 2 --duration 30

  Paced at 5,000 alerts/s, half of them repeats that dedup folds into existing alerts:
    corerecon-load webhook --rate 5000 --unique 0.5 --duration 60

  Exactly 10,000 HEC requests of 50 events each:
    CORERECON_INGEST_TOKEN=$HEC_TOKEN corerecon-load hec --batch 50 --requests 10000

  WebSocket delivery latency, 1,000 browsers, 1,000 alerts/s (log in as a user):
    CORERECON_PASSWORD=... corerecon-load ws --clients 1000 --rate 1000 --username admin --duration 30

  Time the alert list, a search and the dashboard as an analyst's browser asks for them
  (p50/p95/p99 per path; log in with --username and CORERECON_PASSWORD):
    corerecon-load get --requests 200 --path '/api/v1/alerts?limit=50' \\
      --path '/api/v1/alerts?q=powershell&limit=50' --path /api/v1/dashboard/summary

  Create 100,000 incidents (8 requests in flight) to size the incident views:
    corerecon-load incidents --count 100000 -c 8

  Hold 10,000 idle WebSocket clients for a minute:
    corerecon-load idle-ws --clients 10000 --duration 60 --access-token $ACCESS_TOKEN

OUTPUT:
  One JSON object on stdout (warnings go to stderr). Latencies are in
  milliseconds: p50/p90/p99/max of the round trip of successful (2xx) requests (HTTP
  modes), or of the delivery (ws: frame receive time minus the send time embedded in each
  alert as `load_probe`, which the appliance returns under `data.raw`; sender and clients
  share this box's clock).
  `errors.by_status` counts non-2xx answers by HTTP status; `errors.transport` counts
  timeouts and connection failures. Run the generator on a different core or box than the
  appliance when you can: on the same 2-core box both compete for CPU.";

/// Load generator for a running CoreRecon appliance.
#[derive(Parser, Debug)]
#[command(name = "corerecon-load", version, about, long_about = None, after_long_help = EXAMPLES)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Args, Debug, Clone)]
struct Common {
    /// Base URL of the appliance (http://host:port).
    #[arg(
        long,
        global = true,
        env = "CORERECON_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    url: String,
    /// Stop after this many seconds [default: 10, idle-ws: 30, or unbounded when --requests is set].
    #[arg(long, global = true)]
    duration: Option<f64>,
    /// OS threads, each with its own event loop; connections and clients are split across
    /// them [default: 1; ws and idle-ws: one per CPU core, as one thread cannot read the
    /// frames a busy appliance sends a thousand clients, and would time itself].
    #[arg(long, global = true)]
    threads: Option<usize>,
    /// Per-request timeout in seconds (a timed-out request counts as a transport error).
    #[arg(long, global = true, default_value_t = 10.0)]
    timeout: f64,
    /// Pretty-print the JSON result.
    #[arg(long, global = true)]
    pretty: bool,
}

impl Common {
    /// Threads of the modes that send requests.
    fn threads(&self) -> usize {
        self.threads.unwrap_or(1)
    }

    /// Threads of the modes that hold WebSocket clients.
    fn client_threads(&self) -> usize {
        self.threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        })
    }
}

#[derive(Subcommand, Debug)]
enum Mode {
    /// POST batches of alerts (JSON arrays) to /api/v1/webhooks/generic.
    Webhook(SendArgs),
    /// POST batches of concatenated events to /services/collector/event (Splunk HEC).
    Hec(SendArgs),
    /// Connect N WebSocket clients, post alerts at --rate, and measure delivery latency.
    Ws(WsArgs),
    /// Hold N idle WebSocket clients for --duration and report how many stayed connected.
    IdleWs(IdleArgs),
    /// Time GET requests to API routes (list, search, dashboard) as an analyst's browser
    /// makes them, one percentile set per path.
    Get(GetArgs),
    /// Create incidents through the API (to size the incident views and KPIs).
    Incidents(IncidentArgs),
}

#[derive(Args, Debug, Clone)]
struct GetArgs {
    /// A path with its query, e.g. '/api/v1/alerts?limit=50'; repeat for several.
    #[arg(long = "path", required = true)]
    paths: Vec<String>,
    /// Requests per path.
    #[arg(long, default_value_t = 200)]
    requests: usize,
    /// Requests in flight at once.
    #[arg(short = 'c', long, default_value_t = 1)]
    connections: usize,
    #[command(flatten)]
    user: UserAuth,
}

#[derive(Args, Debug, Clone)]
struct IncidentArgs {
    /// Incidents to create.
    #[arg(long, default_value_t = 1000)]
    count: usize,
    /// Requests in flight at once.
    #[arg(short = 'c', long, default_value_t = 8)]
    connections: usize,
    /// Tenant of the incidents.
    #[arg(long, default_value = "default")]
    tenant: String,
    #[command(flatten)]
    user: UserAuth,
}

#[derive(Args, Debug, Clone)]
struct SendArgs {
    /// Concurrent connections (each keeps one request in flight).
    #[arg(short = 'c', long, default_value_t = 32)]
    connections: usize,
    /// Alerts (or HEC events) per request.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Target alerts per second across all connections; 0 = as fast as the appliance answers.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Stop after this many requests (across all connections).
    #[arg(long)]
    requests: Option<u64>,
    /// Fraction (0-1) of alerts that are unique; the rest repeat one of 16 alerts, which
    /// dedup folds into existing ones.
    #[arg(long, default_value_t = 1.0)]
    unique: f64,
    /// Extra bytes of padding per alert (a `load_pad` field) to approach real alert sizes.
    #[arg(long, default_value_t = 0)]
    pad: usize,
    #[command(flatten)]
    ingest: IngestAuth,
}

#[derive(Args, Debug, Clone)]
struct IngestAuth {
    /// Ingest token for the source (generic for webhook/ws, hec for hec).
    #[arg(long, env = "CORERECON_INGEST_TOKEN", hide_env_values = true)]
    ingest_token: String,
    /// Signing secret of the token, when it was created with one (adds X-CoreRecon-Signature).
    #[arg(long, env = "CORERECON_SIGNING_SECRET", hide_env_values = true)]
    signing_secret: Option<String>,
}

#[derive(Args, Debug, Clone)]
struct UserAuth {
    /// Access token for the WebSocket (else log in with --username and the password).
    #[arg(long, env = "CORERECON_ACCESS_TOKEN", hide_env_values = true)]
    access_token: Option<String>,
    /// User to log in as (POST /api/v1/auth/login) when no access token is given.
    #[arg(long, env = "CORERECON_USERNAME")]
    username: Option<String>,
    /// Password for --username (prefer the environment variable: flags show in `ps`).
    #[arg(long, env = "CORERECON_PASSWORD", hide_env_values = true)]
    password: Option<String>,
}

#[derive(Args, Debug, Clone)]
struct WsArgs {
    /// WebSocket clients to connect.
    #[arg(long, default_value_t = 100)]
    clients: usize,
    /// How many of the clients measure delivery latency (the others only drain frames).
    #[arg(long, default_value_t = 100)]
    measure_clients: usize,
    /// Alerts per second posted while the clients listen.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Alerts per request for the posting side.
    #[arg(long, default_value_t = 10)]
    batch: usize,
    /// Connections for the posting side.
    #[arg(short = 'c', long, default_value_t = 8)]
    connections: usize,
    /// Seconds to keep listening after the last post, for frames still in flight.
    #[arg(long, default_value_t = 2.0)]
    drain: f64,
    /// WebSocket handshakes in flight at once while connecting.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// Extra bytes of padding per alert.
    #[arg(long, default_value_t = 0)]
    pad: usize,
    #[command(flatten)]
    ingest: IngestAuth,
    #[command(flatten)]
    user: UserAuth,
}

#[derive(Args, Debug, Clone)]
struct IdleArgs {
    /// WebSocket clients to open and hold.
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// WebSocket handshakes in flight at once while connecting.
    #[arg(long, default_value_t = 256)]
    connect_concurrency: usize,
    #[command(flatten)]
    user: UserAuth,
}

fn main() {
    let cli = Cli::parse();
    let needed_fds = match &cli.mode {
        Mode::Webhook(a) | Mode::Hec(a) => a.connections,
        Mode::Ws(a) => a.clients + a.connections,
        Mode::IdleWs(a) => a.clients,
        Mode::Get(a) => a.connections,
        Mode::Incidents(a) => a.connections,
    };
    raise_fd_limit(needed_fds + 64);
    let result = match cli.mode {
        Mode::Webhook(ref a) => run_send(&cli.common, a, Target::Webhook),
        Mode::Hec(ref a) => run_send(&cli.common, a, Target::Hec),
        Mode::Ws(ref a) => run_ws(&cli.common, a),
        Mode::IdleWs(ref a) => run_idle(&cli.common, a),
        Mode::Get(ref a) => run_get(&cli.common, a),
        Mode::Incidents(ref a) => run_incidents(&cli.common, a),
    };
    match result {
        Ok(v) => {
            let out = if cli.common.pretty {
                serde_json::to_string_pretty(&v)
            } else {
                serde_json::to_string(&v)
            };
            println!("{}", out.unwrap_or_default());
        }
        Err(e) => {
            eprintln!("corerecon-load: {e}");
            std::process::exit(2);
        }
    }
}

// ---- shared bits ----------------------------------------------------------------------

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Raises the open-files soft limit towards the hard limit; warns when still short.
fn raise_fd_limit(needed: usize) {
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return;
        }
        if (lim.rlim_cur as usize) < needed {
            let want = (needed as libc::rlim_t).min(lim.rlim_max);
            let new = libc::rlimit {
                rlim_cur: want,
                rlim_max: lim.rlim_max,
            };
            libc::setrlimit(libc::RLIMIT_NOFILE, &new);
            if (want as usize) < needed {
                eprintln!(
                    "corerecon-load: open-files limit {want} is below the {needed} needed; raise `ulimit -n`"
                );
            }
        }
    }
}

fn http_client(connections: usize, timeout: f64) -> awc::Client {
    awc::Client::builder()
        .timeout(Duration::from_secs_f64(timeout.max(0.001)))
        .connector(awc::Connector::new().limit(connections.max(1)))
        .finish()
}

fn classify_send_error(e: &SendRequestError) -> &'static str {
    match e {
        SendRequestError::Timeout => "timeout",
        SendRequestError::Connect(_) => "connect",
        SendRequestError::Send(_) => "send",
        SendRequestError::Response(_) => "response",
        _ => "other",
    }
}

/// Counters of one worker; merged at the end.
#[derive(Default)]
struct Stats {
    requests: u64,
    ok: u64,
    items_sent: u64,
    items_accepted: u64,
    latencies_us: Vec<u32>,
    by_status: BTreeMap<u16, u64>,
    transport: BTreeMap<&'static str, u64>,
    retry_after_waits: u64,
    retry_after_s: f64,
}

impl Stats {
    fn merge(&mut self, o: Stats) {
        self.requests += o.requests;
        self.ok += o.ok;
        self.items_sent += o.items_sent;
        self.items_accepted += o.items_accepted;
        self.latencies_us.extend(o.latencies_us);
        for (k, v) in o.by_status {
            *self.by_status.entry(k).or_default() += v;
        }
        for (k, v) in o.transport {
            *self.transport.entry(k).or_default() += v;
        }
        self.retry_after_waits += o.retry_after_waits;
        self.retry_after_s += o.retry_after_s;
    }

    fn report(&mut self, elapsed: f64, unit: &str) -> Value {
        let secs = elapsed.max(1e-9);
        let mut throughput = serde_json::Map::new();
        throughput.insert(
            "requests_per_s".into(),
            json!(round2(self.ok as f64 / secs)),
        );
        throughput.insert(
            format!("{unit}_per_s"),
            json!(round2(self.items_accepted as f64 / secs)),
        );
        let mut out = json!({
            "requests": {"sent": self.requests, "ok": self.ok, "failed": self.requests - self.ok},
            "throughput": throughput,
            "latency_ms": percentiles(&mut self.latencies_us),
            "errors": {
                "by_status": self.by_status.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
                "transport": self.transport,
            },
            "backoff": {"retry_after_waits": self.retry_after_waits, "retry_after_s": round2(self.retry_after_s)},
        });
        if let Value::Object(m) = &mut out {
            m.insert(
                unit.into(),
                json!({"sent": self.items_sent, "accepted": self.items_accepted}),
            );
        }
        out
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// p50/p90/p99/max/mean in milliseconds of microsecond samples.
fn percentiles(us: &mut [u32]) -> Value {
    if us.is_empty() {
        return json!({"samples": 0});
    }
    us.sort_unstable();
    let n = us.len();
    let at = |q: f64| {
        let i = ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
        us.get(i).copied().unwrap_or(0) as f64 / 1000.0
    };
    let mean = us.iter().map(|&v| v as f64).sum::<f64>() / n as f64 / 1000.0;
    json!({
        "samples": n,
        "p50": round3(at(0.50)),
        "p90": round3(at(0.90)),
        "p95": round3(at(0.95)),
        "p99": round3(at(0.99)),
        "max": round3(at(1.0)),
        "mean": round3(mean),
    })
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Shared across threads: the request budget, the deadline and the stop flag.
struct Budget {
    remaining: AtomicU64,
    deadline: Instant,
    stop: AtomicBool,
}

impl Budget {
    fn take(&self) -> bool {
        if self.stop.load(Ordering::Relaxed) || Instant::now() >= self.deadline {
            return false;
        }
        self.remaining
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| r.checked_sub(1))
            .is_ok()
    }
}

/// Makes alert bodies: unique alerts vary host, title, user and IP; repeats cycle 16 fixed
/// alerts so that dedup has something to fold. Every alert carries
/// `load_probe = "<run>:<send time ns>"` (it comes back under `raw`).
struct Gen {
    run: Rc<str>,
    worker: usize,
    seq: u64,
    rng: u64,
    unique: f64,
    pad: String,
}

impl Gen {
    fn new(run: Rc<str>, worker: usize, unique: f64, pad: usize) -> Gen {
        Gen {
            run,
            worker,
            seq: 0,
            rng: 0x9e37_79b9_7f4a_7c15 ^ (worker as u64).wrapping_mul(0x2545_f491_4f6c_dd1d),
            unique: unique.clamp(0.0, 1.0),
            pad: "x".repeat(pad),
        }
    }

    fn rand(&mut self) -> u64 {
        self.rng = self
            .rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.rng >> 33
    }

    /// One alert object in CoreRecon's generic JSON.
    fn alert(&mut self, out: &mut String, sent_ns: u64) {
        use std::fmt::Write;
        self.seq += 1;
        let seq = self.seq;
        let unique = (self.rand() % 10_000) as f64 / 10_000.0 < self.unique;
        let sev = ["critical", "high", "medium", "low", "info"][(seq % 5) as usize];
        let k = self.rand() % 16;
        let (run, w) = (&self.run, self.worker);
        if unique {
            let n = seq + ((w as u64) << 40);
            let _ = write!(
                out,
                r#"{{"title":"Load test alert {run}-{w}-{seq}","severity":"{sev}","source_ref":"load-{run}-{w}-{seq}","rule":"load-rule-{r}","category":"load","host":"load-{run}-{w}-{seq}","user":"user{u}","src_ip":"10.{a}.{b}.{c}","load_probe":"{run}:{sent_ns}""#,
                r = seq % 50,
                u = seq % 1000,
                a = (n >> 16) & 0xff,
                b = (n >> 8) & 0xff,
                c = n & 0xff,
            );
        } else {
            let _ = write!(
                out,
                r#"{{"title":"Load test repeated alert {k}","severity":"{sev}","rule":"load-repeat-{k}","category":"load","host":"load-repeat-{k}","user":"repeat{k}","src_ip":"10.255.0.{k}","load_probe":"{run}:{sent_ns}""#,
            );
        }
        if !self.pad.is_empty() {
            let _ = write!(out, r#","load_pad":"{}""#, self.pad);
        }
        out.push('}');
    }

    fn webhook_body(&mut self, batch: usize) -> String {
        let sent = now_ns();
        let mut s = String::with_capacity(batch * (260 + self.pad.len()));
        s.push('[');
        for i in 0..batch {
            if i > 0 {
                s.push(',');
            }
            self.alert(&mut s, sent);
        }
        s.push(']');
        s
    }

    fn hec_body(&mut self, batch: usize) -> String {
        let sent = now_ns();
        let secs = sent as f64 / 1e9;
        let mut s = String::with_capacity(batch * (360 + self.pad.len()));
        for i in 0..batch {
            if i > 0 {
                s.push('\n');
            }
            s.push_str(&format!(
                r#"{{"time":{secs:.3},"host":"load-{}-{}","source":"corerecon-load","sourcetype":"corerecon:load","event":"#,
                self.run, self.worker
            ));
            self.alert(&mut s, sent);
            s.push('}');
        }
        s
    }
}

fn signature(secret: &str, body: &[u8]) -> Option<String> {
    let t = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    Some(format!(
        "t={t},v1={}",
        hex::encode(mac.finalize().into_bytes())
    ))
}

fn run_id() -> String {
    format!("{:x}", now_ns() & 0xff_ffff_ffff)
}

// ---- webhook / hec ----------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Target {
    Webhook,
    Hec,
}

struct SendPlan {
    url: String,
    auth: String,
    secret: Option<String>,
    target: Target,
    batch: usize,
    /// Seconds between two requests of one worker (None = unpaced).
    interval: Option<f64>,
    unique: f64,
    pad: usize,
    timeout: f64,
}

fn run_send(common: &Common, a: &SendArgs, target: Target) -> Result<Value, String> {
    let default_duration = if a.requests.is_some() {
        86_400.0 * 365.0
    } else {
        10.0
    };
    let duration = common.duration.unwrap_or(default_duration);
    let budget = Arc::new(Budget {
        remaining: AtomicU64::new(a.requests.unwrap_or(u64::MAX)),
        deadline: Instant::now() + Duration::from_secs_f64(duration.max(0.0)),
        stop: AtomicBool::new(false),
    });
    let batch = a.batch.max(1);
    let connections = a.connections.max(1);
    let plan = Arc::new(SendPlan {
        url: send_url(&common.url, target, &a.ingest.ingest_token),
        auth: match target {
            Target::Webhook => format!("Bearer {}", a.ingest.ingest_token),
            Target::Hec => format!("Splunk {}", a.ingest.ingest_token),
        },
        secret: a.ingest.signing_secret.clone(),
        target,
        batch,
        interval: (a.rate > 0.0).then(|| connections as f64 * batch as f64 / a.rate),
        unique: a.unique,
        pad: a.pad,
        timeout: common.timeout,
    });
    let run = run_id();
    let started = Instant::now();
    let stats = send_on_threads(common.threads(), connections, &plan, &budget, &run);
    let elapsed = started.elapsed().as_secs_f64();
    let mut stats = stats?;
    let unit = if target == Target::Hec {
        "events"
    } else {
        "alerts"
    };
    let mut out = stats.report(elapsed, unit);
    if let Value::Object(m) = &mut out {
        m.insert(
            "mode".into(),
            json!(if target == Target::Hec {
                "hec"
            } else {
                "webhook"
            }),
        );
        m.insert(
            "url".into(),
            json!(plan.url.split('?').next().unwrap_or("")),
        );
        m.insert("run".into(), json!(run));
        m.insert(
            "config".into(),
            json!({"connections": connections, "threads": common.threads().max(1), "batch": batch,
                   "rate": a.rate, "unique": a.unique, "pad": a.pad, "requests": a.requests, "duration_s": common.duration}),
        );
        m.insert("elapsed_s".into(), json!(round3(elapsed)));
    }
    Ok(out)
}

fn send_url(base: &str, target: Target, _token: &str) -> String {
    let base = base.trim_end_matches('/');
    match target {
        Target::Webhook => format!("{base}/api/v1/webhooks/generic"),
        Target::Hec => format!("{base}/services/collector/event"),
    }
}

/// Runs `connections` senders split over `threads` OS threads and merges their stats.
fn send_on_threads(
    threads: usize,
    connections: usize,
    plan: &Arc<SendPlan>,
    budget: &Arc<Budget>,
    run: &str,
) -> Result<Stats, String> {
    let threads = threads.clamp(1, connections);
    let mut handles = Vec::new();
    for t in 0..threads {
        let share = connections / threads + usize::from(t < connections % threads);
        let (plan, budget, run) = (plan.clone(), budget.clone(), run.to_string());
        let first_worker = (0..t)
            .map(|i| connections / threads + usize::from(i < connections % threads))
            .sum();
        handles.push(
            std::thread::Builder::new()
                .name(format!("load-send-{t}"))
                .spawn(move || {
                    System::new().block_on(send_thread(plan, budget, run, first_worker, share))
                })
                .map_err(|e| format!("cannot start a thread: {e}"))?,
        );
    }
    let mut total = Stats::default();
    for h in handles {
        total.merge(
            h.join()
                .map_err(|_| "a sender thread panicked".to_string())?,
        );
    }
    Ok(total)
}

async fn send_thread(
    plan: Arc<SendPlan>,
    budget: Arc<Budget>,
    run: String,
    first: usize,
    n: usize,
) -> Stats {
    let client = Rc::new(http_client(n, plan.timeout));
    let run: Rc<str> = run.into();
    let mut tasks = Vec::new();
    for w in first..first + n {
        let (client, plan, budget) = (client.clone(), plan.clone(), budget.clone());
        let gen_ = Gen::new(run.clone(), w, plan.unique, plan.pad);
        // Stagger paced workers so the requests spread over each interval.
        let offset = plan
            .interval
            .map(|iv| iv * (w - first) as f64 / n.max(1) as f64)
            .unwrap_or(0.0);
        tasks.push(rt::spawn(send_worker(client, plan, budget, gen_, offset)));
    }
    let mut stats = Stats::default();
    for t in tasks {
        if let Ok(s) = t.await {
            stats.merge(s);
        }
    }
    stats
}

async fn send_worker(
    client: Rc<awc::Client>,
    plan: Arc<SendPlan>,
    budget: Arc<Budget>,
    mut gen_: Gen,
    offset: f64,
) -> Stats {
    let mut st = Stats::default();
    let mut next = Instant::now() + Duration::from_secs_f64(offset);
    loop {
        if let Some(iv) = plan.interval {
            let now = Instant::now();
            if next > now {
                if next >= budget.deadline {
                    break;
                }
                rt::time::sleep(next - now).await;
            } else if now - next > Duration::from_secs_f64(iv) {
                next = now; // behind schedule: do not burst to catch up
            }
            next += Duration::from_secs_f64(iv);
        }
        if !budget.take() {
            break;
        }
        let body = match plan.target {
            Target::Webhook => gen_.webhook_body(plan.batch),
            Target::Hec => gen_.hec_body(plan.batch),
        };
        let status = send_once(&client, &plan, body, &mut st).await;
        if status == Some(503) {
            // Already counted; wait as told (at most 5 s, never past the deadline).
            continue;
        }
    }
    st
}

/// Sends one request and records it; returns the status when there was an answer.
async fn send_once(
    client: &awc::Client,
    plan: &SendPlan,
    body: String,
    st: &mut Stats,
) -> Option<u16> {
    let mut req = client
        .post(&plan.url)
        .insert_header(("Authorization", plan.auth.as_str()))
        .insert_header(("Content-Type", "application/json"));
    if let Some(sig) = plan
        .secret
        .as_deref()
        .and_then(|s| signature(s, body.as_bytes()))
    {
        req = req.insert_header(("X-CoreRecon-Signature", sig));
    }
    st.requests += 1;
    st.items_sent += plan.batch as u64;
    let t0 = Instant::now();
    let mut resp = match req.send_body(body).await {
        Ok(r) => r,
        Err(e) => {
            *st.transport.entry(classify_send_error(&e)).or_default() += 1;
            return None;
        }
    };
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok());
    let body = resp.body().limit(8 << 20).await;
    let latency = t0.elapsed();
    if (200..300).contains(&status) {
        st.ok += 1;
        st.latencies_us
            .push(latency.as_micros().min(u32::MAX as u128) as u32);
        let accepted = match plan.target {
            // 202 {"accepted": n, "ids": [...]}
            Target::Webhook => body
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .and_then(|v| v.get("accepted").and_then(Value::as_u64))
                .unwrap_or(plan.batch as u64),
            // HEC answers {"text":"Success","code":0} for the whole batch.
            Target::Hec => plan.batch as u64,
        };
        st.items_accepted += accepted;
    } else {
        *st.by_status.entry(status).or_default() += 1;
        if status == 503 || status == 429 {
            let wait = retry_after.unwrap_or(1.0).clamp(0.0, 5.0);
            st.retry_after_waits += 1;
            st.retry_after_s += wait;
            rt::time::sleep(Duration::from_secs_f64(wait)).await;
        }
    }
    Some(status)
}

// ---- WebSocket ----------------------------------------------------------------------------

/// Logs in when needed and returns the access token.
fn access_token(common: &Common, user: &UserAuth) -> Result<String, String> {
    if let Some(t) = &user.access_token {
        return Ok(t.clone());
    }
    let (Some(username), Some(password)) = (&user.username, &user.password) else {
        return Err("ws modes need --access-token (CORERECON_ACCESS_TOKEN) or --username with CORERECON_PASSWORD".into());
    };
    let url = format!("{}/api/v1/auth/login", common.url.trim_end_matches('/'));
    let body = json!({"username": username, "password": password});
    let timeout = common.timeout;
    System::new().block_on(async move {
        let client = http_client(1, timeout);
        let mut resp = client
            .post(&url)
            .send_json(&body)
            .await
            .map_err(|e| format!("login: {e}"))?;
        let status = resp.status();
        let bytes = resp.body().await.map_err(|e| format!("login: {e}"))?;
        if !status.is_success() {
            return Err(format!(
                "login answered {status}: {}",
                String::from_utf8_lossy(&bytes)
            ));
        }
        serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| {
                v.get("access_token")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .ok_or_else(|| "login answer has no access_token".to_string())
    })
}

fn ws_url(base: &str, token: &str) -> String {
    let base = base.trim_end_matches('/');
    let base = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        base.to_string()
    };
    format!("{base}/api/v1/ws?access_token={}", percent_encode(token))
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Results of one thread's WebSocket clients.
#[derive(Default)]
struct WsStats {
    connected: u64,
    connect_failed: BTreeMap<String, u64>,
    connect_us: Vec<u32>,
    closed_by_server: BTreeMap<String, u64>,
    errors: u64,
    still_connected: u64,
    frames: u64,
    bytes: u64,
    delivered: u64,
    delivery_us: Vec<u32>,
}

impl WsStats {
    fn merge(&mut self, o: WsStats) {
        self.connected += o.connected;
        for (k, v) in o.connect_failed {
            *self.connect_failed.entry(k).or_default() += v;
        }
        self.connect_us.extend(o.connect_us);
        for (k, v) in o.closed_by_server {
            *self.closed_by_server.entry(k).or_default() += v;
        }
        self.errors += o.errors;
        self.still_connected += o.still_connected;
        self.frames += o.frames;
        self.bytes += o.bytes;
        self.delivered += o.delivered;
        self.delivery_us.extend(o.delivery_us);
    }
}

/// What the clients of all threads share.
struct WsShared {
    url: String,
    timeout: f64,
    connect_concurrency: usize,
    /// Threads whose clients have all finished connecting.
    ready: AtomicUsize,
    /// Set when the clients should close and report. A watch rather than a flag polled on a
    /// timer: a client then waits for its next frame or the stop, and reads no clock per
    /// frame (at 880,000 frames a second, clock reads were an eighth of this process).
    stop: tokio::sync::watch::Sender<bool>,
    /// This run's probe and the frame type it is measured in, found with SIMD searchers:
    /// the probe's search ran over every byte of every measured frame.
    /// `"load_probe":"<run>:` — the prefix of this run's probe in a frame.
    probe: memchr::memmem::Finder<'static>,
    created: memchr::memmem::Finder<'static>,
}

impl WsShared {
    fn new(url: String, run: &str, common: &Common, connect_concurrency: usize) -> WsShared {
        WsShared {
            url,
            probe: memchr::memmem::Finder::new(format!("\"load_probe\":\"{run}:").as_bytes())
                .into_owned(),
            created: memchr::memmem::Finder::new(CREATED_TYPE).into_owned(),
            timeout: common.timeout,
            connect_concurrency,
            ready: AtomicUsize::new(0),
            stop: tokio::sync::watch::Sender::new(false),
        }
    }

    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }
}

const CREATED_TYPE: &[u8] = b"\"type\":\"alert.created\"";

fn ws_on_threads(
    threads: usize,
    clients: usize,
    measure: usize,
    shared: &Arc<WsShared>,
) -> Result<Vec<std::thread::JoinHandle<WsStats>>, String> {
    let threads = threads.clamp(1, clients.max(1));
    let mut handles = Vec::new();
    let mut first = 0;
    for t in 0..threads {
        let share = clients / threads + usize::from(t < clients % threads);
        let shared = shared.clone();
        let start = first;
        first += share;
        handles.push(
            std::thread::Builder::new()
                .name(format!("load-ws-{t}"))
                .spawn(move || System::new().block_on(ws_thread(shared, start, share, measure)))
                .map_err(|e| format!("cannot start a thread: {e}"))?,
        );
    }
    Ok(handles)
}

/// Connects this thread's clients (bounded concurrency), then reads until told to stop.
async fn ws_thread(shared: Arc<WsShared>, first: usize, n: usize, measure: usize) -> WsStats {
    let stats = Rc::new(RefCell::new(WsStats::default()));
    let permits = Rc::new(tokio::sync::Semaphore::new(
        shared.connect_concurrency.max(1),
    ));
    let pending = Rc::new(RefCell::new(n));
    let mut tasks = Vec::new();
    for i in first..first + n {
        let (shared, stats, permits, pending) = (
            shared.clone(),
            stats.clone(),
            permits.clone(),
            pending.clone(),
        );
        tasks.push(rt::spawn(async move {
            let conn = {
                let _permit = permits.acquire().await;
                let t0 = Instant::now();
                let client = awc::Client::builder()
                    .timeout(Duration::from_secs_f64(shared.timeout.max(0.001)))
                    .finish();
                let r = client
                    .ws(&shared.url)
                    .max_frame_size(16 << 20)
                    .connect()
                    .await;
                let mut s = stats.borrow_mut();
                match r {
                    Ok((_, conn)) => {
                        s.connected += 1;
                        s.connect_us
                            .push(t0.elapsed().as_micros().min(u32::MAX as u128) as u32);
                        Some(conn)
                    }
                    Err(e) => {
                        *s.connect_failed.entry(ws_error_kind(&e)).or_default() += 1;
                        None
                    }
                }
            };
            *pending.borrow_mut() -= 1;
            if let Some(conn) = conn {
                read_frames(conn, &shared, &stats, i < measure).await;
            }
        }));
    }
    // Report readiness once every handshake is done, so the sender starts after them.
    while *pending.borrow() > 0 && !shared.stopped() {
        rt::time::sleep(Duration::from_millis(20)).await;
    }
    shared.ready.fetch_add(1, Ordering::SeqCst);
    for t in tasks {
        let _ = t.await;
    }
    Rc::try_unwrap(stats)
        .map(RefCell::into_inner)
        .unwrap_or_default()
}

fn ws_error_kind(e: &WsClientError) -> String {
    match e {
        WsClientError::InvalidResponseStatus(s) => s.as_u16().to_string(),
        WsClientError::SendRequest(e) => classify_send_error(e).to_string(),
        _ => "handshake".to_string(),
    }
}

async fn read_frames<C>(mut conn: C, shared: &WsShared, stats: &RefCell<WsStats>, measure: bool)
where
    C: futures_util::Stream<Item = Result<Frame, awc::error::WsProtocolError>>
        + futures_util::Sink<Message, Error = awc::error::WsProtocolError>
        + Unpin,
{
    // One wait for the stop, made once: a wait made per frame registered and dropped a
    // waiter each time, which cost as much as the clock reads it replaced.
    let mut stopped = shared.stop.subscribe();
    let stop = stopped.wait_for(|s| *s);
    tokio::pin!(stop);
    loop {
        let next = tokio::select! {
            biased;
            _ = &mut stop => {
                stats.borrow_mut().still_connected += 1;
                let _ = conn.send(Message::Close(None)).await;
                return;
            }
            n = conn.next() => n,
        };
        match next {
            None => {
                *stats
                    .borrow_mut()
                    .closed_by_server
                    .entry("eof".into())
                    .or_default() += 1;
                return;
            }
            Some(Err(_)) => {
                stats.borrow_mut().errors += 1;
                return;
            }
            Some(Ok(Frame::Ping(p))) => {
                if conn.send(Message::Pong(p)).await.is_err() {
                    stats.borrow_mut().errors += 1;
                    return;
                }
            }
            Some(Ok(Frame::Close(reason))) => {
                let key = match reason {
                    Some(r) => {
                        let code: u16 = r.code.into();
                        format!("{code}: {}", r.description.unwrap_or_default())
                    }
                    None => "no reason".into(),
                };
                *stats.borrow_mut().closed_by_server.entry(key).or_default() += 1;
                return;
            }
            Some(Ok(Frame::Text(bytes))) => {
                let mut s = stats.borrow_mut();
                s.frames += 1;
                s.bytes += bytes.len() as u64;
                if measure {
                    let received = now_ns();
                    if let Some(sent) = probe(&bytes, &shared.created, &shared.probe) {
                        s.delivered += 1;
                        let us = received.saturating_sub(sent) / 1000;
                        s.delivery_us.push(us.min(u32::MAX as u64) as u32);
                    }
                }
            }
            Some(Ok(Frame::Binary(bytes))) => {
                let mut s = stats.borrow_mut();
                s.frames += 1;
                s.bytes += bytes.len() as u64;
            }
            Some(Ok(_)) => {}
        }
    }
}

/// The send time of this run's alert in an `alert.created` frame.
fn probe(
    frame: &[u8],
    created: &memchr::memmem::Finder<'_>,
    needle: &memchr::memmem::Finder<'_>,
) -> Option<u64> {
    created.find(frame)?;
    let at = needle.find(frame)? + needle.needle().len();
    let digits = &frame[at..];
    let end = digits
        .iter()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}

fn ws_json(s: &mut WsStats, requested: usize) -> Value {
    json!({
        "requested": requested,
        "connected": s.connected,
        "connect_failed": s.connect_failed,
        "connect_ms": percentiles(&mut s.connect_us),
        "closed_by_server": s.closed_by_server,
        "errors": s.errors,
        "still_connected": s.still_connected,
    })
}

fn run_ws(common: &Common, a: &WsArgs) -> Result<Value, String> {
    let token = access_token(common, &a.user)?;
    let run = run_id();
    let shared = Arc::new(WsShared::new(
        ws_url(&common.url, &token),
        &run,
        common,
        a.connect_concurrency,
    ));
    let threads = common.client_threads().clamp(1, a.clients.max(1));
    let measure = a.measure_clients.min(a.clients);
    let handles = ws_on_threads(threads, a.clients, measure, &shared)?;

    // Wait for every handshake (bounded), then post alerts for --duration.
    let connect_deadline = Instant::now() + Duration::from_secs(120);
    while shared.ready.load(Ordering::SeqCst) < handles.len() && Instant::now() < connect_deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let duration = common.duration.unwrap_or(10.0);
    let batch = a.batch.max(1);
    let connections = a.connections.max(1);
    let budget = Arc::new(Budget {
        remaining: AtomicU64::new(u64::MAX),
        deadline: Instant::now() + Duration::from_secs_f64(duration.max(0.0)),
        stop: AtomicBool::new(false),
    });
    let plan = Arc::new(SendPlan {
        url: send_url(&common.url, Target::Webhook, &a.ingest.ingest_token),
        auth: format!("Bearer {}", a.ingest.ingest_token),
        secret: a.ingest.signing_secret.clone(),
        target: Target::Webhook,
        batch,
        interval: (a.rate > 0.0).then(|| connections as f64 * batch as f64 / a.rate),
        unique: 1.0,
        pad: a.pad,
        timeout: common.timeout,
    });
    let started = Instant::now();
    let sent = send_on_threads(1, connections, &plan, &budget, &run);
    let sending = started.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs_f64(a.drain.max(0.0)));
    shared.stop.send_replace(true);
    let mut ws = WsStats::default();
    for h in handles {
        ws.merge(
            h.join()
                .map_err(|_| "a WebSocket thread panicked".to_string())?,
        );
    }
    let mut sent = sent?;
    let expected = sent.items_accepted * (measure as u64).min(ws.connected);
    Ok(json!({
        "mode": "ws",
        "url": common.url,
        "run": run,
        "config": {"clients": a.clients, "measure_clients": measure, "rate": a.rate, "batch": batch,
                   "connections": connections, "threads": threads, "duration_s": duration, "drain_s": a.drain},
        "clients": ws_json(&mut ws, a.clients),
        "sender": sent.report(sending, "alerts"),
        "delivery": {
            "measured_clients": measure,
            "expected": expected,
            "delivered": ws.delivered,
            "ratio": if expected > 0 { round3(ws.delivered as f64 / expected as f64) } else { 0.0 },
            "latency_ms": percentiles(&mut ws.delivery_us),
        },
        "frames": {"received": ws.frames, "bytes": ws.bytes,
                   "per_s": round2(ws.frames as f64 / (sending + a.drain).max(1e-9))},
    }))
}

fn run_idle(common: &Common, a: &IdleArgs) -> Result<Value, String> {
    let token = access_token(common, &a.user)?;
    // Idle clients measure nothing: no run's probe is ever found.
    let shared = Arc::new(WsShared::new(
        ws_url(&common.url, &token),
        "\u{0}",
        common,
        a.connect_concurrency,
    ));
    let threads = common.client_threads().clamp(1, a.clients.max(1));
    let started = Instant::now();
    let handles = ws_on_threads(threads, a.clients, 0, &shared)?;
    let duration = common.duration.unwrap_or(30.0);
    let deadline = started + Duration::from_secs_f64(duration.max(0.0));
    while shared.ready.load(Ordering::SeqCst) < handles.len() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let connected_after = started.elapsed().as_secs_f64();
    while Instant::now() < deadline {
        std::thread::sleep(
            Duration::from_millis(50).min(deadline.saturating_duration_since(Instant::now())),
        );
    }
    shared.stop.send_replace(true);
    let mut ws = WsStats::default();
    for h in handles {
        ws.merge(
            h.join()
                .map_err(|_| "a WebSocket thread panicked".to_string())?,
        );
    }
    Ok(json!({
        "mode": "idle-ws",
        "url": common.url,
        "config": {"clients": a.clients, "threads": threads, "duration_s": duration, "connect_concurrency": a.connect_concurrency},
        "all_connected_after_s": round3(connected_after),
        "held_s": round3(started.elapsed().as_secs_f64()),
        "clients": ws_json(&mut ws, a.clients),
        "frames": {"received": ws.frames, "bytes": ws.bytes},
    }))
}

/// Sends `count` requests made by `request(i)` with `connections` in flight; returns the
/// latencies (µs) of the 2xx answers and the other answers counted by status.
fn timed_requests<F>(
    common: &Common,
    connections: usize,
    count: usize,
    request: F,
) -> (Vec<u32>, BTreeMap<String, u64>, f64)
where
    F: Fn(&awc::Client, usize) -> (awc::ClientRequest, Option<String>) + 'static,
{
    let timeout = common.timeout;
    System::new().block_on(async move {
        let client = http_client(connections, timeout);
        let next = Rc::new(std::cell::Cell::new(0usize));
        let lat: Rc<RefCell<Vec<u32>>> = Rc::default();
        let errors: Rc<RefCell<BTreeMap<String, u64>>> = Rc::default();
        let request = Rc::new(request);
        let started = Instant::now();
        let workers = (0..connections.max(1)).map(|_| {
            let (client, next, lat, errors, request) = (
                client.clone(),
                next.clone(),
                lat.clone(),
                errors.clone(),
                request.clone(),
            );
            async move {
                loop {
                    let i = next.get();
                    if i >= count {
                        return;
                    }
                    next.set(i + 1);
                    let t = Instant::now();
                    let (req, body) = request(&client, i);
                    let sent = match body {
                        Some(b) => req.content_type("application/json").send_body(b).await,
                        None => req.send().await,
                    };
                    let key = match sent {
                        Ok(mut resp) => {
                            let ok = resp.status().is_success();
                            let drained = resp.body().limit(64 * 1024 * 1024).await.is_ok();
                            if ok && drained {
                                lat.borrow_mut().push(t.elapsed().as_micros() as u32);
                                continue;
                            }
                            resp.status().as_u16().to_string()
                        }
                        Err(e) => classify_send_error(&e).to_string(),
                    };
                    *errors.borrow_mut().entry(key).or_default() += 1;
                }
            }
        });
        futures_util::future::join_all(workers).await;
        let secs = started.elapsed().as_secs_f64();
        let lat = lat.take();
        let errors = errors.take();
        (lat, errors, secs)
    })
}

fn run_get(common: &Common, a: &GetArgs) -> Result<Value, String> {
    let token = access_token(common, &a.user)?;
    let base = common.url.trim_end_matches('/').to_string();
    let mut results = serde_json::Map::new();
    for path in &a.paths {
        let url = format!("{base}{path}");
        let auth = format!("Bearer {token}");
        let (mut lat, errors, secs) =
            timed_requests(common, a.connections, a.requests, move |c, _| {
                (
                    c.get(&url).insert_header(("Authorization", auth.as_str())),
                    None,
                )
            });
        results.insert(
            path.clone(),
            json!({
                "latency_ms": percentiles(&mut lat),
                "requests_per_s": round2(a.requests as f64 / secs),
                "errors": errors,
            }),
        );
    }
    Ok(json!({
        "mode": "get",
        "url": common.url,
        "config": {"requests": a.requests, "connections": a.connections},
        "paths": results,
    }))
}

fn run_incidents(common: &Common, a: &IncidentArgs) -> Result<Value, String> {
    let token = access_token(common, &a.user)?;
    let url = format!("{}/api/v1/incidents", common.url.trim_end_matches('/'));
    let run = run_id();
    let tenant = a.tenant.clone();
    let auth = format!("Bearer {token}");
    let (mut lat, errors, secs) = timed_requests(common, a.connections, a.count, move |c, i| {
        const SEVERITIES: [&str; 5] = ["critical", "high", "medium", "low", "info"];
        let body = json!({
            "title": format!("Load test incident {run}-{i}"),
            "severity": SEVERITIES[i % SEVERITIES.len()],
            "tenant": tenant,
            "tags": ["load"],
        });
        (
            c.post(&url).insert_header(("Authorization", auth.as_str())),
            Some(body.to_string()),
        )
    });
    let created = lat.len();
    Ok(json!({
        "mode": "incidents",
        "url": common.url,
        "config": {"count": a.count, "connections": a.connections, "tenant": a.tenant},
        "created": created,
        "incidents_per_s": round2(created as f64 / secs),
        "latency_ms": percentiles(&mut lat),
        "errors": errors,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_reads_this_runs_send_time() {
        let created = memchr::memmem::Finder::new(CREATED_TYPE);
        let (abc, other) = (
            memchr::memmem::Finder::new("\"load_probe\":\"abc:"),
            memchr::memmem::Finder::new("\"load_probe\":\"other:"),
        );
        let f = br#"{"type":"alert.created","seq":3,"data":{"raw":{"load_probe":"abc:1714550400000000001"}}}"#;
        assert_eq!(probe(f, &created, &abc), Some(1714550400000000001));
        assert_eq!(probe(f, &created, &other), None);
        // The server's own key order: `type` last.
        let last =
            br#"{"at":"x","data":{"raw":{"load_probe":"abc:42"}},"seq":3,"type":"alert.created"}"#;
        assert_eq!(probe(last, &created, &abc), Some(42));
        let upd = br#"{"type":"alert.updated","data":{"raw":{"load_probe":"abc:1"}}}"#;
        assert_eq!(probe(upd, &created, &abc), None);
    }

    #[test]
    fn bodies_are_valid_json() {
        let mut g = Gen::new("r".into(), 3, 0.5, 10);
        let v: Value = serde_json::from_str(&g.webhook_body(20)).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 20);
        let hec = g.hec_body(5);
        let n = serde_json::Deserializer::from_str(&hec)
            .into_iter::<Value>()
            .filter(Result::is_ok)
            .count();
        assert_eq!(n, 5);
    }

    #[test]
    fn percentile_math() {
        let mut v: Vec<u32> = (1..=100).map(|i| i * 1000).collect();
        let p = percentiles(&mut v);
        assert_eq!(
            (p["p50"].as_f64(), p["p99"].as_f64(), p["max"].as_f64()),
            (Some(50.0), Some(99.0), Some(100.0))
        );
    }

    #[test]
    fn ws_urls() {
        assert_eq!(
            ws_url("http://h:1/", "a b"),
            "ws://h:1/api/v1/ws?access_token=a%20b"
        );
        assert_eq!(ws_url("https://h", "t"), "wss://h/api/v1/ws?access_token=t");
    }
}
