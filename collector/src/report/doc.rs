//! The report laid out as titled tables, in one language: what the HTML and PDF renderers draw.

use vigil_proto::Severity;

use super::{Report, SHARES, ShareCount, ShareKind, ViewTrend, WINDOWS_SHARES, local_time};

/// Language of the labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// Vietnamese (default).
    #[default]
    Vi,
    /// English.
    En,
}

impl Lang {
    /// Parses `vi` or `en`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "vi" => Some(Self::Vi),
            "en" => Some(Self::En),
            _ => None,
        }
    }

    /// `vi` or `en`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Vi => "vi",
            Self::En => "en",
        }
    }

    /// The label in this language.
    pub(crate) fn t(self, vi: &'static str, en: &'static str) -> &'static str {
        match self {
            Self::Vi => vi,
            Self::En => en,
        }
    }

    /// A number with one decimal (decimal comma in Vietnamese).
    pub(crate) fn num(self, v: f64) -> String {
        let s = format!("{v:.1}");
        match self {
            Self::Vi => s.replace('.', ","),
            Self::En => s,
        }
    }

    /// A ratio in [0, 1] as a percentage.
    pub(crate) fn pct(self, v: f64) -> String {
        format!("{} %", self.num(v * 100.0))
    }

    /// A duration in seconds, in its two largest units.
    pub(crate) fn duration(self, s: i64) -> String {
        let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
        match self {
            Self::Vi if d > 0 => format!("{d} ngày {h} giờ"),
            Self::Vi if h > 0 => format!("{h} giờ {m} phút"),
            Self::Vi => format!("{m} phút"),
            Self::En if d > 0 => format!("{d} d {h} h"),
            Self::En if h > 0 => format!("{h} h {m} min"),
            Self::En => format!("{m} min"),
        }
    }

    pub(crate) fn severity(self, s: Severity) -> &'static str {
        match s {
            Severity::Critical => self.t("Nghiêm trọng", "Critical"),
            Severity::High => self.t("Cao", "High"),
            Severity::Medium => self.t("Trung bình", "Medium"),
            Severity::Low => self.t("Thấp", "Low"),
        }
    }

    pub(crate) fn share(self, k: ShareKind) -> &'static str {
        match k {
            ShareKind::AntiMalware => {
                self.t("Phòng chống mã độc hoạt động tốt", "Healthy anti-malware")
            }
            ShareKind::Patched => self.t("Đã vá trong 30 ngày", "Patched within 30 days"),
            ShareKind::TimeSync => self.t("Đồng bộ thời gian", "Time synchronised"),
            ShareKind::LogRetention => self.t(
                "Lưu nhật ký đủ mức tối thiểu của cấp độ",
                "Log retention at the level minimum",
            ),
        }
    }

    pub(crate) fn share_short(self, k: ShareKind) -> &'static str {
        match k {
            ShareKind::AntiMalware => self.t("Mã độc", "Anti-malware"),
            ShareKind::Patched => self.t("Vá ≤ 30 ngày", "Patched ≤ 30 d"),
            ShareKind::TimeSync => self.t("Đồng bộ giờ", "Time sync"),
            ShareKind::LogRetention => self.t("Lưu nhật ký", "Log retention"),
        }
    }
}

/// One cell.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    /// Left-aligned text; the number is an indent level.
    Text(String, usize),
    /// Right-aligned text.
    Num(String),
    /// A sparkline of these values (0–100).
    Spark(Vec<f64>),
}

/// One column.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Column {
    pub(crate) label: String,
    /// Relative width.
    pub(crate) width: f32,
}

/// One titled table.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Table {
    pub(crate) title: String,
    pub(crate) columns: Vec<Column>,
    pub(crate) rows: Vec<Vec<Cell>>,
    /// Shown when there are no rows.
    pub(crate) empty: String,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Document {
    pub(crate) title: String,
    pub(crate) meta: Vec<(String, String)>,
    pub(crate) tables: Vec<Table>,
    pub(crate) notes: Vec<String>,
}

fn cols(spec: &[(&str, f32)]) -> Vec<Column> {
    spec.iter()
        .map(|(l, w)| Column {
            label: (*l).to_owned(),
            width: *w,
        })
        .collect()
}

fn text(s: impl Into<String>) -> Cell {
    Cell::Text(s.into(), 0)
}

fn num(s: impl Into<String>) -> Cell {
    Cell::Num(s.into())
}

fn opt_num(lang: Lang, v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| lang.num(v))
}

