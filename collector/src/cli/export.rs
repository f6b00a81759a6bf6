//! `export status`: each SIEM output's cursor, backlog, drops and last error (issue 19), from
//! the store, so it shows every collector's outputs when several share a database.

use clap::Subcommand;

use super::term::outln;
use super::{DirArgs, Failure, load, now_s, open_store};

/// `export` subcommands.
#[derive(Debug, Subcommand)]
pub enum ExportCmd {
    /// Every registered output: cursor, events delivered, backlog, drops, last failed send.
    Status {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Print `{"outputs": [{name, cursor, owner, lease_until, sent, dropped, backlog,
        /// last_error, last_error_at}]}`.
        #[arg(long)]
        json: bool,
    },
}

/// Runs an `export` subcommand.
///
/// # Errors
/// Config and store errors.
pub(super) fn run(cmd: ExportCmd) -> Result<(), Failure> {
    match cmd {
        ExportCmd::Status { dir, json } => status(&dir, json),
    }
}

fn status(dir: &DirArgs, json: bool) -> Result<(), Failure> {
    let cfg = load(dir)?;
    let store = open_store(&cfg)?;
    let outputs = store.exports().export_outputs()?;
    if json {
        outln!("{}", serde_json::json!({ "outputs": outputs }));
        return Ok(());
    }
    if outputs.is_empty() {
        outln!("no export output / chưa có đầu ra xuất dữ liệu");
    }
    let now = now_s();
    for o in &outputs {
        let lease = if o.lease_until > now {
            "running / đang chạy"
        } else {
            "not running / không chạy"
        };
        outln!(
            "{}: {lease}; sent {} / đã gửi, backlog {} / đang chờ, dropped {} / bị bỏ",
            o.name,
            o.sent,
            o.backlog,
            o.dropped
        );
        if o.last_error_at > 0 {
            outln!(
                "  last error {} s ago / lỗi gần nhất: {}",
                now.saturating_sub(o.last_error_at),
                o.last_error
            );
        }
    }
    Ok(())
}
