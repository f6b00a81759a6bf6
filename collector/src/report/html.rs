//! The report as one self-contained HTML page (inline CSS, SVG sparklines, no script).

use std::fmt::Write as _;

use super::Report;
use super::doc::{Cell, Lang, layout};

/// Escapes text for HTML content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An inline SVG polyline of scores in [0, 100].
fn sparkline(values: &[f64]) -> String {
    if values.is_empty() {
        return "—".into();
    }
    let (w, h) = (100.0, 24.0);
    let step = if values.len() > 1 {
        w / (values.len() - 1) as f64
    } else {
        0.0
    };
    let mut pts = String::new();
    for (i, v) in values.iter().enumerate() {
        let y = h - v.clamp(0.0, 100.0) / 100.0 * h;
        let _ = write!(pts, "{:.1},{:.1} ", i as f64 * step, y);
    }
    if values.len() == 1 {
        let y = h - values[0].clamp(0.0, 100.0) / 100.0 * h;
        let _ = write!(pts, "{w:.1},{y:.1}");
    }
    format!(
        r##"<svg class="spark" viewBox="0 0 100 24" width="100" height="24" role="img"><polyline fill="none" stroke="#0969da" stroke-width="1.5" points="{}"/></svg>"##,
        pts.trim_end()
    )
}

/// Renders the page.
pub fn render(r: &Report, lang: Lang) -> String {
    let d = layout(r, lang);
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:"DejaVu Sans",system-ui,sans-serif;margin:2rem;color:#1b1f24}}
h1{{font-size:1.4rem}}h2{{font-size:1.1rem;margin-top:2rem}}table{{border-collapse:collapse;width:100%}}
td,th{{border-bottom:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:middle}}
th{{background:#f6f8fa}}td.n,th.n{{text-align:right}}td.n{{white-space:nowrap}}dl{{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}}
dt{{font-weight:bold}}dd{{margin:0}}p.note{{color:#57606a;font-size:.9em}}</style>
</head><body>
<h1>{title}</h1>
<dl>
"#,
        lang = lang.code(),
        title = esc(&d.title),
    );
    for (k, v) in &d.meta {
        let _ = writeln!(out, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(v));
    }
    out.push_str("</dl>\n");
    for t in &d.tables {
        let _ = writeln!(out, "<h2>{}</h2>", esc(&t.title));
        if t.rows.is_empty() {
            let _ = writeln!(out, "<p>{}</p>", esc(&t.empty));
            continue;
        }
        out.push_str("<table><thead><tr>");
        for (c, right) in t.columns.iter().zip(super::pdf::right_aligned(t)) {
            let class = if right { r#" class="n""# } else { "" };
            let _ = write!(out, "<th{class}>{}</th>", esc(&c.label));
        }
        out.push_str("</tr></thead>\n<tbody>\n");
        for row in &t.rows {
            out.push_str("<tr>");
            for cell in row {
                match cell {
                    Cell::Text(s, indent) if *indent > 0 => {
                        let _ = write!(
                            out,
                            r#"<td style="padding-left:{}rem">{}</td>"#,
                            0.5 + 1.2 * (*indent).min(10) as f32,
                            esc(s)
                        );
                    }
                    Cell::Text(s, _) => {
                        let _ = write!(out, "<td>{}</td>", esc(s));
                    }
                    Cell::Num(s) => {
                        let _ = write!(out, r#"<td class="n">{}</td>"#, esc(s));
                    }
                    Cell::Spark(v) => {
                        let _ = write!(out, "<td>{}</td>", sparkline(v));
                    }
                }
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody></table>\n");
    }
    for n in &d.notes {
        let _ = writeln!(out, r#"<p class="note">{}</p>"#, esc(n));
    }
    out.push_str("</body></html>\n");
    out
}
