//! The report as PDF 1.4, written by hand: A4 landscape pages of text, tables and vector
//! sparklines, with one TrueType font embedded as a Type0/CIDFontType2 font (Identity-H
//! encoding, glyph ids as character codes), its widths, and a ToUnicode CMap so that text
//! extraction returns the Vietnamese text with its diacritics. Streams are flate-compressed.
//!
//! The whole font file is embedded (DejaVu Sans by default, from the Debian package
//! `fonts-dejavu-core`; `[reports] font` chooses another with TrueType outlines).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use ttf_parser::{Face, GlyphId};

use super::doc::{Cell, Document, Lang, Table, layout};
use super::{Report, ReportError};

/// The font used when `[reports] font` is not set.
pub const DEFAULT_FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

const PAGE_W: f32 = 842.0;
const PAGE_H: f32 = 595.0;
const MARGIN: f32 = 36.0;
const BODY: f32 = 7.5;
const ROW_H: f32 = 12.0;
/// Extra height of each further line of a wrapped cell.
const LINE_H: f32 = 9.0;
/// Lines a text cell wraps to at most.
const MAX_LINES: usize = 4;

/// Reads a font file and checks that it can be embedded.
///
/// # Errors
/// A message naming the file (and the Debian package of the default font when it is missing).
pub fn load_font(path: &Path) -> Result<Vec<u8>, ReportError> {
    let data = std::fs::read(path).map_err(|e| {
        let hint = if path == Path::new(DEFAULT_FONT) {
            " (install the Debian package fonts-dejavu-core, or set [reports] font in collector.toml)"
        } else {
            ""
        };
        ReportError::Render(format!("PDF font {}: {e}{hint}", path.display()))
    })?;
    let face = Face::parse(&data, 0)
        .map_err(|e| ReportError::Render(format!("PDF font {}: {e}", path.display())))?;
    if face.tables().glyf.is_none() {
        return Err(ReportError::Render(format!(
            "PDF font {}: not a TrueType-outline font (need glyf outlines, e.g. a .ttf)",
            path.display()
        )));
    }
    Ok(data)
}

/// Pages being drawn with one font.
pub(crate) struct Canvas<'f> {
    face: Face<'f>,
    font: &'f [u8],
    /// Glyph id → the character it was first used for (for ToUnicode).
    used: BTreeMap<u16, char>,
    pages: Vec<String>,
    cur: String,
    /// Current baseline position from the bottom.
    y: f32,
}

fn f(v: f32) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.to_owned() }
}

impl<'f> Canvas<'f> {
    /// A canvas drawing with the font in `font` (checked by [`load_font`]).
    ///
    /// # Errors
    /// When the font does not parse.
    pub(crate) fn new(font: &'f [u8]) -> Result<Self, ReportError> {
        let face =
            Face::parse(font, 0).map_err(|e| ReportError::Render(format!("PDF font: {e}")))?;
        Ok(Self {
            face,
            font,
            used: BTreeMap::new(),
            pages: Vec::new(),
            cur: String::new(),
            y: PAGE_H - MARGIN,
        })
    }

    fn gid(&self, c: char) -> u16 {
        self.face
            .glyph_index(c)
            .or_else(|| self.face.glyph_index('?'))
            .map_or(0, |g| g.0)
    }

    fn units(&self) -> f32 {
        f32::from(self.face.units_per_em().max(1))
    }

    /// Width of `s` at `size` points.
    pub(crate) fn width(&self, s: &str, size: f32) -> f32 {
        let adv: u32 = s
            .chars()
            .map(|c| {
                u32::from(
                    self.face
                        .glyph_hor_advance(GlyphId(self.gid(c)))
                        .unwrap_or(0),
                )
            })
            .sum();
        adv as f32 * size / self.units()
    }

    /// `s` cut to fit `w` points, with an ellipsis when cut.
    fn fit(&self, s: &str, size: f32, w: f32) -> String {
        if self.width(s, size) <= w {
            return s.to_owned();
        }
        let mut out = String::new();
        for c in s.chars() {
            out.push(c);
            if self.width(&out, size) + self.width("…", size) > w {
                out.pop();
                break;
            }
        }
        out.push('…');
        out
    }

