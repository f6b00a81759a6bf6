//! `rules import-sca`: Wazuh SCA policies translated into rule packs.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::anyhow;

use super::{DialectArg, Failure, GroupArg, RulesCmd, SeverityArg};

/// Runs a `rules` subcommand.
pub(super) fn rules(cmd: RulesCmd) -> Result<u8, Failure> {
    let RulesCmd::ImportSca {
        policy,
        output,
        dialect,
        severity,
        group,
        id,
        pack_version,
    } = cmd;
    use vigil_rules::Group;
    use vigil_rules::sca::{Dialect, ImportOptions};
    let opts = ImportOptions {
        dialect: match dialect {
            DialectArg::Auto => Dialect::Auto,
            DialectArg::Osregex => Dialect::OsRegex,
            DialectArg::Pcre2 => Dialect::Pcre2,
        },
        severity: match severity {
            SeverityArg::Low => vigil_proto::Severity::Low,
            SeverityArg::Medium => vigil_proto::Severity::Medium,
            SeverityArg::High => vigil_proto::Severity::High,
            SeverityArg::Critical => vigil_proto::Severity::Critical,
        },
        group: match group {
            GroupArg::Auto => None,
            GroupArg::Malware => Some(Group::Malware),
            GroupArg::Patching => Some(Group::Patching),
            GroupArg::Accounts => Some(Group::Accounts),
            GroupArg::Hardening => Some(Group::Hardening),
            GroupArg::Logging => Some(Group::Logging),
            GroupArg::RemovableMedia => Some(Group::RemovableMedia),
            GroupArg::Backup => Some(Group::Backup),
            GroupArg::Integrity => Some(Group::Integrity),
        },
        pack_id: id,
        pack_version,
    };
    if let [one] = policy.as_slice() {
        let output = if output.as_os_str() == "-" {
            crate::rules_cmd::Output::Stdout
        } else {
            crate::rules_cmd::Output::File(output)
        };
        crate::rules_cmd::import_sca_file(
            one,
            &output,
            &opts,
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        )
        .map_err(|e| Failure {
            code: e.exit_code(),
            err: e.into(),
        })?;
        return Ok(0);
    }
    import_many(&policy, &output, &opts)
}

/// Several policies: one pack each in the `output` directory, a bar on a terminal; a policy that
/// fails is reported and the others are still translated (exit: the worst failure's code).
fn import_many(
    policies: &[PathBuf],
    dir: &Path,
    opts: &vigil_rules::sca::ImportOptions,
) -> Result<u8, Failure> {
    use crate::rules_cmd::{EXIT_RUNTIME, EXIT_USAGE, Output};
    let usage = |msg: String| Failure {
        code: EXIT_USAGE,
        err: anyhow!(msg),
    };
    if opts.pack_id.is_some() {
        return Err(usage(
            "--id names one pack; with several policies each pack keeps its policy's id \
             (sca-<policy id>)"
                .into(),
        ));
    }
    if dir.as_os_str() == "-" {
        return Err(usage(
            "with several policies --output must be a directory (each policy gets its own pack)"
                .into(),
        ));
    }
    let mut targets: Vec<(&PathBuf, PathBuf)> = Vec::with_capacity(policies.len());
    let mut seen: HashMap<PathBuf, &PathBuf> = HashMap::new();
    for p in policies {
        let Some(stem) = p.file_stem() else {
            return Err(usage(format!("{}: not a policy file name", p.display())));
        };
        let mut name = stem.to_os_string();
        name.push(".yaml");
        let target = dir.join(name);
        if let Some(first) = seen.insert(target.clone(), p) {
            return Err(usage(format!(
                "{} and {} would both be written to {}; translate them in separate runs",
                first.display(),
                p.display(),
                target.display()
            )));
        }
        targets.push((p, target));
    }
    std::fs::create_dir_all(dir).map_err(|e| Failure {
        code: EXIT_RUNTIME,
        err: anyhow::Error::new(e).context(format!("creating {}", dir.display())),
    })?;
    let bar = crate::progress::bar(Some(policies.len() as u64), "policies", None);
    let mut worst = 0;
    let mut failed = 0usize;
    for (policy, target) in &targets {
        bar.set_message(policy.display().to_string());
        let mut report = Vec::new();
        let res = crate::rules_cmd::import_sca_file(
            policy,
            &Output::File(target.clone()),
            opts,
            &mut std::io::sink(),
            &mut report,
        );
        bar.suspend(|| {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(&report);
            if let Err(e) = &res {
                // The error names the policy or the pack already; its causes follow it.
                let mut line = format!("error: {e}");
                let mut cause = std::error::Error::source(e);
                while let Some(c) = cause {
                    line.push_str(&format!(": {c}"));
                    cause = c.source();
                }
                let _ = writeln!(err, "{line}");
            }
        });
        if let Err(e) = res {
            failed += 1;
            worst = worst.max(e.exit_code());
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    if failed > 0 {
        return Err(Failure {
            code: worst,
            err: anyhow!(
                "{failed} of {} policies could not be translated (each is named above); the \
                 other packs were written to {}",
                policies.len(),
                dir.display()
            ),
        });
    }
    eprintln!(
        "{} policies translated into {}",
        policies.len(),
        dir.display()
    );
    Ok(0)
}
