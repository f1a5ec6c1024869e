//! The harness: starts the real `corerecon` binary on a temporary data dir and talks to
//! it over sockets, as senders, browsers and scripts do.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use awc::http::Method;
use serde_json::{Value, json};

pub const ADMIN_PASSWORD: &str = "Test-Admin-Pass-9f3k2";

/// Listeners of an appliance under test: HTTP on a free loopback port, no syslog.
pub const LOOPBACK_ONLY: [&str; 6] = [
    "--http",
    "127.0.0.1:0",
    "--syslog-udp",
    "off",
    "--syslog-tcp",
    "off",
];

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_corerecon")
}

pub struct Server {
    pub child: Option<Child>,
    pub base: String,
    pub addr: String,
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    pub stdout: Vec<String>,
    args: Vec<String>,
    envs: Vec<(String, String)>,
}

#[derive(Default, Clone)]
pub struct Options {
    pub args: Vec<String>,
    pub envs: Vec<(String, String)>,
    /// Leave CORERECON_ADMIN_PASSWORD unset (first start generates one).
    pub generated_password: bool,
}

impl Server {
    pub fn start() -> Server {
        Server::start_with(Options::default())
    }

    pub fn start_with(opts: Options) -> Server {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("data");
        let mut s = Server::launch(&dir, opts);
        s._tmp = Some(tmp);
        s
    }