    /// Greedy word wrap to lines of at most `w` points (a too-long word is cut).
    fn wrap(&self, s: &str, size: f32, w: f32) -> Vec<String> {
        let mut lines = Vec::new();
        let mut line = String::new();
        for word in s.split_whitespace() {
            let candidate = if line.is_empty() {
                word.to_owned()
            } else {
                format!("{line} {word}")
            };
            if self.width(&candidate, size) <= w || line.is_empty() {
                line = candidate;
            } else {
                lines.push(std::mem::take(&mut line));
                line = word.to_owned();
            }
        }
        if !line.is_empty() || lines.is_empty() {
            lines.push(line);
        }
        lines.into_iter().map(|l| self.fit(&l, size, w)).collect()
    }

    /// Draws `s` with its baseline at (x, y).
    pub(crate) fn text(&mut self, x: f32, y: f32, size: f32, grey: f32, s: &str) {
        let mut hex = String::with_capacity(s.len() * 4);
        for c in s.chars() {
            let g = self.gid(c);
            self.used.entry(g).or_insert(c);
            let _ = write!(hex, "{g:04X}");
        }
        let _ = writeln!(
            self.cur,
            "BT /F1 {} Tf {} g {} {} Td <{hex}> Tj ET",
            f(size),
            f(grey),
            f(x),
            f(y)
        );
    }

