//! `rules import-sca`: Wazuh SCA policies translated into rule packs.

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
    let output = if output.as_os_str() == "-" {
        crate::rules_cmd::Output::Stdout
    } else {
        crate::rules_cmd::Output::File(output)
    };
    crate::rules_cmd::import_sca_file(
        &policy,
        &output,
        &opts,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    )
    .map_err(|e| Failure {
        code: e.exit_code(),
        err: e.into(),
    })?;
    Ok(0)
}
