//! `user add|list|disable` and `api-token create`: the console's local users (DESIGN §10).
//!
//! Passwords never appear on the command line (where `ps` and shell history would keep them):
//! they are read from standard input with `--password-stdin`, or prompted for without echo.

use super::term::{self, errln, outln};
use std::io::{BufRead as _, IsTerminal as _, Write as _};

use anyhow::{Context as _, anyhow};
use serde::Serialize;

use super::{DirArgs, Failure, fmt_time, load, now_s, open_store, validate_agency_id};
use crate::auth;
use crate::store::{StoreError, UserRole};

use clap::Subcommand;
/// `user` subcommands.
#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Add a user. The password is prompted for (without echo) or read from standard input with
    /// --password-stdin; it is never given on the command line.
    Add {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Login name (a-z, 0-9, '.', '_', '-').
        #[arg(long)]
        name: String,
        /// Role: admin (everything), analyst (acts on alerts), viewer (reads).
        #[arg(long, value_parser = ["admin", "analyst", "viewer"])]
        role: String,
        /// Agency subtree the user sees and acts on (default: the whole organisation).
        #[arg(long, value_name = "PATH")]
        scope: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users (never their password hashes).
    List {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Print `{"users": [...]}`.
        #[arg(long)]
        json: bool,
    },
    /// Disable a user: they cannot log in, their sessions end and their API tokens stop working.
    Disable {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Login name.
        #[arg(long)]
        name: String,
    },
}

/// `api-token` subcommands.
#[derive(Debug, Subcommand)]
pub enum ApiTokenCmd {
    /// Create a token acting as USER; prints it once on stdout (only its hash is stored).
    Create {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// The user the token acts as.
        #[arg(long, value_name = "USER")]
        user: String,
    },
    /// List API tokens (ids, users, creation, revoked); never the tokens themselves.
    List {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Only the tokens of this user.
        #[arg(long, value_name = "USER")]
        user: Option<String>,
        /// Print `{"api_tokens": [...]}`.
        #[arg(long)]
        json: bool,
    },
    /// Revoke an API token by id: it stops authenticating at once.
    Revoke {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Token id from `api-token list`.
        #[arg(long)]
        id: String,
    },
}

/// Runs a `user` subcommand.
pub(super) fn run_user(cmd: UserCmd) -> Result<(), Failure> {
    match cmd {
        UserCmd::Add {
            dir,
            name,
            role,
            scope,
            password_stdin,
        } => user_add(
            &dir,
            &name,
            &role,
            scope.as_deref(),
            password_source(password_stdin),
        ),
        UserCmd::List { dir, json } => user_list(&dir, json),
        UserCmd::Disable { dir, name } => user_disable(&dir, &name),
    }
}

/// Runs an `api-token` subcommand.
pub(super) fn run_api_token(cmd: ApiTokenCmd) -> Result<(), Failure> {
    match cmd {
        ApiTokenCmd::Create { dir, user } => api_token_create(&dir, &user),
        ApiTokenCmd::List { dir, user, json } => api_token_list(&dir, user.as_deref(), json),
        ApiTokenCmd::Revoke { dir, id } => api_token_revoke(&dir, &id),
    }
}

/// Where `user add` reads the password from.
pub(super) fn password_source(password_stdin: bool) -> impl FnOnce() -> Result<String, Failure> {
    move || {
        if password_stdin {
            read_password_line()
        } else {
            prompt_password()
        }
    }
}

/// `user add --name N --role R [--scope PATH]`, reading the password from `password` once the
/// other arguments are checked.
pub(super) fn user_add(
    dir: &DirArgs,
    name: &str,
    role: &str,
    scope: Option<&str>,
    password: impl FnOnce() -> Result<String, Failure>,
) -> Result<(), Failure> {
    if !auth::valid_user_name(name) {
        return Err(Failure::usage(anyhow!(
            "--name {name:?}: {}",
            auth::USER_NAME_RULE
        )));
    }
    // clap's value parser only lets the three names through.
    let role = UserRole::parse(role).ok_or_else(|| Failure::usage(anyhow!("--role {role:?}")))?;
    let scope = scope.unwrap_or_default();
    if !scope.is_empty() {
        validate_agency_id(scope)?;
    }
    let store = open_store(&load(dir)?)?;
    if !scope.is_empty() && store.agency(scope)?.is_none() {
        return Err(Failure::usage(anyhow!(
            "--scope {scope:?}: no such agency (see `agency list`)"
        )));
    }
    let password = password()?;
    let user = match auth::new_user(name, role, scope, &password, now_s()) {
        Ok(u) => u,
        Err(StoreError::Invalid(m)) => return Err(Failure::usage(anyhow!(m))),
        Err(e) => return Err(e.into()),
    };
    match store.user_add(&user, "cli", now_s()) {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(Failure::usage(anyhow!("user {name:?} exists already")));
        }
        Err(e) => return Err(e.into()),
    }
    let scope_text = if scope.is_empty() {
        "the whole organisation"
    } else {
        scope
    };
    outln!("added {} {name}, scope {scope_text}", role.as_str());
    Ok(())
}