    /// A filled rectangle in grey level `grey`.
    pub(crate) fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, grey: f32) {
        let _ = writeln!(
            self.cur,
            "{} g {} {} {} {} re f",
            f(grey),
            f(x),
            f(y),
            f(w),
            f(h)
        );
    }

    /// A line through `points`, in RGB, `width` points wide.
    pub(crate) fn polyline(&mut self, points: &[(f32, f32)], rgb: (f32, f32, f32), width: f32) {
        let Some((first, rest)) = points.split_first() else {
            return;
        };
        let _ = write!(
            self.cur,
            "{} {} {} RG {} w {} {} m",
            f(rgb.0),
            f(rgb.1),
            f(rgb.2),
            f(width),
            f(first.0),
            f(first.1)
        );
        for p in rest {
            let _ = write!(self.cur, " {} {} l", f(p.0), f(p.1));
        }
        self.cur.push_str(" S\n");
    }

    /// Starts a new page.
    pub(crate) fn new_page(&mut self) {
        if !self.cur.is_empty() {
            self.pages.push(std::mem::take(&mut self.cur));
        }
        self.y = PAGE_H - MARGIN;
    }

    /// Starts a new page unless `h` points still fit above the bottom margin.
    fn ensure(&mut self, h: f32) {
        if self.y - h < MARGIN + 14.0 {
            self.new_page();
        }
    }

    /// The finished file; `footer(page, pages)` is written at the bottom of every page.
    pub(crate) fn finish(
        mut self,
        title: &str,
        footer: impl Fn(usize, usize) -> String,
    ) -> Vec<u8> {
        if !self.cur.is_empty() || self.pages.is_empty() {
            self.pages.push(std::mem::take(&mut self.cur));
        }
        let n = self.pages.len();
        let mut pages = std::mem::take(&mut self.pages);
        for (i, p) in pages.iter_mut().enumerate() {
            let text = footer(i + 1, n);
            let x = PAGE_W - MARGIN - self.width(&text, 7.0);
            self.cur.clear();
            self.text(x, MARGIN - 12.0, 7.0, 0.4, &text);
            p.push_str(&self.cur);
        }
        self.write(title, &pages)
    }

    fn to_1000(&self, v: i16) -> i32 {
        (f32::from(v) * 1000.0 / self.units()).round() as i32
    }

    fn write(&self, title: &str, pages: &[String]) -> Vec<u8> {
        let mut w = PdfWriter::new();
        // Fixed objects: 1 catalog, 2 pages, 3 font, 4 CID font, 5 descriptor, 6 font file,
        // 7 ToUnicode, 8 info; then a page and its content per page.
        let first_page = 9;
        let kids: Vec<String> = (0..pages.len())
            .map(|i| format!("{} 0 R", first_page + 2 * i))
            .collect();
        w.obj(1, "<< /Type /Catalog /Pages 2 0 R >>");
        w.obj(
            2,
            &format!(
                "<< /Type /Pages /Kids [{}] /Count {} >>",
                kids.join(" "),
                pages.len()
            ),
        );
        let name = self.postscript_name();
        w.obj(
            3,
            &format!(
                "<< /Type /Font /Subtype /Type0 /BaseFont /{name} /Encoding /Identity-H \
                 /DescendantFonts [4 0 R] /ToUnicode 7 0 R >>"
            ),
        );
        let mut widths = String::new();
        for g in self.used.keys() {
            let adv = self.face.glyph_hor_advance(GlyphId(*g)).unwrap_or(0);
            let _ = write!(
                widths,
                "{g} [{}] ",
                (f32::from(adv) * 1000.0 / self.units()).round() as i32
            );
        }
        w.obj(
            4,
            &format!(
                "<< /Type /Font /Subtype /CIDFontType2 /BaseFont /{name} \
                 /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> \
                 /FontDescriptor 5 0 R /DW 1000 /W [{}] /CIDToGIDMap /Identity >>",
                widths.trim_end()
            ),
        );
        let bb = self.face.global_bounding_box();
        w.obj(
            5,
            &format!(
                "<< /Type /FontDescriptor /FontName /{name} /Flags 32 /FontBBox [{} {} {} {}] \
                 /ItalicAngle 0 /Ascent {} /Descent {} /CapHeight {} /StemV 80 /FontFile2 6 0 R >>",
                self.to_1000(bb.x_min),
                self.to_1000(bb.y_min),
                self.to_1000(bb.x_max),
                self.to_1000(bb.y_max),
                self.to_1000(self.face.ascender()),
                self.to_1000(self.face.descender()),
                self.to_1000(self.face.capital_height().unwrap_or(self.face.ascender())),
            ),
        );
        w.stream(6, &format!("/Length1 {}", self.font.len()), self.font);
        w.stream(7, "", self.to_unicode().as_bytes());
        w.obj(
            8,
            &format!(
                "<< /Title {} /Producer (Vigil collector) >>",
                utf16_hex(title)
            ),
        );
        for (i, content) in pages.iter().enumerate() {
            let id = first_page + 2 * i;
            w.obj(
                id,
                &format!(
                    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {} {}] \
                     /Resources << /Font << /F1 3 0 R >> >> /Contents {} 0 R >>",
                    f(PAGE_W),
                    f(PAGE_H),
                    id + 1
                ),
            );
            w.stream(id + 1, "", content.as_bytes());
        }
        w.finish(8)
    }

    fn postscript_name(&self) -> String {
        let name = self
            .face
            .names()
            .into_iter()
            .find(|n| n.name_id == ttf_parser::name_id::POST_SCRIPT_NAME)
            .and_then(|n| n.to_string())
            .unwrap_or_default();
        let clean: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .take(60)
            .collect();
        if clean.is_empty() {
            "EmbeddedFont".into()
        } else {
            clean
        }
    }

    fn to_unicode(&self) -> String {
        let mut s = String::from(
            "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n\
             /CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n\
             /CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n\
             1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n",
        );
        let entries: Vec<(&u16, &char)> = self.used.iter().collect();
        for chunk in entries.chunks(100) {
            let _ = writeln!(s, "{} beginbfchar", chunk.len());
            for (g, c) in chunk {
                let mut buf = [0u16; 2];
                let hex: String = c
                    .encode_utf16(&mut buf)
                    .iter()
                    .map(|u| format!("{u:04X}"))
                    .collect();
                let _ = writeln!(s, "<{g:04X}> <{hex}>");
            }
            s.push_str("endbfchar\n");
        }
        s.push_str("endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n");
        s
    }
}

/// A PDF text string in UTF-16BE with a byte-order mark, as hex.
fn utf16_hex(s: &str) -> String {
    let mut out = String::from("<FEFF");
    for u in s.encode_utf16() {
        let _ = write!(out, "{u:04X}");
    }
    out.push('>');
    out
}

/// Numbered objects written in order, with their byte offsets for the cross-reference table.
struct PdfWriter {
    out: Vec<u8>,
    offsets: BTreeMap<usize, usize>,
}

impl PdfWriter {
    fn new() -> Self {
        // The comment with high bytes marks the file as binary for transfer tools.
        Self {
            out: b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec(),
            offsets: BTreeMap::new(),
        }
    }

    fn obj(&mut self, id: usize, body: &str) {
        self.offsets.insert(id, self.out.len());
        self.out
            .extend_from_slice(format!("{id} 0 obj\n{body}\nendobj\n").as_bytes());
    }

