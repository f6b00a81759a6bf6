//! The words of notifications, in Vietnamese and English: subjects, bodies and each alert
//! kind's title from its stored facts (the same catalogue entries as the console's `al_*`).

use serde_json::Value;

use super::policy::{Item, Message};
use crate::report::{Lang, local_time};

/// The subject line of `m`, without any control character (an agent names its host).
pub fn subject(lang: Lang, org: &str, m: &Message) -> String {
    let s = match m {
        Message::Alert(i) => format!(
            "[{org}] {}: {} — {}",
            lang.severity(i.severity),
            i.host,
            kind_label(lang, &i.kind)
        ),
        Message::Digest { .. } => {
            let n = m.alert_count();
            match lang {
                Lang::Vi => format!("[{org}] Tổng hợp: {n} cảnh báo mới"),
                Lang::En => format!("[{org}] Digest: {n} new alerts"),
            }
        }
    };
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The plain-text body of `m`: lines, with no other control character (agent text is shown,
/// never interpreted by a terminal or mail reader).
pub fn body(lang: Lang, org: &str, m: &Message) -> String {
    body_lines(lang, org, m)
        .chars()
        .map(|c| if c.is_control() && c != '\n' { ' ' } else { c })
        .collect()
}

fn body_lines(lang: Lang, org: &str, m: &Message) -> String {
    let mut out = String::new();
    match m {
        Message::Alert(i) => {
            out.push_str(lang.t(
                "Vigil vừa ghi nhận một cảnh báo mới:\n\n",
                "Vigil raised a new alert:\n\n",
            ));
            item_lines(lang, i, &mut out);
        }
        Message::Digest { items, more } => {
            out.push_str(&match lang {
                Lang::Vi => format!(
                    "Vigil đã ghi nhận {} cảnh báo mới kể từ thông báo trước (gửi gộp để tránh \
                     gửi hàng loạt):\n\n",
                    m.alert_count()
                ),
                Lang::En => format!(
                    "Vigil raised {} new alerts since the last message (sent as one digest \
                     rather than one message each):\n\n",
                    m.alert_count()
                ),
            });
            for i in items {
                item_lines(lang, i, &mut out);
                out.push('\n');
            }
            if *more > 0 {
                out.push_str(&match lang {
                    Lang::Vi => format!("… và {more} cảnh báo khác.\n"),
                    Lang::En => format!("… and {more} more.\n"),
                });
            }
        }
    }
    out.push_str(&match lang {
        Lang::Vi => format!("\nXem và xử lý trên bảng điều khiển của {org}.\n"),
        Lang::En => format!("\nSee and handle them in the {org} console.\n"),
    });
    out
}

fn item_lines(lang: Lang, i: &Item, out: &mut String) {
    let (sev, host, agency, at, kind) = match lang {
        Lang::Vi => ("Mức độ", "Máy", "Đơn vị", "Thời điểm", "Loại"),
        Lang::En => ("Severity", "Host", "Agency", "Raised", "Kind"),
    };
    out.push_str(&format!(
        "- {}\n  {sev}: {}\n  {kind}: {}\n  {host}: {}\n  {agency}: {}\n  {at}: {}\n",
        title(lang, i),
        lang.severity(i.severity),
        kind_label(lang, &i.kind),
        i.host,
        if i.agency.is_empty() { "?" } else { &i.agency },
        local_time(i.opened_at.saturating_mul(1000)),
    ));
}

/// The name of an alert kind.
pub fn kind_label(lang: Lang, kind: &str) -> String {
    let (vi, en) = match kind {
        "seq_gap" => ("Thiếu bản ghi", "Findings missing"),
        "ioc_hit" => ("Khớp chỉ dấu tấn công", "Indicator of compromise"),
        "critical_rule_failed" => ("Quy tắc nghiêm trọng không đạt", "Critical rule failing"),
        "fim_critical_path" => ("Thay đổi tệp quan trọng", "Critical file changed"),
        "registry_autostart" => ("Thay đổi registry khởi động", "Autostart registry change"),
        "spool_dropped" => ("Agent bỏ bản ghi", "Agent dropped findings"),
        "new_listener_on_server" => ("Cổng mới mở trên máy chủ", "New listener on a server"),
        "agent_silent" => ("Agent im lặng", "Agent silent"),
        "duplicate_machine_id" | "duplicate_machine" => ("Trùng máy", "Duplicate machine"),
        "cert_expiring" => ("Chứng chỉ sắp hết hạn", "Certificate expiring"),
        "agent_quota" => ("Vượt hạn mức", "Quota exceeded"),
        "notify_test" => ("Thông báo thử", "Test notification"),
        "critical_vulnerability" => (
            "Lỗ hổng nghiêm trọng trên máy chủ",
            "Critical vulnerability on a server",
        ),
        other => return other.to_owned(),
    };
    lang.t(vi, en).to_owned()
}

/// The alert's one-line title in `lang`, from its facts; the stored English title when the
/// facts do not fit the kind (an alert from an older version).
pub fn title(lang: Lang, i: &Item) -> String {
    let p = |k: &str| match i.params.get(k) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Null) | None => None,
        Some(v) => Some(v.to_string()),
    };
    let process =
        || p("exe").unwrap_or_else(|| lang.t("tiến trình không rõ", "unknown process").into());
    let t = match i.kind.as_str() {
        "ioc_hit" => p("indicator").map(|ind| match lang {
            Lang::Vi => format!("{} khớp chỉ dấu tấn công {ind}", process()),
            Lang::En => format!("{} matched indicator {ind}", process()),
        }),
        "critical_rule_failed" => p("rule").map(|r| {
            let ev = p("evidence").unwrap_or_default();
            match lang {
                Lang::Vi => format!("Quy tắc nghiêm trọng {r} không đạt: {ev}"),
                Lang::En => format!("Critical rule {r} fails: {ev}"),
            }
        }),
        "seq_gap" => p("from").zip(p("to")).map(|(f, t)| {
            let n = p("count").unwrap_or_default();
            match lang {
                Lang::Vi => format!(
                    "Bản ghi #{f}..#{t} của agent này không bao giờ đến ({n} bản ghi thiếu)"
                ),
                Lang::En => {
                    format!("Findings #{f}..#{t} from this agent never arrived ({n} missing)")
                }
            }
        }),
        "new_listener_on_server" => p("proto").zip(p("local")).map(|(pr, l)| match lang {
            Lang::Vi => format!("Cổng {pr} mới mở trên {l} ({})", process()),
            Lang::En => format!("New {pr} listener on {l} ({})", process()),
        }),
        "fim_critical_path" => p("path").map(|path| {
            let ch = p("change").unwrap_or_default();
            match lang {
                Lang::Vi => format!("{path}: {ch} trên đường dẫn quan trọng"),
                Lang::En => format!("{path}: {ch} on a critical path"),
            }
        }),
        "spool_dropped" => p("count").map(|n| match lang {
            Lang::Vi => format!("{n} bản ghi bị bỏ vì hàng đợi của agent đầy"),
            Lang::En => format!("{n} findings were dropped because the agent spool was full"),
        }),
        "agent_silent" => p("host").zip(p("seconds")).map(|(h, s)| {
            let d = lang.duration(s.parse().unwrap_or(0));
            match (lang, p("never").as_deref() == Some("true")) {
                (Lang::Vi, false) => format!("{h} không báo cáo đã {d}"),
                (Lang::Vi, true) => format!("{h} đăng ký đã {d} nhưng chưa từng báo cáo"),
                (Lang::En, false) => format!("{h} has not reported for {d}"),
                (Lang::En, true) => format!("{h} enrolled {d} ago and never reported"),
            }
        }),
        "cert_expiring" => p("host").map(|h| match lang {
            Lang::Vi => format!("Chứng chỉ agent của {h} sắp hết hạn hoặc đã hết hạn"),
            Lang::En => format!("The agent certificate of {h} is expiring or has expired"),
        }),
        "notify_test" => Some(
            lang.t(
                "Thông báo thử: người nhận này được cấu hình đúng",
                "Test notification: this recipient is configured correctly",
            )
            .to_owned(),
        ),
        _ => None,
    };
    t.unwrap_or_else(|| match lang {
        // No Vietnamese words for this alert's facts: its kind, then the English title.
        Lang::Vi => format!("{}: {}", kind_label(lang, &i.kind), i.title),
        Lang::En => i.title.clone(),
    })
}
