//! Local users of the console and API (DESIGN §10): argon2 password hashes, random session and
//! API-token secrets of which only the SHA-256 is stored, roles and agency scopes.
//!
//! Every check that involves a secret is built so its timing says nothing useful: a login for an
//! unknown or disabled user still verifies a password against a dummy hash, secrets are looked up
//! by their SHA-256 (an attacker cannot choose a hash prefix), and the CSRF token is compared in
//! constant time.

use std::sync::OnceLock;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::store::{ApiTokenRecord, Result, SessionRecord, Store, StoreError, User, UserRole};

/// How long a console session lasts, seconds.
pub const SESSION_TTL_S: i64 = 12 * 3600;

/// Longest accepted password, bytes (argon2 takes any length; this bounds the work per request).
pub const MAX_PASSWORD_LEN: usize = 1024;

/// Shortest accepted password for a new user, characters.
pub const MIN_PASSWORD_LEN: usize = 12;

/// Prefix of API tokens, so they are recognisable in scripts and secret scanners.
const API_TOKEN_PREFIX: &str = "vigil-api.";

/// Hashes a password with argon2id and the crate's default (OWASP) parameters.
///
/// # Errors
/// [`StoreError::Invalid`] when the password is too long or hashing fails.
pub fn hash_password(password: &str) -> Result<String> {
    hash_password_with(password, Params::default())
}

/// Like [`hash_password`] with explicit parameters (tests use cheap ones).
pub(crate) fn hash_password_with(password: &str, params: Params) -> Result<String> {
    if password.len() > MAX_PASSWORD_LEN {
        return Err(StoreError::Invalid(format!(
            "passwords are at most {MAX_PASSWORD_LEN} bytes"
        )));
    }
    // A fresh random salt from the OS for every hash.
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    PasswordHasher::<PasswordHash>::hash_password(&argon, password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Invalid(format!("hashing the password: {e}")))
}

/// Checks a new user's password against the policy.
///
/// # Errors
/// A message for the operator.
pub fn check_new_password(password: &str) -> std::result::Result<(), String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_LEN {
        return Err(format!(
            "the password must have at least {MIN_PASSWORD_LEN} characters"
        ));
    }
    if password.len() > MAX_PASSWORD_LEN {
        return Err(format!(
            "the password must be at most {MAX_PASSWORD_LEN} bytes"
        ));
    }
    Ok(())
}

/// True when `password` matches the PHC string `phc`; false for a malformed hash.
pub fn verify_password(password: &str, phc: &str) -> bool {
    if password.len() > MAX_PASSWORD_LEN {
        return false;
    }
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A hash verified for logins of unknown or disabled users, so they take as long as real ones.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let random = new_secret();
        hash_password(&random).unwrap_or_default()
    })
}

/// The user with this name and password, if they exist and are enabled. Unknown users, disabled
/// users and wrong passwords are indistinguishable to the caller and take the same time.
///
/// # Errors
/// Store errors.
pub fn authenticate(store: &dyn Store, name: &str, password: &str) -> Result<Option<User>> {
    let user = store.user(name)?;
    let ok = match &user {
        Some(u) => verify_password(password, &u.password_hash),
        None => verify_password(password, dummy_hash()),
    };
    Ok(user.filter(|u| ok && !u.disabled))
}

/// The password-hashing pool (DESIGN §10): argon2id costs about 19 MiB and tens of
/// milliseconds of CPU per hash, so hashes run a few at a time on their own slots, never on the
/// threads the QUIC ingest shares. A request finding every slot busy waits in a short, bounded
/// queue; past it, or after waiting too long, it gets [`Busy`] (the API answers 503 with
/// `Retry-After`). Memory for password checks is therefore bounded by the slot count, whatever
/// the number of parallel login requests.
#[derive(Debug)]
pub struct HashPool {
    slots: std::sync::Arc<tokio::sync::Semaphore>,
    waiting: std::sync::atomic::AtomicUsize,
    max_waiting: usize,
    wait: std::time::Duration,
    running: std::sync::atomic::AtomicUsize,
    peak: std::sync::atomic::AtomicUsize,
}

/// Every hashing slot is busy and the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("password hashing is busy; retry in a moment")]
pub struct Busy;

impl Default for HashPool {
    /// Two slots, 32 waiting requests, 3 s of waiting at most.
    fn default() -> Self {
        Self::new(2, 32, std::time::Duration::from_secs(3))
    }
}

