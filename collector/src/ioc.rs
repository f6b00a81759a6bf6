//! Parser for `vigil-collector ioc import FILE`: indicator lists and CSV feeds.
//!
//! Two formats are accepted. A *plain list* has one indicator per line, `#` starting a comment,
//! and the kind detected from the value (IPv4/IPv6 address, CIDR, domain, 64-hex SHA-256, 32-hex
//! MD5). A *CSV* file starts with a header naming its columns (`type`/`kind`, `value`/`indicator`,
//! `source`, `expires`, with a few common aliases) and may give each row a source and an expiry
//! (RFC 3339 date-time, `YYYY-MM-DD`, or Unix seconds).
//!
//! Design choice: all-or-nothing. The parser is pure (text in, indicators out); it checks every
//! line and either returns every indicator, normalised (lowercase hashes and domains, canonical
//! IP text, CIDR host bits zeroed, defanged `[.]` restored), or every error with its line number,
//! so an import never half-applies a feed.

use std::collections::HashSet;
use std::net::IpAddr;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use vigil_proto::msg::Indicator;

/// Values applied where the file does not say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportDefaults {
    /// Source for indicators without one (e.g. the feed or file name).
    pub source: String,
    /// Expiry (Unix seconds, 0 = never) for indicators without one.
    pub expires_at: i64,
}

/// Every problem found in an import file, each as `line N: what is wrong`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.join("\n"))]
pub struct ImportError(pub Vec<String>);

/// Parses an import file (plain list or CSV with a header, detected from the first line that is
/// neither blank nor a comment). Duplicate indicators are kept once (the first occurrence).
///
/// # Errors
/// [`ImportError`] listing every malformed line; nothing is returned then.
pub fn parse_import(text: &str, defaults: &ImportDefaults) -> Result<Vec<Indicator>, ImportError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('#')
        });
    let Some((first_no, first)) = lines.next() else {
        return Err(ImportError(vec![
            "the file holds no indicators".to_string(),
        ]));
    };
    let mut errors = Vec::new();
    let mut out = Vec::new();
    if first.contains(',') {
        match Header::parse(first) {
            Ok(h) => {
                for (no, line) in lines {
                    match h.row(line, defaults) {
                        Ok(ind) => out.push(ind),
                        Err(e) => errors.push(format!("line {no}: {e}")),
                    }
                }
            }
            Err(e) => errors.push(format!("line {first_no}: {e}")),
        }
    } else {
        for (no, line) in std::iter::once((first_no, first)).chain(lines) {
            match plain_line(line, defaults) {
                Ok(ind) => out.push(ind),
                Err(e) => errors.push(format!("line {no}: {e}")),
            }
        }
    }
    if !errors.is_empty() {
        return Err(ImportError(errors));
    }
    if out.is_empty() {
        return Err(ImportError(vec![
            "the file holds no indicators".to_string(),
        ]));
    }
    let mut seen = HashSet::new();
    out.retain(|i| seen.insert((i.kind.clone(), i.value.clone())));
    Ok(out)
}

/// Normalises one indicator value. `kind` may be an alias (`ipv4`, `ip-dst`, `hostname`,
/// `sha-256`, …) or `None`/empty to detect it from the value.
///
/// # Errors
/// What is wrong with the value, or that it does not fit the declared kind.
pub fn normalise(kind: Option<&str>, value: &str) -> Result<(String, String), String> {
    let value = refang(value.trim());
    if value.is_empty() {
        return Err("empty indicator value".to_string());
    }
    let declared = match kind.map(str::trim).filter(|k| !k.is_empty()) {
        None => None,
        Some(k) => Some(canonical_kind(k).ok_or_else(|| {
            format!("unknown indicator type {k:?}, expected ip, cidr, domain, sha256 or md5")
        })?),
    };
    let detected = detect(&value)?;
    match declared {
        None => Ok(detected),
        Some(d) if d == detected.0 => Ok(detected),
        // A network written in an `ip` column is still a network.
        Some("ip") if detected.0 == "cidr" => Ok(detected),
        Some(d) => Err(format!(
            "type {d} does not fit value {value:?} (it looks like {})",
            detected.0
        )),
    }
}

