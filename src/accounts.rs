//! Tenants, users and ingest tokens: the records and the operations shared by the HTTP
//! API, the command line and the control socket.

use chrono::{DateTime, Utc};
use corerecon_actors::model::{Role, SourceKind, is_valid_slug};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::{Batch, Kind, Record, Store, StoreError, decode, key};

/// An MSP client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    pub slug: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// Dedup window override for this tenant, seconds.
    #[serde(default)]
    pub dedup_window_s: Option<u64>,
    /// Dedup window overrides per source (`elastic`, `hec`, ...), seconds.
    #[serde(default)]
    pub dedup_window_by_source: std::collections::BTreeMap<String, u64>,
    /// Who gets an incident when its SLA breaches.
    #[serde(default)]
    pub escalation_assignee: Option<String>,
}

impl Record for Tenant {
    const KIND: Kind = Kind::Tenants;
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub username: String,
    pub password_hash: String,
    pub role: Role,
    /// `None`: MSP staff, who see every tenant.
    pub tenant: Option<String>,
    pub disabled: bool,
    pub must_change_password: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Record for User {
    const KIND: Kind = Kind::Users;
    const VERSION: u16 = 2;
}

/// What the API shows of a user.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: String,
    pub username: String,
    pub role: String,
    pub tenant: Option<String>,
    pub disabled: bool,
    pub must_change_password: bool,
    pub created_at: DateTime<Utc>,
}

impl From<&User> for UserView {
    fn from(u: &User) -> UserView {
        UserView {
            id: u.id.clone(),
            username: u.username.clone(),
            role: u.role.as_str().to_string(),
            tenant: u.tenant.clone(),
            disabled: u.disabled,
            must_change_password: u.must_change_password,
            created_at: u.created_at,
        }
    }
}

/// A sender's credential: one tenant, one source. Only its SHA-256 is kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IngestToken {
    pub id: String,
    pub tenant: String,
    pub source: SourceKind,
    pub token_sha256: String,
    /// Shared secret for `X-CoreRecon-Signature`; the HMAC needs it in the clear.
    pub signing_secret: Option<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