impl HashPool {
    /// A pool of `slots` concurrent hashes, with at most `max_waiting` requests waiting up to
    /// `wait` each.
    pub fn new(slots: usize, max_waiting: usize, wait: std::time::Duration) -> Self {
        Self {
            slots: std::sync::Arc::new(tokio::sync::Semaphore::new(slots.max(1))),
            waiting: std::sync::atomic::AtomicUsize::new(0),
            max_waiting,
            wait,
            running: std::sync::atomic::AtomicUsize::new(0),
            peak: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Runs `f` (which hashes or verifies a password) on a slot.
    ///
    /// # Errors
    /// [`Busy`] when no slot is free within the bounds.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::result::Result<T, Busy> {
        use std::sync::atomic::Ordering;
        let permit = match self.slots.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
                    self.waiting.fetch_sub(1, Ordering::AcqRel);
                    return Err(Busy);
                }
                let got = tokio::time::timeout(self.wait, self.slots.clone().acquire_owned()).await;
                self.waiting.fetch_sub(1, Ordering::AcqRel);
                match got {
                    Ok(Ok(p)) => p,
                    _ => return Err(Busy),
                }
            }
        };
        let running = self.running.fetch_add(1, Ordering::AcqRel) + 1;
        self.peak.fetch_max(running, Ordering::AcqRel);
        let out = tokio::task::spawn_blocking(f).await;
        self.running.fetch_sub(1, Ordering::AcqRel);
        drop(permit);
        // A panic in the hash is a bug, not a reason to take the process down.
        out.map_err(|_| Busy)
    }

    /// Most hashes that ran at once so far (tests, metrics).
    pub fn peak(&self) -> usize {
        self.peak.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// 32 random bytes, base64url.
pub fn new_secret() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// Hex SHA-256 of a session or API-token secret: the only form stored.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Compares two secrets in time independent of where they differ.
pub fn secrets_equal(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Starts a session for `user`: returns the cookie secret (given to the client only) and the
/// stored record, which holds the CSRF token.
///
/// # Errors
/// Store errors.
pub fn start_session(store: &dyn Store, user: &str, now: i64) -> Result<(String, SessionRecord)> {
    let secret = new_secret();
    let rec = SessionRecord {
        id_hash: secret_hash(&secret),
        user: user.to_owned(),
        csrf: new_secret(),
        expires_at: now.saturating_add(SESSION_TTL_S),
    };
    store.session_add(&rec)?;
    Ok((secret, rec))
}

/// Creates an API token for `user` (audited under `actor`). Returns the token text, shown once.
///
/// # Errors
/// [`StoreError::NotFound`] for an unknown user, and other store errors.
pub fn create_api_token(
    store: &dyn Store,
    user: &str,
    actor: &str,
    now: i64,
) -> Result<(String, ApiTokenRecord)> {
    let text = format!("{API_TOKEN_PREFIX}{}", new_secret());
    let hash = secret_hash(&text);
    let rec = ApiTokenRecord {
        id: hash[..12].to_owned(),
        secret_hash: hash,
        user: user.to_owned(),
        created_at: now,
        revoked: false,
    };
    store.api_token_add(&rec, actor, now)?;
    Ok((text, rec))
}

/// What [`valid_user_name`] accepts, for error messages.
pub const USER_NAME_RULE: &str =
    "expected 1-64 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit";

/// A new, enabled user whose password meets the rules, hashed with argon2id (the name is the
/// caller's to check first, with [`valid_user_name`]).
///
/// # Errors
/// [`StoreError::Invalid`] for a password outside the rules; hashing errors.
pub fn new_user(name: &str, role: UserRole, scope: &str, password: &str, now: i64) -> Result<User> {
    check_new_password(password).map_err(StoreError::Invalid)?;
    Ok(User {
        name: name.to_owned(),
        password_hash: hash_password(password)?,
        role,
        scope: scope.to_owned(),
        created_at: now,
        disabled: false,
    })
}

/// True when a user name is 1–64 of `a-z0-9._-` starting with a letter or digit.
pub fn valid_user_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'-')
        })
}

/// True when agency path `path` is inside `scope` (`""` is the whole organisation).
pub fn in_scope(path: &str, scope: &str) -> bool {
    scope.is_empty() || crate::scoring::in_subtree(path, scope)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{SqliteStore, UserRole};

    pub(crate) fn cheap() -> Params {
        Params::new(64, 1, 1, None).expect("params")
    }

    fn user(s: &dyn Store, name: &str, pw: &str, disabled: bool) {
        s.user_add(
            &User {
                name: name.into(),
                password_hash: hash_password_with(pw, cheap()).expect("hash"),
                role: UserRole::Viewer,
                scope: String::new(),
                created_at: 1,
                disabled,
            },
            "test",
            1,
        )
        .expect("add");
    }

    #[test]
    fn passwords_verify_and_bad_input_is_refused() {
        let h = hash_password_with("correct horse battery", cheap()).expect("hash");
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterx", &h));
        assert!(!verify_password("x", "not a phc string"));
        assert!(!verify_password(&"a".repeat(MAX_PASSWORD_LEN + 1), &h));
        assert!(check_new_password("short").is_err());
        assert!(check_new_password("long enough pw").is_ok());
    }

    #[test]
    fn authenticate_refuses_unknown_disabled_and_wrong_passwords_alike() {
        let s = SqliteStore::open_in_memory().expect("store");
        user(&s, "an", "password-of-an", false);
        user(&s, "off", "password-of-off", true);
        let ok = authenticate(&s, "an", "password-of-an").expect("auth");
        assert_eq!(ok.map(|u| u.name), Some("an".to_owned()));
        assert_eq!(authenticate(&s, "an", "wrong").expect("auth"), None);
        assert_eq!(authenticate(&s, "nobody", "x").expect("auth"), None);
        assert_eq!(
            authenticate(&s, "off", "password-of-off").expect("auth"),
            None
        );
    }

    #[test]
    fn names_scopes_and_secrets() {
        assert!(valid_user_name("nguyen.van-a_1"));
        assert!(!valid_user_name(""));
        assert!(!valid_user_name("-x"));
        assert!(!valid_user_name("Admin"));
        assert!(in_scope("p/a/x", "p/a"));
        assert!(in_scope("p/b", ""));
        assert!(!in_scope("p/ab", "p/a"));
        assert!(!in_scope("p", "p/a"));
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).expect("b64").len(), 32);
        assert!(secrets_equal(&a, &a.clone()));
        assert!(!secrets_equal(&a, &b));
        assert!(!secrets_equal(&a, &a[..10]));
        assert_eq!(secret_hash("x").len(), 64);
    }
}
