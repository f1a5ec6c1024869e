//! HTTPS on the appliance's one listener, with the certificate an admin provides: senders
//! and analysts reach it with curl as they would from a SIEM or a script; plain HTTP is
//! not answered on it; a bad certificate or key is named before anything starts.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;

/// A self-signed certificate for `localhost` and its key, made by openssl as an admin would.
fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("running openssl (scripts/test-deps installs it)");
    assert!(out.status.success(), "openssl: {:?}", out);
    (cert, key)
}

/// curl against the appliance; returns the status line's code, the headers and the body.
fn curl(args: &[&str]) -> (u16, String, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "-D", "-"])
        .args(args)
        .output()
        .expect("running curl (scripts/test-deps installs it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, head.to_ascii_lowercase(), body.to_string())
}

#[actix_web::test]
async fn the_listener_serves_https_with_the_admins_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(tmp.path());
    let server = Server::start_with(Options {
        args: vec![
            "--tls-cert".into(),
            cert.display().to_string(),
            "--tls-key".into(),
            key.display().to_string(),
        ],
        ..Options::default()
    });
    assert!(server.base.starts_with("https://"), "{}", server.base);
    let port = server.addr.rsplit(':').next().unwrap().to_string();
    let base = format!("https://localhost:{port}");
    let cacert = cert.display().to_string();
    let resolve = format!("localhost:{port}:127.0.0.1");
    let tls = |extra: &[&str]| {
        let mut a = vec!["--cacert", &cacert, "--resolve", &resolve];
        a.extend_from_slice(extra);
        curl(&a)
    };

    let (code, head, _) = tls(&[&format!("{base}/healthz")]);
    assert_eq!(code, 200);
    assert!(
        head.contains("strict-transport-security: max-age=31536000"),
        "{head}"
    );

    let login = json!({"username": "admin", "password": ADMIN_PASSWORD}).to_string();
    let (code, _, body) = tls(&[
        "-H",
        "Content-Type: application/json",
        "--data",
        &login,
        &format!("{base}/api/v1/auth/login"),
    ]);
    assert_eq!(code, 200, "{body}");
    let admin = serde_json::from_str::<Value>(&body).unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let bearer = format!("Authorization: Bearer {admin}");
    let (code, _, body) = tls(&[
        "-H",
        &bearer,
        "-H",
        "Content-Type: application/json",
        "--data",
        r#"{"source":"generic"}"#,
        &format!("{base}/api/v1/tenants/default/ingest-tokens"),
    ]);
    assert!(code == 200 || code == 201, "{code} {body}");
    let token = serde_json::from_str::<Value>(&body).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();

    // A sender posts an alert over HTTPS and an analyst reads it back.
    let alert = json!({"title": "Alert over TLS", "severity": "high", "host": "tls-1"}).to_string();
    let (code, _, body) = tls(&[
        "-H",
        &format!("Authorization: Bearer {token}"),
        "-H",
        "Content-Type: application/json",
        "--data",
        &alert,
        &format!("{base}/api/v1/webhooks/generic"),
    ]);
    assert_eq!(code, 202, "{body}");
    let id = serde_json::from_str::<Value>(&body).unwrap()["ids"][0]
        .as_str()
        .unwrap()
        .to_string();
    let (code, _, body) = tls(&["-H", &bearer, &format!("{base}/api/v1/alerts/{id}")]);
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["title"],
        "Alert over TLS"
    );

    // A client that does not trust the certificate is refused by its own TLS check, and
    // plain HTTP gets no answer from the TLS listener.
    let (code, _, _) = curl(&["--resolve", &resolve, &format!("{base}/healthz")]);
    assert_eq!(code, 0, "an untrusted certificate must fail verification");
    let (code, _, _) = curl(&[&format!("http://127.0.0.1:{port}/healthz")]);
    assert_eq!(code, 0, "plain HTTP is not served on the TLS listener");
}

#[actix_web::test]
async fn a_bad_certificate_or_key_is_named_before_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(tmp.path());
    let missing = tmp.path().join("missing.pem");
    let not_pem = tmp.path().join("not.pem");
    std::fs::write(&not_pem, "this is not a certificate\n").unwrap();
    let (other_cert, _) = {
        let other = tmp.path().join("other");
        std::fs::create_dir(&other).unwrap();
        self_signed(&other)
    };
    let cases: Vec<(Vec<&Path>, Vec<String>, &str)> = vec![
        (vec![&cert], vec!["tls_key".into()], "cert without key"),
        (
            vec![&missing, &key],
            vec![format!("tls_cert {}", missing.display())],
            "missing cert",
        ),
        (
            vec![&not_pem, &key],
            vec![format!("tls_cert {}", not_pem.display())],
            "cert file without a certificate",
        ),
        (
            vec![&cert, &not_pem],
            vec![format!("tls_key {}", not_pem.display())],
            "key file without a key",
        ),
        (
            vec![&other_cert, &key],
            vec!["tls_cert".into(), "tls_key".into()],
            "key of another certificate",
        ),
    ];
    for (files, needles, what) in cases {
        for sub in ["check", "serve"] {
            let mut cmd = Command::new(bin());
            cmd.arg(sub)
                .args(LOOPBACK_ONLY)
                .arg("--data-dir")
                .arg(tmp.path().join(format!("data-{sub}")))
                .env("CORERECON_ADMIN_PASSWORD", ADMIN_PASSWORD)
                .arg("--tls-cert")
                .arg(files[0]);
            if let Some(k) = files.get(1) {
                cmd.arg("--tls-key").arg(k);
            }
            let out = exit_within(cmd, Duration::from_secs(60))
                .unwrap_or_else(|| panic!("{what} ({sub}) must fail, and it kept running"));
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{what} ({sub}) must fail: {err}");
            for n in &needles {
                assert!(
                    err.contains(n.as_str()),
                    "{what} ({sub}): `{n}` missing from: {err}"
                );
            }
        }
    }
}

/// Runs `cmd` to its end, or kills it after `limit` and returns None.
fn exit_within(mut cmd: Command, limit: Duration) -> Option<Output> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(child.wait_with_output().unwrap())
}