    /// A flate-compressed stream object; `extra` goes into its dictionary.
    fn stream(&mut self, id: usize, extra: &str, data: &[u8]) {
        let z = miniz_oxide::deflate::compress_to_vec_zlib(data, 6);
        self.offsets.insert(id, self.out.len());
        self.out.extend_from_slice(
            format!(
                "{id} 0 obj\n<< /Length {} /Filter /FlateDecode {extra} >>\nstream\n",
                z.len()
            )
            .as_bytes(),
        );
        self.out.extend_from_slice(&z);
        self.out.extend_from_slice(b"\nendstream\nendobj\n");
    }

    fn finish(mut self, info: usize) -> Vec<u8> {
        let size = self.offsets.keys().max().map_or(1, |m| m + 1);
        let xref = self.out.len();
        let mut t = format!("xref\n0 {size}\n0000000000 65535 f \n");
        for id in 1..size {
            match self.offsets.get(&id) {
                Some(off) => {
                    let _ = writeln!(t, "{off:010} 00000 n ");
                }
                None => t.push_str("0000000000 65535 f \n"),
            }
        }
        let _ = write!(
            t,
            "trailer\n<< /Size {size} /Root 1 0 R /Info {info} 0 R >>\nstartxref\n{xref}\n%%EOF\n"
        );
        self.out.extend_from_slice(t.as_bytes());
        self.out
    }
}

/// Draws one table, repeating its header on every page it runs onto.
fn table(c: &mut Canvas<'_>, t: &Table) {
    let full = PAGE_W - 2.0 * MARGIN;
    let total: f32 = t.columns.iter().map(|c| c.width).sum::<f32>().max(0.001);
    let widths: Vec<f32> = t.columns.iter().map(|c| c.width / total * full).collect();
    let heads: Vec<Vec<String>> = t
        .columns
        .iter()
        .zip(&widths)
        .map(|(col, w)| c.wrap(&col.label, 7.0, w - 4.0))
        .collect();
    let head_lines = heads.iter().map(Vec::len).max().unwrap_or(1).min(3);
    let head_h = 4.0 + 8.5 * head_lines as f32;
    c.ensure(18.0 + head_h + ROW_H);
    c.y -= 14.0;
    c.text(MARGIN, c.y, 10.5, 0.0, &t.title);
    c.y -= 6.0;
    if t.rows.is_empty() {
        c.y -= 12.0;
        c.text(MARGIN, c.y, BODY, 0.3, &t.empty);
        c.y -= 6.0;
        return;
    }
    let numeric = right_aligned(t);
    let header = |c: &mut Canvas<'_>| {
        c.rect(MARGIN, c.y - head_h, full, head_h, 0.92);
        let mut x = MARGIN;
        for ((lines, w), right) in heads.iter().zip(&widths).zip(&numeric) {
            for (i, l) in lines.iter().take(3).enumerate() {
                let lx = if *right {
                    x + w - 2.0 - c.width(l, 7.0)
                } else {
                    x + 2.0
                };
                c.text(lx, c.y - 9.0 - 8.5 * i as f32, 7.0, 0.0, l);
            }
            x += w;
        }
        c.y -= head_h;
    };
    header(c);
    for (i, row) in t.rows.iter().enumerate() {
        // Text cells wrap (up to MAX_LINES lines); everything else is one line.
        let cells: Vec<Vec<String>> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| match cell {
                Cell::Text(s, indent) => {
                    let pad = 2.0 + 6.0 * (*indent).min(6) as f32;
                    let mut lines = c.wrap(s, BODY, w - pad - 2.0);
                    if lines.len() > MAX_LINES {
                        lines.truncate(MAX_LINES);
                        let last = format!("{}…", lines[MAX_LINES - 1]);
                        lines[MAX_LINES - 1] = c.fit(&last, BODY, w - pad - 2.0);
                    }
                    lines
                }
                Cell::Num(s) => vec![c.fit(s, BODY, w - 4.0)],
                Cell::Spark(_) => Vec::new(),
            })
            .collect();
        let n = cells.iter().map(Vec::len).max().unwrap_or(1).max(1);
        let row_h = ROW_H + LINE_H * (n - 1) as f32;
        if c.y - row_h < MARGIN + 14.0 {
            c.new_page();
            header(c);
        }
        if i % 2 == 1 {
            c.rect(MARGIN, c.y - row_h, full, row_h, 0.97);
        }
        let base = c.y - ROW_H + 3.5;
        let mut x = MARGIN;
        for ((cell, lines), w) in row.iter().zip(&cells).zip(&widths) {
            match cell {
                Cell::Text(_, indent) => {
                    let pad = 2.0 + 6.0 * (*indent).min(6) as f32;
                    for (k, l) in lines.iter().enumerate() {
                        c.text(x + pad, base - LINE_H * k as f32, BODY, 0.0, l);
                    }
                }
                Cell::Num(_) => {
                    for l in lines {
                        let tw = c.width(l, BODY);
                        c.text(x + w - 2.0 - tw, base, BODY, 0.0, l);
                    }
                }
                Cell::Spark(v) => spark(c, v, x + 3.0, c.y - ROW_H + 2.0, w - 6.0, ROW_H - 4.0),
            }
            x += w;
        }
        c.y -= row_h;
    }
    c.y -= 4.0;
}