    /// Starts on an existing data dir (after a restart or a restore).
    pub fn launch(data_dir: &Path, opts: Options) -> Server {
        let mut envs = opts.envs.clone();
        if !opts.generated_password {
            envs.push(("CORERECON_ADMIN_PASSWORD".into(), ADMIN_PASSWORD.into()));
        }
        let mut s = Server {
            child: None,
            base: String::new(),
            addr: String::new(),
            data_dir: data_dir.to_path_buf(),
            _tmp: None,
            stdout: Vec::new(),
            args: opts.args.clone(),
            envs,
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new(bin());
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(LOOPBACK_ONLY)
            .args(&self.args)
            .env_remove("CORERECON_ADMIN_PASSWORD")
            .env_remove("CORERECON_SECRET_KEY")
            .env("CORERECON_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawning corerecon");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    let found = line
                        .strip_prefix("corerecon listening on ")
                        .map(str::to_string);
                    self.stdout.push(line);
                    if let Some(url) = found {
                        self.base = url.clone();
                        self.addr = url
                            .trim_start_matches("http://")
                            .trim_start_matches("https://")
                            .to_string();
                        break;
                    }
                }
                Err(_) => {
                    let status = child.try_wait().ok().flatten();
                    panic!(
                        "corerecon did not start (exit: {status:?}); stdout: {:?}",
                        self.stdout
                    );
                }
            }
        }
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || while rx.recv().is_ok() {});
        self.child = Some(child);
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then waits for the graceful exit; returns the exit status.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        unsafe {
            libc::kill(c.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                return Some(st);
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                return c.wait().ok();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    pub fn api(&self) -> Api {
        Api::new(&self.base)
    }

    /// Runs a `corerecon` subcommand against this server's data dir.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> std::process::Output {
        run_cli(&self.data_dir, args, stdin)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn run_cli(data_dir: &Path, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(bin())
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("CORERECON_ADMIN_PASSWORD")
        .env("CORERECON_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning corerecon");
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

pub struct Response {
    pub status: u16,
    pub headers: awc::http::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&self.body).into()))
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

#[derive(Clone)]
pub struct Api {
    pub base: String,
    client: awc::Client,
}

impl Api {
    pub fn new(base: &str) -> Api {
        Api {
            base: base.to_string(),
            client: client(None),
        }
    }

    /// A client whose connections come from another loopback address (another "IP").
    pub fn from_ip(base: &str, ip: &str) -> Api {
        Api {
            base: base.to_string(),
            client: client(Some(ip.parse().unwrap())),
        }
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Response {
        self.try_send(method, path, headers, body)
            .await
            .unwrap_or_else(|e| panic!("request to {path} failed: {e}"))
    }

    /// Like `send`, but a connection failure is an `Err` (for tests that kill the server).
    pub async fn try_send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Response, String> {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path));
        for (k, v) in headers {
            req = req.insert_header((*k, *v));
        }
        let mut res = match body {
            Some(b) => req.send_body(b).await,
            None => req.send().await,
        }
        .map_err(|e| e.to_string())?;
        let body = res
            .body()
            .limit(256 * 1024 * 1024)
            .await
            .map_err(|e| e.to_string())?
            .to_vec();
        Ok(Response {
            status: res.status().as_u16(),
            headers: res.headers().clone(),
            body,
        })
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![];
        if let Some(a) = &auth {
            headers.push(("authorization", a.as_str()));
        }
        if body.is_some() {
            headers.push(("content-type", "application/json"));
        }
        self.send(
            method,
            path,
            &headers,
            body.map(|b| b.to_string().into_bytes()),
        )
        .await
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Response {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": username, "password": password})),
        )
        .await
    }

    pub async fn admin_token(&self) -> String {
        let r = self.login("admin", ADMIN_PASSWORD).await;
        assert_eq!(r.status, 200, "admin login: {:?}", r.json());
        r.json()["access_token"].as_str().unwrap().to_string()
    }

    pub async fn ingest_token(
        &self,
        admin: &str,
        tenant: &str,
        source: &str,
        secret: Option<&str>,
    ) -> String {
        let mut body = json!({"source": source});
        if let Some(s) = secret {
            body["signing_secret"] = json!(s);
        }
        let r = self
            .post(
                &format!("/api/v1/tenants/{tenant}/ingest-tokens"),
                admin,
                body,
            )
            .await;
        assert_eq!(r.status, 201, "token: {:?}", r.json());
        r.json()["token"].as_str().unwrap().to_string()
    }

    pub async fn tenant(&self, admin: &str, slug: &str) {
        let r = self
            .post(
                "/api/v1/tenants",
                admin,
                json!({"slug": slug, "name": slug}),
            )
            .await;
        assert!(r.status == 201 || r.status == 409, "tenant: {:?}", r.json());
    }

    /// Creates a user and returns an access token for it.
    pub async fn user(
        &self,
        admin: &str,
        username: &str,
        role: &str,
        tenant: Option<&str>,
    ) -> String {
        let password = format!("{username}-Pass-123456");
        let r = self
            .post(
                "/api/v1/users",
                admin,
                json!({"username": username, "password": password, "role": role, "tenant": tenant}),
            )
            .await;
        assert_eq!(r.status, 201, "user: {:?}", r.json());
        let r = self.login(username, &password).await;
        assert_eq!(r.status, 200);
        r.json()["access_token"].as_str().unwrap().to_string()
    }

    pub async fn webhook(&self, source: &str, token: &str, body: &[u8]) -> Response {
        let auth = format!("Bearer {token}");
        self.send(
            Method::POST,
            &format!("/api/v1/webhooks/{source}"),
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            Some(body.to_vec()),
        )
        .await
    }
}

fn client(local: Option<std::net::IpAddr>) -> awc::Client {
    let mut connector = awc::Connector::new().timeout(Duration::from_secs(30));
    if let Some(ip) = local {
        connector = connector.local_address(ip);
    }
    awc::Client::builder()
        .connector(connector)
        .timeout(Duration::from_secs(120))
        .disable_redirects()
        .finish()
}

/// Polls `check` until it returns `Some`, or panics with `what` at the deadline.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        actix_web::rt::time::sleep(Duration::from_millis(25)).await;
    }
}

pub fn fixture(path: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path);
    std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
}

pub fn alert_json(title: &str, extra: Value) -> Value {
    let mut v = json!({"title": title, "severity": "high"});
    if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        for (k, x) in e {
            o.insert(k.clone(), x.clone());
        }
    }
    v
}