/// One user of `user list --json` (fields in alphabetical order, as the output has always been).
#[derive(Serialize)]
struct UserRow<'a> {
    created_at: i64,
    disabled: bool,
    name: &'a str,
    role: &'a str,
    scope: &'a str,
}

/// `{"users": [...]}`.
#[derive(Serialize)]
struct UserList<'a> {
    users: Vec<UserRow<'a>>,
}

/// One API token of `api-token list --json`: its id and owner, never the token.
#[derive(Serialize)]
struct ApiTokenRow<'a> {
    created_at: i64,
    id: &'a str,
    revoked: bool,
    user: &'a str,
}

/// `{"api_tokens": [...]}`.
#[derive(Serialize)]
struct ApiTokenList<'a> {
    api_tokens: Vec<ApiTokenRow<'a>>,
}

/// `user list [--json]`; password hashes are never shown.
pub(super) fn user_list(dir: &DirArgs, json: bool) -> Result<(), Failure> {
    let store = open_store(&load(dir)?)?;
    let users = store.users()?;
    if json {
        let users = users
            .iter()
            .map(|u| UserRow {
                created_at: u.created_at,
                disabled: u.disabled,
                name: &u.name,
                role: u.role.as_str(),
                scope: &u.scope,
            })
            .collect();
        println!("{}", term::json(&UserList { users }));
    } else {
        for u in &users {
            outln!(
                "{:<24} {:<8} {:<30} {}{}",
                u.name,
                u.role.as_str(),
                if u.scope.is_empty() {
                    "(all)"
                } else {
                    &u.scope
                },
                fmt_time(u.created_at),
                if u.disabled { "  disabled" } else { "" }
            );
        }
    }
    Ok(())
}

/// `user disable --name N`.
pub(super) fn user_disable(dir: &DirArgs, name: &str) -> Result<(), Failure> {
    let store = open_store(&load(dir)?)?;
    if !store.user_disable(name, "cli", now_s())? {
        return Err(Failure::usage(anyhow!(
            "no user {name:?} (see `user list`)"
        )));
    }
    outln!("disabled {name}; their sessions are ended and their API tokens stop working");
    Ok(())
}

/// `api-token create --user N`: prints the token once on stdout.
pub(super) fn api_token_create(dir: &DirArgs, user: &str) -> Result<(), Failure> {
    let store = open_store(&load(dir)?)?;
    match store.user(user)? {
        None => {
            return Err(Failure::usage(anyhow!(
                "no user {user:?} (see `user list`)"
            )));
        }
        Some(u) if u.disabled => {
            return Err(Failure::usage(anyhow!("user {user:?} is disabled")));
        }
        Some(_) => {}
    }
    let (text, rec) = auth::create_api_token(&*store, user, "cli", now_s())?;
    errln!(
        "API token {} for {user}: send it as `Authorization: Bearer <token>`; it is shown only once",
        rec.id
    );
    outln!("{text}");
    Ok(())
}

/// `api-token list [--user N] [--json]`: ids and owners, never the tokens.
pub(super) fn api_token_list(dir: &DirArgs, user: Option<&str>, json: bool) -> Result<(), Failure> {
    let store = open_store(&load(dir)?)?;
    let tokens: Vec<_> = store
        .api_tokens()?
        .into_iter()
        .filter(|t| user.is_none_or(|u| t.user == u))
        .collect();
    if json {
        let api_tokens = tokens
            .iter()
            .map(|t| ApiTokenRow {
                created_at: t.created_at,
                id: &t.id,
                revoked: t.revoked,
                user: &t.user,
            })
            .collect();
        println!("{}", term::json(&ApiTokenList { api_tokens }));
    } else {
        for t in &tokens {
            outln!(
                "{:<12}  {:<24} {}{}",
                t.id,
                t.user,
                fmt_time(t.created_at),
                if t.revoked { "  revoked" } else { "" }
            );
        }
    }
    Ok(())
}