/// Which columns hold numbers (their headers align right too).
pub(crate) fn right_aligned(t: &Table) -> Vec<bool> {
    (0..t.columns.len())
        .map(|i| {
            t.rows
                .first()
                .and_then(|r| r.get(i))
                .is_some_and(|c| matches!(c, Cell::Num(_)))
        })
        .collect()
}

/// A sparkline of scores in [0, 100] in the box (x, y, w, h).
fn spark(c: &mut Canvas<'_>, v: &[f64], x: f32, y: f32, w: f32, h: f32) {
    if v.is_empty() {
        let tw = c.width("—", BODY);
        c.text(x + (w - tw) / 2.0, y + 2.0, BODY, 0.4, "—");
        return;
    }
    let step = if v.len() > 1 {
        w / (v.len() - 1) as f32
    } else {
        0.0
    };
    let mut pts: Vec<(f32, f32)> = v
        .iter()
        .enumerate()
        .map(|(i, s)| {
            (
                x + i as f32 * step,
                y + (s.clamp(0.0, 100.0) as f32) / 100.0 * h,
            )
        })
        .collect();
    if pts.len() == 1 {
        pts.push((x + w, pts[0].1));
    }
    c.polyline(&[(x, y), (x + w, y)], (0.8, 0.8, 0.8), 0.3);
    c.polyline(&pts, (0.035, 0.41, 0.85), 0.8);
}

fn document(c: &mut Canvas<'_>, d: &Document) {
    c.new_page();
    c.y -= 8.0;
    for line in c.wrap(&d.title, 15.0, PAGE_W - 2.0 * MARGIN) {
        c.text(MARGIN, c.y, 15.0, 0.0, &line);
        c.y -= 19.0;
    }
    let key_w = d
        .meta
        .iter()
        .map(|(k, _)| c.width(k, 8.5))
        .fold(0.0, f32::max)
        + 10.0;
    for (k, v) in &d.meta {
        c.text(MARGIN, c.y, 8.5, 0.3, k);
        let v = c.fit(v, 8.5, PAGE_W - 2.0 * MARGIN - key_w);
        c.text(MARGIN + key_w, c.y, 8.5, 0.0, &v);
        c.y -= 12.0;
    }
    for t in &d.tables {
        table(c, t);
    }
    c.y -= 6.0;
    for n in &d.notes {
        let lines = c.wrap(n, BODY, PAGE_W - 2.0 * MARGIN);
        c.ensure(10.0 * lines.len() as f32 + 4.0);
        for l in lines {
            c.y -= 10.0;
            c.text(MARGIN, c.y, BODY, 0.3, &l);
        }
        c.y -= 4.0;
    }
}

/// Renders the report with the TrueType font at `font`.
///
/// # Errors
/// [`ReportError::Render`] when the font cannot be read or embedded.
pub fn render(r: &Report, lang: Lang, font: &Path) -> Result<Vec<u8>, ReportError> {
    let data = load_font(font)?;
    let d = layout(r, lang);
    let mut c = Canvas::new(&data)?;
    document(&mut c, &d);
    let page = lang.t("Trang", "Page");
    let org = r.org.clone();
    Ok(c.finish(&d.title, |i, n| format!("{org} · {page} {i}/{n}")))
}
