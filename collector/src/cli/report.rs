//! `report`: a posture report written to a file (docs/reports.md).

use super::term::outln;
use std::io::Write as _;
use std::path::PathBuf;

use anyhow::anyhow;

use super::{Failure, ReportArgs, load, open_store};
use crate::report::{Format, Lang, Period, Report, ReportError};

pub(super) fn report(a: &ReportArgs) -> Result<(), Failure> {
    let now = crate::clock::now_ms();
    let period = Period::parse(a.from.as_deref(), a.to.as_deref(), a.period.as_deref(), now)
        .map_err(|e| Failure::usage(anyhow!("--{e}")))?;
    let format = Format::parse(&a.format)
        .ok_or_else(|| Failure::usage(anyhow!("--format: expected html, pdf or csv")))?;
    let lang =
        Lang::parse(&a.lang).ok_or_else(|| Failure::usage(anyhow!("--lang: expected vi or en")))?;
    let cfg = load(&a.dir)?;
    let store = open_store(&cfg)?;
    let bar = super::term::progress("reading scores, alerts and findings");
    let report = match Report::build(
        &*store,
        &cfg.scoring,
        &cfg.name,
        a.agency.as_deref(),
        period,
        now,
    ) {
        Ok(r) => r,
        Err(ReportError::UnknownAgency(id)) => {
            return Err(Failure::usage(anyhow!(
                "no agency {id:?} (see `agency list`)"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    bar.set_message(format!("rendering the {} report", a.format));
    let bytes = report.render(format, lang, &cfg.reports.font);
    bar.finish_and_clear();
    let bytes = bytes?;
    match &a.output {
        Some(p) if p.as_os_str() == "-" => {
            std::io::stdout()
                .lock()
                .write_all(&bytes)
                .map_err(|e| anyhow!("writing to standard output: {e}"))?;
        }
        out => {
            let path = out
                .clone()
                .unwrap_or_else(|| PathBuf::from(report.file_name(format)));
            crate::fsutil::write_atomic(&path, &bytes, 0o640)
                .map_err(|e| anyhow!("writing {}: {e}", path.display()))?;
            outln!("{}", path.display());
        }
    }
    Ok(())
}