/// Parses an expiry: RFC 3339 date-time, `YYYY-MM-DD` (midnight UTC) or Unix seconds.
///
/// # Errors
/// When the text is none of these.
pub fn parse_expiry(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse::<i64>()
            .map_err(|_| format!("expiry {s:?} is out of range"));
    }
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t.unix_timestamp());
    }
    let date_format = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(d) = time::Date::parse(s, &date_format) {
        return Ok(d.midnight().assume_utc().unix_timestamp());
    }
    Err(format!(
        "expiry {s:?} is not a date, expected e.g. 2025-12-31, 2025-12-31T00:00:00Z or Unix \
         seconds"
    ))
}

fn plain_line(line: &str, defaults: &ImportDefaults) -> Result<Indicator, String> {
    // A comment may follow the value after whitespace.
    let value = match line.find(" #").or_else(|| line.find("\t#")) {
        Some(i) => &line[..i],
        None => line,
    }
    .trim();
    if value.contains(',') {
        return Err(
            "unexpected ',' in a plain list (a CSV file needs a header line first)".to_string(),
        );
    }
    if value.split_whitespace().count() > 1 {
        return Err(format!("{value:?}: one indicator per line"));
    }
    let (kind, value) = normalise(None, value)?;
    Ok(Indicator {
        kind,
        value,
        source: defaults.source.clone(),
        expires_at: defaults.expires_at,
    })
}

/// Column positions of a CSV header.
#[derive(Debug)]
struct Header {
    columns: usize,
    kind: Option<usize>,
    value: usize,
    source: Option<usize>,
    expires: Option<usize>,
}

/// Columns that exports commonly carry and the import ignores.
const IGNORED_COLUMNS: [&str; 12] = [
    "comment",
    "comments",
    "description",
    "notes",
    "tags",
    "tlp",
    "confidence",
    "first_seen",
    "last_seen",
    "date",
    "id",
    "category",
];

impl Header {
    fn parse(line: &str) -> Result<Self, String> {
        let names = split_csv(line)?;
        let (mut kind, mut value, mut source, mut expires) = (None, None, None, None);
        let mut unknown = Vec::new();
        for (i, raw) in names.iter().enumerate() {
            let name = raw.trim().to_ascii_lowercase().replace([' ', '-'], "_");
            let slot = match name.as_str() {
                "type" | "kind" | "indicator_type" | "ioc_type" => &mut kind,
                "value" | "indicator" | "ioc" | "ioc_value" | "observable" => &mut value,
                "source" | "feed" | "provider" | "origin" => &mut source,
                "expires" | "expires_at" | "expiry" | "expiration" | "valid_until" => &mut expires,
                n if IGNORED_COLUMNS.contains(&n) => continue,
                _ => {
                    unknown.push(raw.trim().to_string());
                    continue;
                }
            };
            if slot.is_some() {
                return Err(format!("column {raw:?} given twice"));
            }
            *slot = Some(i);
        }
        if !unknown.is_empty() {
            return Err(format!(
                "unknown CSV column(s) {}; expected type, value, source, expires (the first line \
                 of a CSV file must be its header)",
                unknown.join(", ")
            ));
        }
        let value = value.ok_or_else(|| {
            "the CSV header names no value column (value, indicator or ioc)".to_string()
        })?;
        Ok(Self {
            columns: names.len(),
            kind,
            value,
            source,
            expires,
        })
    }

    fn row(&self, line: &str, defaults: &ImportDefaults) -> Result<Indicator, String> {
        let fields = split_csv(line)?;
        if fields.len() > self.columns {
            return Err(format!(
                "{} fields but the header has {}",
                fields.len(),
                self.columns
            ));
        }
        let get = |i: Option<usize>| i.and_then(|i| fields.get(i)).map(|s| s.trim());
        let (kind, value) = normalise(get(self.kind), get(Some(self.value)).unwrap_or(""))?;
        let source = match get(self.source) {
            Some(s) if !s.is_empty() => s.to_string(),
            _ => defaults.source.clone(),
        };
        let expires_at = match get(self.expires) {
            Some(s) if !s.is_empty() => parse_expiry(s)?,
            _ => defaults.expires_at,
        };
        Ok(Indicator {
            kind,
            value,
            source,
            expires_at,
        })
    }
}

