//! Sender authentication: the ingest token in every form real senders can send it, and
//! the optional HMAC signature.

use actix_web::HttpRequest;
use actix_web::http::header::AUTHORIZATION;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::accounts::IngestToken;

/// Window in which a signature's timestamp is accepted, either side of now.
pub const SIGNATURE_WINDOW_S: i64 = 300;

/// The token as the request carries it: `Authorization: Bearer`, Basic auth with the token
/// as password (Kibana's webhook connector), `Authorization: Splunk` (HEC), or `?token=`
/// (Splunk's webhook alert action can set no header).
pub fn presented_token(req: &HttpRequest) -> Option<String> {
    if let Some(h) = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
    {
        let (scheme, rest) = h.trim().split_once(' ').unwrap_or((h, ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("splunk") {
            return Some(rest.to_string()).filter(|t| !t.is_empty());
        }
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .ok()?;
            let decoded = String::from_utf8(decoded).ok()?;
            let (_, password) = decoded.split_once(':')?;
            return Some(password.to_string()).filter(|t| !t.is_empty());
        }
    }
    query_param(req.query_string(), "token")
}

pub fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name)
            .then(|| percent_decode(v))
            .filter(|v| !v.is_empty())
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .unwrap_or("zz");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Debug, PartialEq, Eq)]
pub enum SignatureProblem {
    Missing,
    Malformed,
    Stale,
    Mismatch,
}

impl SignatureProblem {
    pub fn detail(&self) -> &'static str {
        match self {
            SignatureProblem::Missing => "this token requires an X-CoreRecon-Signature header",
            SignatureProblem::Malformed => {
                "X-CoreRecon-Signature must be `t=<unix seconds>,v1=<hex HMAC-SHA256>`"
            }
            SignatureProblem::Stale => "the signature's timestamp is more than 300 s from now",
            SignatureProblem::Mismatch => "the signature does not match the body",
        }
    }
}

/// Checks `X-CoreRecon-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`.
pub fn verify_signature(
    token: &IngestToken,
    header: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureProblem> {
    let Some(secret) = &token.signing_secret else {
        return Ok(());
    };
    let header = header.ok_or(SignatureProblem::Missing)?;
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => sigs.push(hex::decode(v).map_err(|_| SignatureProblem::Malformed)?),
            _ => {}
        }
    }
    let t = t.ok_or(SignatureProblem::Malformed)?;
    if sigs.is_empty() {
        return Err(SignatureProblem::Malformed);
    }
    if (now - t).abs() > SIGNATURE_WINDOW_S {
        return Err(SignatureProblem::Stale);
    }
    let mut ok = false;
    for sig in sigs {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
            .map_err(|_| SignatureProblem::Malformed)?;
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        // verify_slice compares in constant time.
        ok |= mac.verify_slice(&sig).is_ok();
    }
    if ok {
        Ok(())
    } else {
        Err(SignatureProblem::Mismatch)
    }
}

/// Signs a body as a sender would (used by tests and the load generator).
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use corerecon_actors::model::SourceKind;

    fn token(secret: Option<&str>) -> IngestToken {
        IngestToken {
            id: "i".into(),
            tenant: "t".into(),
            source: SourceKind::Generic,
            token_sha256: String::new(),
            signing_secret: secret.map(str::to_string),
            created_at: chrono::Utc::now(),
            created_by: "x".into(),
        }
    }

    #[test]
    fn signatures_are_checked_for_presence_freshness_and_value() {
        let t = token(Some("0123456789abcdef"));
        let body = b"{\"title\":\"x\"}";
        let good = sign("0123456789abcdef", 1000, body);
        assert_eq!(verify_signature(&t, Some(&good), body, 1000), Ok(()));
        assert_eq!(
            verify_signature(&t, Some(&good), body, 1301),
            Err(SignatureProblem::Stale)
        );
        assert_eq!(
            verify_signature(&t, Some(&good), b"other", 1000),
            Err(SignatureProblem::Mismatch)
        );
        assert_eq!(
            verify_signature(&t, None, body, 1000),
            Err(SignatureProblem::Missing)
        );
        assert_eq!(
            verify_signature(&t, Some("v1=zz"), body, 1000),
            Err(SignatureProblem::Malformed)
        );
        assert_eq!(verify_signature(&token(None), None, body, 1000), Ok(()));
    }

    #[test]
    fn query_tokens_are_percent_decoded() {
        assert_eq!(
            query_param("a=1&token=crk_a%2Db", "token").as_deref(),
            Some("crk_a-b")
        );
        assert_eq!(query_param("token=", "token"), None);
        assert_eq!(query_param("token=%", "token").as_deref(), Some("%"));
        assert_eq!(query_param("token=%4", "token").as_deref(), Some("%4"));
    }
}