// ---- Helpers for the ingest, alerts and realtime suites ----

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `X-CoreRecon-Signature` as a sender computes it: `t=<t>,v1=hex(HMAC-SHA256(secret, "<t>." + body))`.
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// The ids of a 202 ingest answer.
pub fn ids_of(r: &Response) -> Vec<String> {
    assert_eq!(r.status, 202, "ingest: {:?}", r.json());
    r.json()["ids"]
        .as_array()
        .expect("ids")
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// Posts generic alerts and returns their ids.
pub async fn post_alerts(api: &Api, token: &str, alerts: &Value) -> Vec<String> {
    let r = api
        .webhook("generic", token, alerts.to_string().as_bytes())
        .await;
    ids_of(&r)
}

/// `GET /api/v1/alerts?<query>`, asserting 200; returns the items and the next cursor.
pub async fn list_alerts(api: &Api, token: &str, query: &str) -> (Vec<Value>, Option<String>) {
    let r = api.get(&format!("/api/v1/alerts?{query}"), token).await;
    assert_eq!(r.status, 200, "list ?{query}: {:?}", r.json());
    let v = r.json();
    let items = v["items"].as_array().cloned().unwrap_or_default();
    (items, v["next_cursor"].as_str().map(str::to_string))
}

/// Every alert matching `query`, walking the cursor.
pub async fn list_all(api: &Api, token: &str, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("{query}&limit=500&cursor={}", urlencode(c)),
            None => format!("{query}&limit=500"),
        };
        let (items, next) = list_alerts(api, token, &q).await;
        out.extend(items);
        match next {
            Some(n) => cursor = Some(n),
            None => return out,
        }
    }
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub async fn get_alert(api: &Api, token: &str, id: &str) -> Value {
    let r = api.get(&format!("/api/v1/alerts/{id}"), token).await;
    assert_eq!(r.status, 200, "alert {id}: {:?}", r.json());
    r.json()
}

pub async fn patch(api: &Api, path: &str, token: &str, body: Value) -> Response {
    api.call(Method::PATCH, path, Some(token), Some(body)).await
}

/// The value of one Prometheus sample (`name{labels}`), if present.
pub async fn metric(api: &Api, sample: &str) -> Option<f64> {
    let r = api.send(Method::GET, "/metrics", &[], None).await;
    assert_eq!(r.status, 200);
    let text = String::from_utf8_lossy(&r.body).into_owned();
    // An empty label set is written `name{}`; the two spellings are the same sample.
    text.lines().find_map(|l| {
        l.replacen("{}", "", 1)
            .strip_prefix(sample)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
    })
}

/// What a WebSocket client read.
#[derive(Debug, Clone)]
pub enum WsEvent {
    Frame(Value),
    Closed(Option<(u16, String)>),
}

/// A WebSocket client of `/api/v1/ws`, answering pings, keeping every frame it read.
/// The socket as a stream of frames and a sink of messages (its concrete type, a
/// `Framed` of actix-codec, is not nameable from here).
pub trait WsIo:
    futures_util::Stream<Item = Result<awc::ws::Frame, awc::error::WsProtocolError>>
    + futures_util::Sink<awc::ws::Message, Error = awc::error::WsProtocolError>
    + Unpin
{
}

impl<T> WsIo for T where
    T: futures_util::Stream<Item = Result<awc::ws::Frame, awc::error::WsProtocolError>>
        + futures_util::Sink<awc::ws::Message, Error = awc::error::WsProtocolError>
        + Unpin
{
}

pub struct WsClient {
    framed: Box<dyn WsIo>,
    pub frames: Vec<Value>,
    pub closed: Option<Option<(u16, String)>>,
    pub protocol: Option<String>,
}

