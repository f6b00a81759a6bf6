//! `vigil-agent rules import-sca`: translate a Wazuh SCA policy into a Vigil pack.
//!
//! The translation is [`vigil_rules::sca::import_sca`]; this module reads the policy, writes the
//! pack (never group- or world-writable, so the agent will load it) and reports every untranslated check on
//! stderr. Untranslated checks do not make the command fail: only unreadable or unparsable input
//! does (exit 2), or a pack that cannot be written (exit 3).

use std::io::Write;
use std::path::{Path, PathBuf};

use vigil_rules::sca::{Dialect, Import, ImportOptions, ScaError, import_sca};

/// Exit code: usage or input error (unreadable or unparsable policy).
pub const EXIT_USAGE: u8 = 2;
/// Exit code: the pack could not be written.
pub const EXIT_RUNTIME: u8 = 3;

/// Errors of `rules import-sca`; [`ImportError::exit_code`] maps them to the CLI contract.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The policy file could not be read.
    #[error("reading {path}")]
    Read {
        /// Policy file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The policy is not a parsable SCA policy.
    #[error(transparent)]
    Policy(#[from] ScaError),
    /// The pack could not be written.
    #[error("writing {path}")]
    Write {
        /// Output file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

impl ImportError {
    /// 2 for unreadable or unparsable input, 3 when writing fails.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Read { .. } | Self::Policy(_) => EXIT_USAGE,
            Self::Write { .. } => EXIT_RUNTIME,
        }
    }
}

/// Where the pack goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Standard output.
    Stdout,
    /// A file (created or replaced, mode 0644).
    File(PathBuf),
}

/// Reads `policy`, translates it with `opts`, writes the pack to `output` (or `stdout`) and the
/// summary to `report`. Returns the import so callers can inspect it.
///
/// # Errors
/// [`ImportError`]; use [`ImportError::exit_code`].
pub fn import_sca_file(
    policy: &Path,
    output: &Output,
    opts: &ImportOptions,
    stdout: &mut dyn Write,
    report: &mut dyn Write,
) -> Result<Import, ImportError> {
    let text = std::fs::read_to_string(policy).map_err(|source| ImportError::Read {
        path: policy.to_path_buf(),
        source,
    })?;
    let imp = import_sca(&text, &policy.display().to_string(), opts)?;
    let target = match output {
        Output::Stdout => {
            stdout
                .write_all(imp.yaml.as_bytes())
                .map_err(|source| ImportError::Write {
                    path: PathBuf::from("-"),
                    source,
                })?;
            "standard output".to_string()
        }
        Output::File(path) => {
            write_pack(path, &imp.yaml).map_err(|source| ImportError::Write {
                path: path.clone(),
                source,
            })?;
            path.display().to_string()
        }
    };
    // The summary is best effort: a closed stderr must not turn a written pack into a failure.
    let _ = write_summary(report, policy, &target, &imp);
    Ok(imp)
}

fn write_pack(path: &Path, yaml: &str) -> std::io::Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o644);
    }
    let mut f = o.open(path)?;
    f.write_all(yaml.as_bytes())?;
    // An existing file keeps its mode on open; the loader refuses group- or world-writable packs.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = f.metadata()?.permissions().mode();
        if mode & 0o022 != 0 {
            f.set_permissions(std::fs::Permissions::from_mode(mode & !0o022))?;
        }
    }
    f.sync_all()
}

fn write_summary(
    w: &mut dyn Write,
    policy: &Path,
    target: &str,
    imp: &Import,
) -> std::io::Result<()> {
    writeln!(
        w,
        "{}: {} of {} checks translated ({} natively; {} regexes) into pack {}@{}, written to \
         {target}",
        policy.display(),
        imp.translated,
        imp.checks,
        imp.native,
        imp.dialect,
        imp.pack.id,
        imp.pack.version
    )?;
    if imp.untranslated.is_empty() {
        writeln!(w, "every check was translated")?;
    } else {
        writeln!(w, "not translated ({}):", imp.untranslated.len())?;
        for u in &imp.untranslated {
            writeln!(w, "  {u}")?;
        }
    }
    if !imp.notes.is_empty() {
        writeln!(w, "notes:")?;
        for n in &imp.notes {
            writeln!(w, "  {n}")?;
        }
    }
    if imp.dialect == Dialect::OsRegex {
        writeln!(
            w,
            "OSRegex patterns were rewritten into Rust regex syntax; pass --dialect pcre2 if the \
             policy is really PCRE2"
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = "policy: {id: t, name: Test}\nchecks:\n  - id: 1\n    name: Root login \
                          off\n    condition: all\n    rules: ['f:/etc/ssh/sshd_config -> \
                          r:^PermitRootLogin no']\n  - id: 2\n    name: Daemon\n    condition: \
                          all\n    rules: ['c:frobnicate --check -> r:ok']\n";

    #[test]
    fn writes_a_loadable_pack_and_lists_what_it_left_out() {
        let d = tempfile::tempdir().expect("tempdir");
        let policy = d.path().join("p.yml");
        std::fs::write(&policy, POLICY).expect("write");
        let out = d.path().join("pack.yaml");
        let (mut so, mut se) = (Vec::new(), Vec::new());
        let imp = import_sca_file(
            &policy,
            &Output::File(out.clone()),
            &ImportOptions::default(),
            &mut so,
            &mut se,
        )
        .expect("imports");
        assert_eq!((imp.translated, imp.untranslated.len()), (1, 1));
        assert!(so.is_empty());
        let report = String::from_utf8(se).expect("utf8");
        assert!(
            report.contains("1 of 2 checks translated (1 natively;"),
            "{report}"
        );
        assert!(report.contains("t-2: "), "{report}");
        assert!(report.contains("no known absolute path"), "{report}");
        let pack = vigil_rules::load_pack(&out).expect("the written pack loads");
        assert_eq!(pack.rules.len(), 1);
    }

    #[test]
    fn unparsable_or_missing_input_exits_2() {
        let d = tempfile::tempdir().expect("tempdir");
        let policy = d.path().join("p.yml");
        std::fs::write(&policy, "policy: [").expect("write");
        let run = |p: &Path| {
            import_sca_file(
                p,
                &Output::Stdout,
                &ImportOptions::default(),
                &mut Vec::new(),
                &mut Vec::new(),
            )
        };
        assert_eq!(run(&policy).expect_err("bad").exit_code(), EXIT_USAGE);
        let missing = d.path().join("nope.yml");
        assert_eq!(run(&missing).expect_err("missing").exit_code(), EXIT_USAGE);
    }
}