/// The agency's name; a federated one says which collector its figures come from and how old
/// they are (`Xã A — liên thông từ Huyện B, số liệu 5 phút trước`).
fn agency_name(lang: Lang, a: &super::AgencyRow) -> String {
    let Some(f) = &a.federated else {
        return a.name.clone();
    };
    let age = if f.age_s < 3600 {
        format!("{} {}", f.age_s.max(0) / 60, lang.t("phút", "min"))
    } else {
        format!("{} {}", f.age_s / 3600, lang.t("giờ", "h"))
    };
    let mut s = format!(
        "{} — {} {}, {} {age} {}",
        a.name,
        lang.t("liên thông từ", "federated from"),
        f.collector,
        lang.t("số liệu", "figures"),
        lang.t("trước", "old"),
    );
    if f.stale {
        s.push_str(lang.t(" (đã cũ)", " (stale)"));
    }
    s
}

fn start_end(lang: Lang, v: &ViewTrend) -> String {
    format!("{} → {}", opt_num(lang, v.start), opt_num(lang, v.end))
}

fn share_cell(lang: Lang, c: &ShareCount) -> String {
    match c.share() {
        None => "—".into(),
        Some(s) if c.unknown > 0 => {
            format!(
                "{} · {} {}",
                lang.pct(s),
                c.unknown,
                lang.t("chưa rõ", "unknown")
            )
        }
        Some(s) => lang.pct(s),
    }
}