impl WsClient {
    /// Connects with `?<query>` (e.g. `access_token=...&since=5`).
    pub async fn connect(server: &Server, query: &str) -> WsClient {
        Self::open(server, query, None).await
    }

    /// Connects with the subprotocol pair `bearer, <token>`.
    pub async fn connect_subprotocol(server: &Server, token: &str) -> WsClient {
        Self::open(server, "", Some(token)).await
    }

    async fn open(server: &Server, query: &str, protocol_token: Option<&str>) -> WsClient {
        let url = format!("ws://{}/api/v1/ws?{query}", server.addr);
        let mut req = awc::Client::new().ws(url).max_frame_size(64 * 1024 * 1024);
        if let Some(t) = protocol_token {
            req = req.protocols(["bearer", t]);
        }
        let (res, framed) = req.connect().await.expect("websocket handshake");
        let protocol = res
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        WsClient {
            framed: Box::new(framed),
            frames: Vec::new(),
            closed: None,
            protocol,
        }
    }

    /// The next event, or `None` when nothing arrives within `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Option<WsEvent> {
        use awc::ws::Frame;
        use futures_util::{SinkExt, StreamExt};
        if let Some(c) = &self.closed {
            return Some(WsEvent::Closed(c.clone()));
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let item = actix_web::rt::time::timeout(left, self.framed.next())
                .await
                .ok()?;
            match item {
                Some(Ok(Frame::Text(b))) => {
                    let v: Value = serde_json::from_slice(&b).expect("frames are JSON");
                    self.frames.push(v.clone());
                    return Some(WsEvent::Frame(v));
                }
                Some(Ok(Frame::Ping(p))) => {
                    let _ = self.framed.send(awc::ws::Message::Pong(p)).await;
                }
                Some(Ok(Frame::Close(reason))) => {
                    let r = reason.map(|r| {
                        (
                            u16::from(r.code),
                            r.description.unwrap_or_default().to_string(),
                        )
                    });
                    self.closed = Some(r.clone());
                    return Some(WsEvent::Closed(r));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("websocket protocol error: {e}"),
                None => {
                    self.closed = Some(None);
                    return Some(WsEvent::Closed(None));
                }
            }
        }
    }

    /// Reads until a frame matches `pred`, panicking with `what` at the deadline or on close.
    pub async fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left).await {
                Some(WsEvent::Frame(f)) if pred(&f) => return f,
                Some(WsEvent::Frame(_)) => {}
                Some(WsEvent::Closed(r)) => panic!("socket closed ({r:?}) waiting for: {what}"),
                None => panic!("timed out waiting for: {what}"),
            }
        }
    }

    /// Reads until the server closes the socket; returns the close code and reason.
    pub async fn wait_closed(&mut self, timeout: Duration) -> Option<(u16, String)> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left).await {
                Some(WsEvent::Frame(_)) => {}
                Some(WsEvent::Closed(r)) => return r,
                None => panic!("socket still open after {timeout:?}"),
            }
        }
    }

    /// Whether any frame read so far is of `kind` for alert `id`.
    pub fn saw(&self, kind: &str, id: &str) -> bool {
        self.frames
            .iter()
            .any(|f| f["type"] == kind && f["data"]["id"] == id)
    }

    pub async fn close(mut self) {
        use futures_util::SinkExt;
        let _ = self.framed.send(awc::ws::Message::Close(None)).await;
    }
}

// ---- Helpers for the incidents suite ----

/// The harness's HTTP client (optionally bound to another loopback address), for tests
/// that stream request or response bodies themselves.
pub fn http_client(local: Option<&str>) -> awc::Client {
    client(local.map(|ip| ip.parse().expect("an IP address")))
}

/// A field of `/proc/<pid>/status` in bytes (`VmRSS`, `VmHWM`, ...).
pub fn proc_status_bytes(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find_map(|l| {
        let rest = l.strip_prefix(field)?.strip_prefix(':')?;
        let kb: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kb * 1024)
    })
}
