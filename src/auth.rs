//! User sessions: a short-lived JWT access token plus a rotating refresh token. Refresh
//! tokens form families; presenting a spent one revokes the whole family (the token was
//! stolen, or the client is confused — either way both copies stop working). Logout puts
//! the access token and its family on a denylist kept in sled until they would expire.

use std::net::IpAddr;
use std::num::NonZeroU32;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use chrono::{DateTime, Duration, Utc};
use corerecon_actors::model::{Role, Scope};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::accounts::{self, User, sha256_hex};
use crate::error::{ApiError, ApiResult};
use crate::store::{Batch, Kind, Record, Store, StoreError, be_u64};

pub const ACCESS_TTL_S: i64 = 15 * 60;
pub const REFRESH_TTL_S: i64 = 7 * 24 * 3600;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: Role,
    pub tenant: Option<String>,
    pub jti: String,
    pub fam: String,
    pub iat: i64,
    pub exp: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshRecord {
    pub family: String,
    pub user_id: String,
    pub spent: bool,
    pub expires_at: DateTime<Utc>,
}

impl Record for RefreshRecord {
    const KIND: Kind = Kind::RefreshTokens;
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
}

pub struct Auth {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    login_failures: DefaultKeyedRateLimiter<IpAddr>,
    lockouts: std::sync::Mutex<std::collections::HashMap<IpAddr, DateTime<Utc>>>,
}

impl Auth {
    pub fn new(secret: &[u8], failures_per_minute: u32) -> Auth {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let per_minute = NonZeroU32::new(failures_per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        // The burst is one below the allowance: the failure that uses the last cell is
        // answered normally, and the next attempt is the one refused.
        let burst = NonZeroU32::new(failures_per_minute.saturating_sub(1).max(1))
            .unwrap_or(NonZeroU32::MIN);
        Auth {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            login_failures: RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst)),
            lockouts: Default::default(),
        }
    }

    /// Seconds the IP must wait before trying again, if it is locked out.
    pub fn login_locked(&self, ip: IpAddr) -> Option<u64> {
        self.lockouts().get(&ip).and_then(|until| {
            let now = Utc::now();
            (*until > now).then(|| {
                ((*until - now).num_milliseconds() as u64)
                    .div_ceil(1000)
                    .max(1)
            })
        })
    }

    fn lockouts(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<IpAddr, DateTime<Utc>>> {
        self.lockouts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a failed login; governor decides when the IP has used its allowance.
    pub fn login_failed(&self, ip: IpAddr) {
        if let Err(not_until) = self.login_failures.check_key(&ip) {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            let until = Utc::now() + Duration::milliseconds(wait.as_millis().max(1000) as i64);
            let mut l = self.lockouts();
            if l.len() > 100_000 {
                let now = Utc::now();
                l.retain(|_, t| *t > now);
            }
            l.insert(ip, until);
        }
    }

    pub fn issue(
        &self,
        store: &Store,
        user: &User,
        family: Option<String>,
    ) -> ApiResult<TokenPair> {
        let now = Utc::now();
        let fam = family.unwrap_or_else(|| store.new_id());
        let claims = Claims {
            sub: user.id.clone(),
            role: user.role,
            tenant: user.tenant.clone(),
            jti: store.new_id(),
            fam: fam.clone(),
            iat: now.timestamp(),
            exp: now.timestamp() + ACCESS_TTL_S,
        };
        let access = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::internal(format!("signing token: {e}")))?;
        let refresh = accounts::random_secret("crr_", 32);
        let rec = RefreshRecord {
            family: fam,
            user_id: user.id.clone(),
            spent: false,
            expires_at: now + Duration::seconds(REFRESH_TTL_S),
        };
        let mut b = Batch::new();
        b.put(sha256_hex(refresh.as_bytes()), &rec);
        store.commit(b)?;
        Ok(TokenPair {
            access_token: access,
            refresh_token: refresh,
            token_type: "Bearer",
            expires_in: ACCESS_TTL_S,
        })
    }

    pub fn verify(&self, token: &str) -> Option<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|d| d.claims)
    }

    /// Exchanges a refresh token for a new pair, spending it.
    pub async fn refresh(&self, store: &Store, refresh: &str) -> ApiResult<TokenPair> {
        let key = sha256_hex(refresh.as_bytes());
        let rec = store.get::<RefreshRecord>(&key)?.ok_or_else(|| {
            ApiError::unauthorized(
                "auth.invalid_refresh_token",
                "the refresh token is not valid",
            )
        })?;
        if is_denied(store, &format!("fam:{}", rec.family))? {
            return Err(ApiError::unauthorized(
                "auth.revoked",
                "the session was revoked",
            ));
        }
        if rec.spent {
            // Reuse: revoke the family so the thief's copy dies with the owner's.
            deny(
                store,
                &format!("fam:{}", rec.family),
                Utc::now() + Duration::seconds(REFRESH_TTL_S),
            )?;
            store.sync().await?;
            tracing::warn!(family = %rec.family, user_id = %rec.user_id, "refresh token reused; family revoked");
            return Err(ApiError::unauthorized(
                "auth.refresh_reused",
                "this refresh token was already used; the whole session is revoked, log in again",
            ));
        }
        if rec.expires_at <= Utc::now() {
            return Err(ApiError::unauthorized(
                "auth.invalid_refresh_token",
                "the refresh token expired",
            ));
        }
        let user = accounts::get_user(store, &rec.user_id)?
            .filter(|u| !u.disabled)
            .ok_or_else(|| {
                ApiError::unauthorized("auth.invalid_refresh_token", "the user is gone or disabled")
            })?;
        let mut b = Batch::new();
        b.put(
            &key,
            &RefreshRecord {
                spent: true,
                ..rec.clone()
            },
        );
        store.commit(b)?;
        let pair = self.issue(store, &user, Some(rec.family))?;
        store.sync().await?;
        Ok(pair)
    }
}