/// Lays the report out in `lang`.
pub(crate) fn layout(r: &Report, lang: Lang) -> Document {
    let t = |vi, en| lang.t(vi, en).to_owned();
    let title = format!(
        "{} — {}",
        t(
            "Báo cáo tình trạng an toàn thông tin",
            "Security posture report"
        ),
        r.scope_name
    );
    let mut meta = vec![
        (
            t("Đơn vị", "Scope"),
            match &r.scope {
                Some(id) => format!("{} ({id})", r.scope_name),
                None => format!("{} ({})", r.org, t("toàn tỉnh", "whole province")),
            },
        ),
        (
            t("Kỳ báo cáo", "Period"),
            format!("{} — {}", r.period.from, r.period.to),
        ),
        (
            t("Lập lúc", "Generated"),
            format!("{} (UTC+7)", local_time(r.generated_at)),
        ),
        (
            t("Phiên bản bộ quy tắc", "Rule-pack version"),
            if r.rule_pack_version.is_empty() {
                t("chưa có kết quả", "no results yet")
            } else {
                r.rule_pack_version.clone()
            },
        ),
        (
            t("Phiên bản cách tính điểm", "Scoring version"),
            r.scoring_version.clone(),
        ),
        (
            t("Chính sách tập trung", "Central policies"),
            if r.policies.is_empty() {
                t("không có", "none")
            } else {
                r.policies.clone()
            },
        ),
    ];
    meta.push((
        t("Số máy có agent", "Hosts with an agent"),
        r.total.agents.to_string(),
    ));

    let mut tables = Vec::new();
    tables.push(Table {
        title: t("Điểm theo đơn vị", "Scores by agency"),
        columns: cols(&[
            (lang.t("Đơn vị", "Agency"), 4.0),
            (lang.t("Cấp độ", "Level"), 0.9),
            (lang.t("Tài sản", "Assets"), 1.0),
            (lang.t("Độ phủ", "Coverage"), 1.2),
            ("A", 0.9),
            ("A_common", 1.3),
            ("A_level", 1.1),
            (lang.t("A đầu → cuối kỳ", "A start → end"), 1.9),
            (lang.t("Diễn biến A", "A over the period"), 1.7),
            (lang.t("A_common đầu → cuối", "A_common start → end"), 1.9),
            (lang.t("A_level đầu → cuối", "A_level start → end"), 1.9),
            (lang.t("Máy không đạt", "Failing hosts"), 1.2),
        ]),
        rows: r
            .agencies
            .iter()
            .map(|a| {
                vec![
                    Cell::Text(agency_name(lang, a), a.depth),
                    num(a.level.to_string()),
                    num(a.assets.to_string()),
                    num(lang.pct(a.views[0].coverage)),
                    num(lang.num(a.views[0].now)),
                    num(lang.num(a.views[1].now)),
                    num(lang.num(a.views[2].now)),
                    num(start_end(lang, &a.views[0])),
                    Cell::Spark(a.views[0].points.iter().map(|p| p.1).collect()),
                    num(start_end(lang, &a.views[1])),
                    num(start_end(lang, &a.views[2])),
                    num(a.failing.to_string()),
                ]
            })
            .collect(),
        empty: t("Không có đơn vị.", "No agency."),
    });

    tables.push(Table {
        title: t(
            "Tỷ lệ máy theo chỉ số (toàn phạm vi báo cáo)",
            "Share of hosts per indicator (whole scope)",
        ),
        columns: cols(&[
            (lang.t("Chỉ số", "Indicator"), 3.2),
            (lang.t("Đạt", "Yes"), 0.8),
            (lang.t("Không", "No"), 0.8),
            (lang.t("Chưa rõ", "Unknown"), 0.9),
            (lang.t("Tỷ lệ đạt", "Share"), 1.0),
            (lang.t("Quy tắc", "Rules"), 5.0),
        ]),
        rows: SHARES
            .iter()
            .zip(&WINDOWS_SHARES)
            .zip(&r.total.shares)
            .map(|(((kind, rules), (_, win_rules)), c)| {
                vec![
                    text(lang.share(*kind)),
                    num(c.yes.to_string()),
                    num(c.no.to_string()),
                    num(c.unknown.to_string()),
                    num(c.share().map_or_else(|| "—".into(), |s| lang.pct(s))),
                    text(format!(
                        "{}; Windows: {}",
                        rules.join(", "),
                        win_rules.join(", ")
                    )),
                ]
            })
            .collect(),
        empty: String::new(),
    });

    let mut share_cols = vec![
        (lang.t("Đơn vị", "Agency"), 4.0),
        (lang.t("Máy có agent", "Hosts"), 1.1),
    ];
    share_cols.extend(SHARES.iter().map(|(k, _)| (lang.share_short(*k), 2.0)));
    tables.push(Table {
        title: t("Chỉ số theo đơn vị", "Indicators by agency"),
        columns: cols(&share_cols),
        rows: r
            .agencies
            .iter()
            .map(|a| {
                let mut row = vec![
                    Cell::Text(a.name.clone(), a.depth),
                    num(a.metrics.agents.to_string()),
                ];
                row.extend(a.metrics.shares.iter().map(|c| num(share_cell(lang, c))));
                row
            })
            .collect(),
        empty: t("Không có đơn vị.", "No agency."),
    });

    tables.push(Table {
        title: t(
            "Cảnh báo theo mức độ (toàn phạm vi báo cáo)",
            "Alerts by severity (whole scope)",
        ),
        columns: cols(&[
            (lang.t("Mức độ", "Severity"), 2.0),
            (lang.t("Đang mở", "Open"), 1.0),
            (lang.t("Tuổi trung vị", "Median age"), 1.6),
            (lang.t("Đã xử lý trong kỳ", "Resolved in period"), 1.6),
            (lang.t("Thời gian xử lý TB", "Mean time to resolve"), 1.8),
        ]),
        rows: r
            .total
            .alerts
            .iter()
            .map(|s| {
                vec![
                    text(lang.severity(s.severity)),
                    num(s.open.to_string()),
                    num(s
                        .median_age_s
                        .map_or_else(|| "—".into(), |v| lang.duration(v))),
                    num(s.resolved.to_string()),
                    num(s.mttr_s.map_or_else(|| "—".into(), |v| lang.duration(v))),
                ]
            })
            .collect(),
        empty: String::new(),
    });

    tables.push(Table {
        title: t("Máy “Không đạt”", "Hosts failing (“Không đạt”)"),
        columns: cols(&[
            (lang.t("Máy", "Host"), 3.0),
            (lang.t("Đơn vị", "Agency"), 4.0),
            (lang.t("Cấp độ", "Level"), 0.8),
            (lang.t("Điểm H", "Score H"), 1.0),
        ]),
        rows: r
            .failing_hosts
            .iter()
            .map(|h| {
                vec![
                    text(if h.simulated {
                        format!("{} ({})", h.hostname, lang.t("mô phỏng", "simulated"))
                    } else {
                        h.hostname.clone()
                    }),
                    text(h.agency.clone()),
                    num(h.level.to_string()),
                    num(lang.num(h.score)),
                ]
            })
            .collect(),
        empty: t("Không có máy nào không đạt.", "No host is failing."),
    });

    tables.extend(vuln_tables(r, lang));

    let mut notes = vec![
        t(
            "A, A_common, A_level, độ phủ, số máy không đạt và các tỷ lệ được tính tại thời điểm lập báo cáo; \
             đầu → cuối kỳ và diễn biến lấy từ lịch sử điểm đã lưu (— khi chưa có).",
            "A, A_common, A_level, coverage, failing hosts and the shares are computed when the report is made; \
             start → end and the sparkline come from the stored score history (— when there is none).",
        ),
        t(
            "Một máy \"đạt\" một chỉ số khi mọi quy tắc nêu trên đều đạt, \"không\" khi có quy tắc không đạt, \
             \"chưa rõ\" khi thiếu kết quả, lỗi đánh giá hoặc không áp dụng. Vá trong 30 ngày: chỉ tính kết quả \
             quan sát trong 30 ngày cuối kỳ. Lưu nhật ký: máy cấp độ 1 không có mức tối thiểu.",
            "A host answers \"yes\" to an indicator when every rule listed passed, \"no\" when one failed, and \
             \"unknown\" when a result is missing, errored or not applicable. Patched within 30 days: only results \
             observed in the last 30 days of the period count. Log retention: level 1 has no minimum.",
        ),
        t(
            "Cảnh báo đang mở: còn mở hoặc đã tiếp nhận, phát sinh trước cuối kỳ; tuổi tính đến cuối kỳ. \
             Thời gian xử lý trung bình: các cảnh báo được xử lý xong trong kỳ, tính từ lúc phát sinh hoặc mở lại.",
            "Open alerts: open or acknowledged, raised before the end of the period; age at the end of the period. \
             Mean time to resolve: alerts resolved during the period, from when they were raised or reopened.",
        ),
    ];
    if r.simulated_hosts > 0 {
        let (before, after) = (
            t("Báo cáo này tính cả", "This report counts"),
            t(
                "máy mô phỏng (dữ liệu trình diễn của `vigil-collector demo --province`, không phải máy thật).",
                "simulated hosts (demonstration data of `vigil-collector demo --province`, not real machines).",
            ),
        );
        notes.insert(0, format!("{before} {} {after}", r.simulated_hosts));
    }
    Document {
        title,
        meta,
        tables,
        notes,
    }
}