impl Record for IngestToken {
    const KIND: Kind = Kind::IngestTokens;
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IngestTokenView {
    pub id: String,
    pub tenant: String,
    pub source: String,
    pub signed: bool,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

impl From<&IngestToken> for IngestTokenView {
    fn from(t: &IngestToken) -> Self {
        IngestTokenView {
            id: t.id.clone(),
            tenant: t.tenant.clone(),
            source: t.source.as_str().into(),
            signed: t.signing_secret.is_some(),
            created_at: t.created_at,
            created_by: t.created_by.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<AccountError> for crate::error::ApiError {
    fn from(e: AccountError) -> Self {
        use crate::error::ApiError;
        match e {
            AccountError::Invalid(d) => ApiError::unprocessable("request.invalid_field", d),
            AccountError::Conflict(d) => ApiError::conflict("resource.exists", d),
            AccountError::NotFound(d) => ApiError::not_found("resource.not_found", d),
            AccountError::Store(s) => s.into(),
        }
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// A random secret, URL-safe, with a prefix telling what it is.
pub fn random_secret(prefix: &str, bytes: usize) -> String {
    use base64::Engine;
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
    )
}

pub fn hash_password(password: &str) -> Result<String, AccountError> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| AccountError::Invalid(e.to_string()))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AccountError::Invalid(e.to_string()))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    match PasswordHash::new(hash) {
        Ok(parsed) => argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

pub fn check_password_strength(password: &str) -> Result<(), AccountError> {
    if password.chars().count() < 12 {
        return Err(AccountError::Invalid(
            "password must have at least 12 characters".into(),
        ));
    }
    if password.len() > 1024 {
        return Err(AccountError::Invalid(
            "password must have at most 1024 bytes".into(),
        ));
    }
    Ok(())
}

pub fn get_tenant(store: &Store, slug: &str) -> Result<Option<Tenant>, StoreError> {
    store.get::<Tenant>(slug)
}

pub fn list_tenants(store: &Store) -> Result<Vec<Tenant>, StoreError> {
    store.scan_prefix::<Tenant>([])
}

pub fn add_tenant(store: &Store, slug: &str, name: &str) -> Result<Tenant, AccountError> {
    if !is_valid_slug(slug) {
        return Err(AccountError::Invalid(format!(
            "tenant `{slug}` is not a slug: use 1-63 of a-z, 0-9 and -"
        )));
    }
    if get_tenant(store, slug)?.is_some() {
        return Err(AccountError::Conflict(format!("tenant `{slug}` exists")));
    }
    let tenant = Tenant {
        slug: slug.into(),
        name: if name.trim().is_empty() {
            slug.into()
        } else {
            name.trim().into()
        },
        created_at: Utc::now(),
        dedup_window_s: None,
        dedup_window_by_source: Default::default(),
        escalation_assignee: None,
    };
    let mut b = Batch::new();
    b.put(slug, &tenant)
        .change(slug, "tenant.created", slug, None);
    store.commit(b)?;
    Ok(tenant)
}

pub fn get_user(store: &Store, id: &str) -> Result<Option<User>, StoreError> {
    store.get::<User>(id)
}

pub fn find_user(store: &Store, username: &str) -> Result<Option<User>, StoreError> {
    match store.get_raw(Kind::UserNames, username.to_ascii_lowercase())? {
        Some(id) => get_user(store, &String::from_utf8_lossy(&id)),
        None => Ok(None),
    }
}

pub fn list_users(store: &Store) -> Result<Vec<User>, StoreError> {
    store.scan_prefix::<User>([])
}

pub struct NewUser<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub role: Role,
    pub tenant: Option<&'a str>,
    pub must_change_password: bool,
}

pub fn add_user(store: &Store, new: NewUser<'_>) -> Result<User, AccountError> {
    let username = new.username.trim();
    if username.is_empty()
        || username.len() > 64
        || !username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c))
    {
        return Err(AccountError::Invalid(
            "username must be 1-64 of letters, digits and . _ @ -".into(),
        ));
    }
    check_password_strength(new.password)?;
    if let Some(t) = new.tenant
        && get_tenant(store, t)?.is_none()
    {
        return Err(AccountError::Invalid(format!(
            "tenant `{t}` does not exist"
        )));
    }
    if find_user(store, username)?.is_some() {
        return Err(AccountError::Conflict(format!("user `{username}` exists")));
    }
    let now = Utc::now();
    let user = User {
        id: store.new_id(),
        username: username.into(),
        password_hash: hash_password(new.password)?,
        role: new.role,
        tenant: new.tenant.map(str::to_string),
        disabled: false,
        must_change_password: new.must_change_password,
        created_at: now,
        updated_at: now,
    };
    let mut b = Batch::new();
    b.put(&user.id, &user)
        .put_raw(
            Kind::UserNames,
            username.to_ascii_lowercase(),
            user.id.as_bytes(),
        )
        .change(
            user.tenant.as_deref().unwrap_or(""),
            "user.created",
            &user.id,
            None,
        );
    store.commit(b)?;
    Ok(user)
}

pub fn save_user(store: &Store, user: &User) -> Result<(), StoreError> {
    let mut b = Batch::new();
    b.put(&user.id, user).change(
        user.tenant.as_deref().unwrap_or(""),
        "user.updated",
        &user.id,
        None,
    );
    store.commit(b)?;
    Ok(())
}

pub fn delete_user(store: &Store, user: &User) -> Result<(), StoreError> {
    let mut b = Batch::new();
    b.delete(Kind::Users, &user.id)
        .delete(Kind::UserNames, user.username.to_ascii_lowercase())
        .change(
            user.tenant.as_deref().unwrap_or(""),
            "user.deleted",
            &user.id,
            None,
        );
    store.commit(b)?;
    Ok(())
}

/// Creates an ingest token; the clear token is returned once and never stored.
pub fn create_ingest_token(
    store: &Store,
    tenant: &str,
    source: SourceKind,
    signing_secret: Option<&str>,
    created_by: &str,
) -> Result<(IngestToken, String), AccountError> {
    if get_tenant(store, tenant)?.is_none() {
        return Err(AccountError::NotFound(format!(
            "tenant `{tenant}` does not exist"
        )));
    }
    if let Some(s) = signing_secret
        && s.len() < 16
    {
        return Err(AccountError::Invalid(
            "signing_secret must have at least 16 characters".into(),
        ));
    }
    let clear = random_secret("crk_", 32);
    let record = IngestToken {
        id: store.new_id(),
        tenant: tenant.into(),
        source,
        token_sha256: sha256_hex(clear.as_bytes()),
        signing_secret: signing_secret.map(str::to_string),
        created_at: Utc::now(),
        created_by: created_by.into(),
    };
    let mut b = Batch::new();
    b.put(&record.token_sha256, &record)
        .change(tenant, "ingest_token.created", &record.id, None);
    store.commit(b)?;
    Ok((record, clear))
}

/// The token a sender presents, through `cache`: every ingest request looks its token up.
pub fn find_ingest_token(
    store: &Store,
    cache: &crate::store::RecordCache<IngestToken>,
    clear: &str,
) -> Result<Option<std::sync::Arc<IngestToken>>, StoreError> {
    cache.get(store, sha256_hex(clear.as_bytes()))
}

pub fn list_ingest_tokens(store: &Store, tenant: &str) -> Result<Vec<IngestToken>, StoreError> {
    Ok(store
        .scan_prefix::<IngestToken>([])?
        .into_iter()
        .filter(|t| t.tenant == tenant)
        .collect())
}

pub fn revoke_ingest_token(store: &Store, tenant: &str, id: &str) -> Result<(), AccountError> {
    let found = list_ingest_tokens(store, tenant)?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or_else(|| AccountError::NotFound(format!("ingest token `{id}` not found")))?;
    let mut b = Batch::new();
    b.delete(Kind::IngestTokens, &found.token_sha256).change(
        tenant,
        "ingest_token.revoked",
        id,
        None,
    );
    store.commit(b)?;
    Ok(())
}

/// First start: tenant `default` and user `admin`. Returns the generated password when
/// one was generated (the caller prints it once and writes it to the data dir).
pub fn bootstrap(
    store: &Store,
    admin_password: Option<&str>,
) -> Result<Option<String>, AccountError> {
    if store.len(Kind::Users) > 0 {
        return Ok(None);
    }
    if get_tenant(store, "default")?.is_none() {
        add_tenant(store, "default", "Default")?;
    }
    let (password, generated) = match admin_password {
        Some(p) => (p.to_string(), false),
        None => (random_secret("", 18), true),
    };
    add_user(
        store,
        NewUser {
            username: "admin",
            password: &password,
            role: Role::Admin,
            tenant: None,
            must_change_password: generated,
        },
    )?;
    Ok(generated.then_some(password))
}

/// Reads a record from raw bytes of the given tree (used by backup verification).
pub fn decode_user(bytes: &[u8]) -> Result<User, StoreError> {
    decode::<User>(bytes)
}

pub fn tenant_key(tenant: &str, id: &str) -> Vec<u8> {
    key(&[tenant, id])
}