pub fn deny(store: &Store, what: &str, until: DateTime<Utc>) -> Result<(), StoreError> {
    let mut b = Batch::new();
    b.put_raw(
        Kind::Denylist,
        what,
        until.timestamp().to_be_bytes().to_vec(),
    );
    store.commit(b)?;
    Ok(())
}

pub fn is_denied(store: &Store, what: &str) -> Result<bool, StoreError> {
    Ok(match store.get_raw(Kind::Denylist, what)? {
        Some(v) => (be_u64(&v) as i64) > Utc::now().timestamp(),
        None => false,
    })
}

/// Drops denylist entries past their expiry; run periodically.
pub fn purge_denylist(store: &Store) -> Result<usize, StoreError> {
    let now = Utc::now().timestamp();
    let mut b = Batch::new();
    let mut n = 0;
    for kv in store.tree(Kind::Denylist).iter() {
        let (k, v) = kv?;
        if (be_u64(&v) as i64) <= now {
            b.delete(Kind::Denylist, k);
            n += 1;
        }
    }
    store.commit(b)?;
    Ok(n)
}

/// The authenticated user behind a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: String,
    pub username: String,
    pub role: Role,
    pub scope: Scope,
    pub claims: Claims,
}

impl Caller {
    pub fn require_write(&self) -> ApiResult<()> {
        if self.role.can_write() {
            Ok(())
        } else {
            Err(ApiError::forbidden("viewers have read-only access"))
        }
    }

    pub fn require_admin(&self) -> ApiResult<()> {
        if self.role == Role::Admin {
            Ok(())
        } else {
            Err(ApiError::forbidden("this needs the admin role"))
        }
    }

    /// The scope of a read, narrowed by an optional `tenant` filter the caller gave.
    pub fn scope_for(&self, tenant: Option<&str>) -> ApiResult<Scope> {
        match tenant {
            None | Some("") => Ok(self.scope.clone()),
            Some(t) => self
                .scope
                .narrow(t)
                .ok_or_else(|| ApiError::forbidden(format!("no access to tenant `{t}`"))),
        }
    }
}

pub fn bearer(req: &HttpRequest) -> Option<String> {
    let h = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = h.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

/// Authenticates an access token: signature, expiry, denylist and the user's current
/// state (a disabled user or changed role takes effect on the next request).
pub fn authenticate(state: &crate::App, token: &str) -> ApiResult<Caller> {
    let claims = state.auth.verify(token).ok_or_else(|| {
        ApiError::unauthorized(
            "auth.invalid_token",
            "the access token is invalid or expired",
        )
    })?;
    if is_denied(&state.store, &format!("jti:{}", claims.jti))?
        || is_denied(&state.store, &format!("fam:{}", claims.fam))?
    {
        return Err(ApiError::unauthorized(
            "auth.revoked",
            "the session was revoked",
        ));
    }
    let user = accounts::get_user(&state.store, &claims.sub)?
        .filter(|u| !u.disabled)
        .ok_or_else(|| {
            ApiError::unauthorized("auth.invalid_token", "the user is gone or disabled")
        })?;
    Ok(Caller {
        user_id: user.id.clone(),
        username: user.username.clone(),
        role: user.role,
        scope: match &user.tenant {
            Some(t) => Scope::Tenant(t.clone()),
            None => Scope::All,
        },
        claims,
    })
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Caller, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready((|| {
            let state = req
                .app_data::<web::Data<crate::App>>()
                .ok_or_else(|| ApiError::internal("app state missing"))?;
            let token = bearer(req).ok_or_else(|| {
                ApiError::unauthorized(
                    "auth.missing_token",
                    "send `Authorization: Bearer <access token>`",
                )
            })?;
            authenticate(state, &token)
        })())
    }
}

/// The client's IP as the socket saw it. A reverse proxy in front must be trusted
/// explicitly before forwarded headers are believed; none is by default.
pub fn client_ip(req: &HttpRequest) -> IpAddr {
    req.peer_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

macro_rules! role_extractor {
    ($name:ident, $check:ident, $doc:literal) => {
        #[doc = $doc]
        /// Checked while extracting, before the body is parsed: a refused caller learns
        /// nothing from validation errors.
        #[derive(Debug, Clone)]
        pub struct $name(pub Caller);

        impl std::ops::Deref for $name {
            type Target = Caller;
            fn deref(&self) -> &Caller {
                &self.0
            }
        }

        impl FromRequest for $name {
            type Error = ApiError;
            type Future = std::future::Ready<Result<$name, ApiError>>;

            fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
                std::future::ready(
                    Caller::from_request(req, payload)
                        .into_inner()
                        .and_then(|c| c.$check().map(|_| $name(c))),
                )
            }
        }
    };
}

role_extractor!(
    Writer,
    require_write,
    "A caller allowed to change things (analyst or admin)."
);
role_extractor!(AdminCaller, require_admin, "A caller with the admin role.");