/// Vulnerable software: hosts affected per CVE, and the oldest unpatched critical.
fn vuln_tables(r: &Report, lang: Lang) -> [Table; 2] {
    let t = |vi: &'static str, en: &'static str| lang.t(vi, en).to_owned();
    let sev = |s: Option<&str>| match s {
        Some("critical") => lang.severity(Severity::Critical),
        Some("high") => lang.severity(Severity::High),
        Some("medium") => lang.severity(Severity::Medium),
        Some("low") => lang.severity(Severity::Low),
        _ => "—",
    };
    let v = &r.vulns;
    let per_cve = Table {
        title: format!(
            "{} ({} {})",
            t("Lỗ hổng phần mềm theo CVE", "Vulnerable software per CVE"),
            v.hosts_affected,
            t("máy bị ảnh hưởng", "hosts affected")
        ),
        columns: cols(&[
            ("CVE", 2.2),
            (lang.t("Mức độ", "Severity"), 1.4),
            (lang.t("Khuyến cáo", "Advisories"), 3.0),
            (lang.t("Số máy", "Hosts"), 1.0),
        ]),
        rows: v
            .cves
            .iter()
            .map(|c| {
                vec![
                    text(c.cve.clone()),
                    text(sev(c.severity.as_deref())),
                    text(c.advisories.join(", ")),
                    num(c.hosts.to_string()),
                ]
            })
            .collect(),
        empty: t(
            "Không có máy nào chạy phiên bản bị ảnh hưởng bởi các khuyến cáo đã nhập.",
            "No host runs a version affected by the imported advisories.",
        ),
    };
    let age = |since: i64| lang.duration((r.generated_at / 1000 - since).max(0));
    let oldest = Table {
        title: t(
            "Lỗ hổng nghiêm trọng chưa vá lâu nhất",
            "Oldest unpatched critical",
        ),
        columns: cols(&[
            (lang.t("Máy", "Host"), 2.4),
            (lang.t("Khuyến cáo", "Advisory"), 2.4),
            (
                lang.t("Gói: đã cài → bản sửa", "Package: installed → fixed"),
                4.0,
            ),
            (lang.t("Đã chờ", "Waiting"), 1.4),
        ]),
        rows: v
            .oldest_critical
            .iter()
            .map(|m| {
                vec![
                    text(m.hostname.clone()),
                    text(format!("{} {}", m.advisory, m.cves.join(", "))),
                    text(format!(
                        "{}: {} → {}",
                        m.package,
                        m.installed,
                        m.fixed.as_deref().unwrap_or("—")
                    )),
                    num(age(m.since)),
                ]
            })
            .collect(),
        empty: t(
            "Không có lỗ hổng nghiêm trọng nào đã có bản sửa mà chưa vá.",
            "No critical vulnerability with a known fix is unpatched.",
        ),
    };
    [per_cve, oldest]
}