/// Splits one CSV line; fields may be double-quoted with `""` for a quote.
pub(crate) fn split_csv(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => cur.push(c),
            (false, '"') if cur.trim().is_empty() && !was_quoted => {
                cur.clear();
                quoted = true;
                was_quoted = true;
            }
            (false, ',') => {
                fields.push(std::mem::take(&mut cur));
                was_quoted = false;
            }
            (false, c) if was_quoted && !c.is_whitespace() => {
                return Err("text after a closing quote".to_string());
            }
            (false, c) => cur.push(c),
        }
    }
    if quoted {
        return Err("unterminated quoted field".to_string());
    }
    fields.push(cur);
    Ok(fields)
}

fn canonical_kind(k: &str) -> Option<&'static str> {
    let k = k.to_ascii_lowercase().replace('_', "-");
    Some(match k.as_str() {
        "ip" | "ipv4" | "ipv6" | "ip-dst" | "ip-src" | "ipv4-addr" | "ipv6-addr" | "address" => {
            "ip"
        }
        "cidr" | "subnet" | "network" | "ip-range" => "cidr",
        "domain" | "hostname" | "fqdn" | "domain-name" | "host" => "domain",
        "sha256" | "sha-256" | "file-sha256" | "hash-sha256" => "sha256",
        "md5" | "file-md5" | "hash-md5" => "md5",
        _ => return None,
    })
}

/// Undoes the usual defanging of shared indicators (`evil[.]com`, `10(.)0.0.1`).
fn refang(v: &str) -> String {
    v.replace("[.]", ".")
        .replace("(.)", ".")
        .replace("[:]", ":")
}

