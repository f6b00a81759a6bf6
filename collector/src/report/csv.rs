//! The report as CSV: one row per agency of the scope (each over its subtree), RFC 4180
//! quoting, UTF-8 with a byte-order mark so spreadsheets read the diacritics. Numbers use a
//! decimal point whatever the language; an empty field means "no value". Text that a
//! spreadsheet would take for a formula is prefixed with `'`.

use super::doc::Lang;
use super::{AgencyRow, Report, SHARES, ShareKind};

fn field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn n2(v: f64) -> String {
    format!("{v:.2}")
}

fn opt2(v: Option<f64>) -> String {
    v.map(n2).unwrap_or_default()
}

fn hours(s: Option<i64>) -> String {
    s.map(|s| format!("{:.1}", s as f64 / 3600.0))
        .unwrap_or_default()
}

fn share_key(k: ShareKind) -> &'static str {
    match k {
        ShareKind::AntiMalware => "antimalware",
        ShareKind::Patched => "patched_30d",
        ShareKind::TimeSync => "time_sync",
        ShareKind::LogRetention => "log_retention",
    }
}

fn header(lang: Lang) -> Vec<String> {
    let mut h: Vec<String> = [
        ("agency_id", "Mã đơn vị"),
        ("agency_name", "Tên đơn vị"),
        ("level", "Cấp độ"),
        ("assets", "Tài sản"),
        ("agents", "Máy có agent"),
        ("coverage_pct", "Độ phủ (%)"),
        ("a", "A"),
        ("a_common", "A_common"),
        ("a_level", "A_level"),
        ("a_start", "A đầu kỳ"),
        ("a_end", "A cuối kỳ"),
        ("a_common_start", "A_common đầu kỳ"),
        ("a_common_end", "A_common cuối kỳ"),
        ("a_level_start", "A_level đầu kỳ"),
        ("a_level_end", "A_level cuối kỳ"),
        ("failing_hosts", "Máy không đạt"),
    ]
    .iter()
    .map(|(en, vi)| lang.t(vi, en).to_owned())
    .collect();
    for (k, _) in SHARES {
        let (key, short) = (share_key(k), lang.share_short(k));
        for (en, vi) in [
            ("yes", "đạt"),
            ("no", "không"),
            ("unknown", "chưa rõ"),
            ("pct", "%"),
        ] {
            h.push(match lang {
                Lang::En => format!("{key}_{en}"),
                Lang::Vi => format!("{short} - {vi}"),
            });
        }
    }
    for s in super::SEVERITIES {
        let (key, label) = (s.as_str(), lang.severity(s));
        for (en, vi) in [
            ("open", "đang mở"),
            ("open_median_age_h", "tuổi trung vị (giờ)"),
            ("resolved", "đã xử lý trong kỳ"),
            ("mttr_h", "thời gian xử lý TB (giờ)"),
        ] {
            h.push(match lang {
                Lang::En => format!("{key}_{en}"),
                Lang::Vi => format!("{} {label} - {vi}", "Cảnh báo"),
            });
        }
    }
    for (en, vi) in [
        ("rule_pack_version", "Phiên bản bộ quy tắc"),
        ("period_from", "Từ ngày"),
        ("period_to", "Đến ngày"),
    ] {
        h.push(lang.t(vi, en).to_owned());
    }
    h
}

fn row(r: &Report, a: &AgencyRow) -> Vec<String> {
    let mut v = vec![
        field(&a.id),
        field(&a.name),
        a.level.to_string(),
        a.assets.to_string(),
        a.metrics.agents.to_string(),
        n2(a.views[0].coverage * 100.0),
        n2(a.views[0].now),
        n2(a.views[1].now),
        n2(a.views[2].now),
    ];
    for view in &a.views {
        v.push(opt2(view.start));
        v.push(opt2(view.end));
    }
    v.push(a.failing.to_string());
    for c in &a.metrics.shares {
        v.push(c.yes.to_string());
        v.push(c.no.to_string());
        v.push(c.unknown.to_string());
        v.push(opt2(c.share().map(|s| s * 100.0)));
    }
    for s in &a.metrics.alerts {
        v.push(s.open.to_string());
        v.push(hours(s.median_age_s));
        v.push(s.resolved.to_string());
        v.push(hours(s.mttr_s));
    }
    v.push(field(&r.rule_pack_version));
    v.push(r.period.from.to_string());
    v.push(r.period.to.to_string());
    v
}

/// Renders the CSV (CRLF line ends).
pub fn render(r: &Report, lang: Lang) -> String {
    let mut out = String::from("\u{feff}");
    out.push_str(
        &header(lang)
            .iter()
            .map(|h| field(h))
            .collect::<Vec<_>>()
            .join(","),
    );
    out.push_str("\r\n");
    for a in &r.agencies {
        out.push_str(&row(r, a).join(","));
        out.push_str("\r\n");
    }
    out
}