/// `api-token revoke --id ID`: the token stops authenticating at once.
pub(super) fn api_token_revoke(dir: &DirArgs, id: &str) -> Result<(), Failure> {
    let store = open_store(&load(dir)?)?;
    if store.api_token_revoke(id, "cli", now_s())? {
        outln!("revoked API token {id}");
        return Ok(());
    }
    if store.api_tokens()?.iter().any(|t| t.id == id) {
        outln!("API token {id} was revoked already");
        return Ok(());
    }
    Err(Failure::usage(anyhow!(
        "no API token {id:?} (see `api-token list`)"
    )))
}

fn read_password_line() -> Result<String, Failure> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn prompt_password() -> Result<String, Failure> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(Failure::usage(anyhow!(
            "no terminal to ask for the password on; pipe it in with --password-stdin"
        )));
    }
    let first = prompt_once("Password: ")?;
    let again = prompt_once("Repeat password: ")?;
    if first != again {
        return Err(Failure::usage(anyhow!("the passwords differ")));
    }
    Ok(first)
}

/// Reads one line from the terminal with echo off, restoring the terminal afterwards.
fn prompt_once(prompt: &str) -> Result<String, Failure> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    let saved = tcgetattr(&stdin).context("reading the terminal mode")?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    tcsetattr(&stdin, OptionalActions::Now, &quiet).context("turning echo off")?;
    let line = read_password_line();
    let restored = tcsetattr(&stdin, OptionalActions::Now, &saved);
    errln!();
    restored.context("restoring the terminal mode")?;
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data_dir() -> (tempfile::TempDir, DirArgs) {
        let (tmp, dir, _) = crate::cli::init_for_test();
        (
            tmp,
            DirArgs {
                data_dir: Some(dir),
                config: None,
            },
        )
    }

    fn pw(p: &'static str) -> impl FnOnce() -> Result<String, Failure> {
        move || Ok(p.to_owned())
    }

    #[test]
    fn users_are_added_checked_disabled_and_get_api_tokens() {
        let (_tmp, dir) = data_dir();
        let store = open_store(&load(&dir).expect("config")).expect("store");
        store
            .agency_add(&crate::store::Agency {
                id: "p".into(),
                name: "P".into(),
                level: 1,
            })
            .expect("agency");
        user_add(&dir, "an", "analyst", Some("p"), pw("a long password")).expect("add");
        let u = store.user("an").expect("get").expect("stored");
        assert_eq!((u.role, u.scope.as_str()), (UserRole::Analyst, "p"));
        assert!(u.password_hash.starts_with("$argon2id$"));
        assert!(auth::verify_password("a long password", &u.password_hash));

        let refused = |r: Result<(), Failure>| r.expect_err("refused").code;
        assert_eq!(
            refused(user_add(&dir, "an", "viewer", None, pw("a long password"))),
            2
        );
        assert_eq!(
            refused(user_add(&dir, "bo", "viewer", None, pw("short"))),
            2
        );
        assert_eq!(
            refused(user_add(&dir, "Bo", "viewer", None, pw("a long password"))),
            2
        );
        assert_eq!(
            refused(user_add(
                &dir,
                "bo",
                "viewer",
                Some("p/none"),
                pw("a long password")
            )),
            2
        );
        let never = || -> Result<String, Failure> { panic!("asked for a password for a bad name") };
        assert_eq!(refused(user_add(&dir, "-x", "viewer", None, never)), 2);
        assert_eq!(store.users().expect("list").len(), 1);

        api_token_create(&dir, "an").expect("token");
        assert_eq!(refused(api_token_create(&dir, "ghost")), 2);
        let id = store.api_tokens().expect("list")[0].id.clone();
        api_token_list(&dir, None, true).expect("list");
        api_token_revoke(&dir, &id).expect("revoke");
        api_token_revoke(&dir, &id).expect("revoking twice is fine");
        assert!(store.api_tokens().expect("list")[0].revoked);
        assert_eq!(refused(api_token_revoke(&dir, "nope")), 2);
        user_disable(&dir, "an").expect("disable");
        assert!(store.user("an").expect("get").is_some_and(|u| u.disabled));
        assert_eq!(refused(api_token_create(&dir, "an")), 2);
        assert_eq!(refused(user_disable(&dir, "ghost")), 2);
        let actions: Vec<_> = store
            .audit_log()
            .expect("audit")
            .into_iter()
            .map(|(_, actor, action, _)| format!("{actor} {action}"))
            .collect();
        assert_eq!(
            actions,
            [
                "cli collector.init",
                "cli user.add",
                "cli api_token.create",
                "cli api_token.revoke",
                "cli user.disable"
            ]
        );
    }
}