fn detect(value: &str) -> Result<(String, String), String> {
    if let Some((addr, len)) = value.split_once('/') {
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| format!("{value:?}: not a network (address/prefix)"))?;
        let len: u8 = len
            .parse()
            .map_err(|_| format!("{value:?}: bad prefix length"))?;
        let net = match ip {
            IpAddr::V4(a) if len <= 32 => {
                let m = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                IpAddr::V4((u32::from(a) & m).into())
            }
            IpAddr::V6(a) if len <= 128 => {
                let m = if len == 0 {
                    0
                } else {
                    u128::MAX << (128 - len)
                };
                IpAddr::V6((u128::from(a) & m).into())
            }
            _ => return Err(format!("{value:?}: prefix length out of range")),
        };
        return Ok(("cidr".into(), format!("{net}/{len}")));
    }
    if let Ok(ip) = value.parse::<IpAddr>() {
        return Ok(("ip".into(), ip.to_string()));
    }
    if value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return match value.len() {
            64 => Ok(("sha256".into(), value.to_ascii_lowercase())),
            32 => Ok(("md5".into(), value.to_ascii_lowercase())),
            40 => Err(format!("{value:?}: SHA-1 hashes are not supported")),
            _ => Err(format!(
                "{value:?}: hex of unexpected length {} (SHA-256 has 64 digits, MD5 32)",
                value.len()
            )),
        };
    }
    let d = value.trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = d.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let tld_ok = labels
        .last()
        .is_some_and(|t| !t.bytes().all(|b| b.is_ascii_digit()));
    if d.len() <= 253 && labels.len() >= 2 && labels.iter().all(label_ok) && tld_ok {
        return Ok(("domain".into(), d));
    }
    Err(format!(
        "{value:?} is not an IP address, CIDR, domain, SHA-256 or MD5"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> ImportDefaults {
        ImportDefaults {
            source: "cert-vn".into(),
            expires_at: 0,
        }
    }

    fn kv(v: &[Indicator]) -> Vec<(&str, &str)> {
        v.iter()
            .map(|i| (i.kind.as_str(), i.value.as_str()))
            .collect()
    }

    #[test]
    fn plain_list_detects_and_normalises() {
        let text = "\u{feff}# feed of 2025-01-01\n\
            203.0.113.7\n\
            \n\
            2001:DB8:0:0::1   # v6, with a trailing comment\n\
            10.1.2.3/8\n\
            2001:db8:abcd:12::/48\n\
            Evil.Example.COM.\n\
            bad-site[.]example\n\
            E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855\n\
            D41D8CD98F00B204E9800998ECF8427E\n\
            203.0.113.7\n";
        let got = parse_import(text, &defaults()).expect("valid");
        assert_eq!(
            kv(&got),
            [
                ("ip", "203.0.113.7"),
                ("ip", "2001:db8::1"),
                ("cidr", "10.0.0.0/8"),
                ("cidr", "2001:db8:abcd::/48"),
                ("domain", "evil.example.com"),
                ("domain", "bad-site.example"),
                (
                    "sha256",
                    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
                ),
                ("md5", "d41d8cd98f00b204e9800998ecf8427e"),
            ]
        );
        assert!(
            got.iter()
                .all(|i| i.source == "cert-vn" && i.expires_at == 0)
        );
    }

    #[test]
    fn malformed_plain_list_reports_every_line_and_returns_nothing() {
        let text = "203.0.113.7\n\
            999.1.1.1\n\
            # comment\n\
            10.0.0.0/33\n\
            da39a3ee5e6b4b0d3255bfef95601890afd80709\n\
            abc\n\
            two words\n\
            good.example\n";
        let err = parse_import(text, &defaults()).expect_err("invalid");
        let lines: Vec<&str> = err
            .0
            .iter()
            .map(|e| e.split(':').next().expect("prefix"))
            .collect();
        assert_eq!(
            lines,
            ["line 2", "line 4", "line 5", "line 6", "line 7"],
            "{err}"
        );
        assert!(err.0[2].contains("SHA-1"), "{err}");
    }

    #[test]
    fn csv_with_header_aliases_sources_and_expiry() {
        let text = "Indicator Type,Indicator,Feed,Valid Until,Comment\n\
            ipv4,198.51.100.23,abuse-ch,2030-01-01,\"C2, seen twice\"\n\
            domain,\"Phish.Example\",,2030-01-01T12:00:00+07:00,\n\
            ,10.9.8.7/16,,1893456000\n\
            sha256,\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"\n\
            ip,192.0.2.0/24,local,,\n";
        let d = ImportDefaults {
            source: "file.csv".into(),
            expires_at: 42,
        };
        let got = parse_import(text, &d).expect("valid");
        assert_eq!(
            kv(&got),
            [
                ("ip", "198.51.100.23"),
                ("domain", "phish.example"),
                ("cidr", "10.9.0.0/16"),
                ("sha256", &"a".repeat(64)[..]),
                ("cidr", "192.0.2.0/24"),
            ]
        );
        assert_eq!(got[0].source, "abuse-ch");
        assert_eq!(got[0].expires_at, 1_893_456_000);
        assert_eq!(got[1].source, "file.csv", "default source");
        assert_eq!(got[1].expires_at, 1_893_456_000 + 12 * 3600 - 7 * 3600);
        assert_eq!(got[2].expires_at, 1_893_456_000);
        assert_eq!(got[3].expires_at, 42, "default expiry");
        assert_eq!(got[4].source, "local");
    }

    #[test]
    fn malformed_csv_reports_every_row() {
        let text = "type,value,source,expires\n\
            ip,203.0.113.1,a,2030-01-01\n\
            ip,evil.example,a,\n\
            ip,203.0.113.2,a,next tuesday\n\
            url,http://x,a,\n\
            ip,203.0.113.3,a,2030-01-01,extra\n\
            ip,\"203.0.113.4,a\n\
            ,,a,\n";
        let err = parse_import(text, &defaults()).expect_err("invalid");
        let nos: Vec<&str> = err
            .0
            .iter()
            .map(|e| e.split(':').next().expect("prefix"))
            .collect();
        assert_eq!(
            nos,
            ["line 3", "line 4", "line 5", "line 6", "line 7", "line 8"],
            "{err}"
        );
        assert!(err.0[0].contains("does not fit"), "{err}");
        assert!(err.0[1].contains("not a date"), "{err}");
        assert!(err.0[2].contains("unknown indicator type"), "{err}");
        assert!(err.0[4].contains("unterminated"), "{err}");
    }

    #[test]
    fn csv_without_a_usable_header_is_rejected() {
        let err = parse_import("203.0.113.1,feed\n198.51.100.1,feed\n", &defaults())
            .expect_err("no header");
        assert_eq!(err.0.len(), 1);
        assert!(err.0[0].starts_with("line 1: unknown CSV column"), "{err}");
        let err = parse_import("type,source\nip,x\n", &defaults()).expect_err("no value column");
        assert!(err.0[0].contains("no value column"), "{err}");
        let err = parse_import("value,ioc\n1.2.3.4,5.6.7.8\n", &defaults()).expect_err("twice");
        assert!(err.0[0].contains("twice"), "{err}");
        // A comma in a plain list.
        let err = parse_import("203.0.113.1\n198.51.100.1,x\n", &defaults()).expect_err("comma");
        assert!(err.0[0].starts_with("line 2:"), "{err}");
    }

    #[test]
    fn empty_files_are_rejected() {
        assert!(parse_import("", &defaults()).is_err());
        assert!(parse_import("# only comments\n\n", &defaults()).is_err());
        assert!(parse_import("type,value\n", &defaults()).is_err());
    }

    #[test]
    fn expiry_forms() {
        assert_eq!(parse_expiry("0"), Ok(0));
        assert_eq!(parse_expiry("1700000000"), Ok(1_700_000_000));
        assert_eq!(parse_expiry("1970-01-02"), Ok(86_400));
        assert_eq!(parse_expiry("1970-01-01T01:00:00Z"), Ok(3600));
        assert!(parse_expiry("-5").is_err());
        assert!(parse_expiry("2025-13-01").is_err());
        assert!(parse_expiry("99999999999999999999").is_err());
    }

    #[test]
    fn normalise_with_declared_kinds() {
        assert_eq!(
            normalise(Some("IP-DST"), "::FFFF:10.0.0.1"),
            Ok(("ip".into(), "::ffff:10.0.0.1".into()))
        );
        assert_eq!(
            normalise(Some("hostname"), "WWW.Example.org"),
            Ok(("domain".into(), "www.example.org".into()))
        );
        assert!(normalise(Some("md5"), &"a".repeat(64)).is_err());
        assert!(normalise(Some("domain"), "1.2.3.4").is_err());
        assert!(normalise(None, "localhost").is_err(), "single label");
        assert!(normalise(None, "1.2.3.999").is_err(), "numeric TLD");
        assert!(normalise(None, "-bad.example").is_err());
        assert_eq!(
            normalise(None, "0.0.0.0/0"),
            Ok(("cidr".into(), "0.0.0.0/0".into()))
        );
    }

    #[test]
    fn csv_field_splitting() {
        assert_eq!(
            split_csv("a,\"b,c\",\"d\"\"e\",").expect("ok"),
            ["a", "b,c", "d\"e", ""]
        );
        assert!(split_csv("\"a\"b").is_err());
        assert!(split_csv("\"a").is_err());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_files_do_not_panic(text in "\\PC{0,300}") {
            let _ = parse_import(&text, &defaults());
        }

        #[test]
        fn accepted_values_are_already_normal(
            value in "([0-9]{1,3}\\.){3}[0-9]{1,3}(/[0-9]{1,2})?|[a-zA-Z0-9-]{1,8}\\.[a-zA-Z]{2,4}|[0-9a-fA-F]{32}|[0-9a-fA-F]{64}"
        ) {
            if let Ok((kind, v)) = normalise(None, &value) {
                proptest::prop_assert_eq!(normalise(Some(&kind), &v), Ok((kind.clone(), v.clone())));
            }
        }
    }
}
