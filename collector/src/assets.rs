//! Parser for `vigil-collector assets import FILE`: the agency's inventory of machines, so that
//! coverage counts machines that have no agent yet (DESIGN §7).
//!
//! The file is CSV with a header row naming at least the columns `agency`, `hostname`, `role`
//! and `level`, in any order (other columns, such as an owner or a room, are ignored). Like IOC
//! imports it is all-or-nothing: the parser checks every row and returns either every asset or
//! every problem with its line number.

use std::collections::{HashMap, HashSet};

use crate::ioc::{ImportError, split_csv};
use crate::store::Asset;

const COLUMNS: [&str; 4] = ["agency", "hostname", "role", "level"];

/// Checks an agency path: lowercase segments of `a-z 0-9 - _` separated by `/`.
pub fn valid_agency_path(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 200
        && id.split('/').all(|seg| {
            !seg.is_empty()
                && seg
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        })
}

fn valid_hostname(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

/// Parses an asset file. Host names are stored lower-case; `role` accepts `workstation`/`server`
/// (and the Vietnamese `máy trạm`/`máy chủ`); `level` is 1–5.
///
/// # Errors
/// [`ImportError`] listing every bad line; nothing is returned then.
pub fn parse_assets(text: &str) -> Result<Vec<Asset>, ImportError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let Some((hno, header)) = lines.next() else {
        return Err(ImportError(vec!["the file holds no assets".into()]));
    };
    let names: Vec<String> = split_csv(header)
        .map_err(|e| ImportError(vec![format!("line {hno}: {e}")]))?
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let mut col: HashMap<&str, usize> = HashMap::new();
    for c in COLUMNS {
        match names.iter().position(|n| n == c) {
            Some(i) => {
                col.insert(c, i);
            }
            None => {
                return Err(ImportError(vec![format!(
                    "line {hno}: the header must name the columns {} (found: {})",
                    COLUMNS.join(","),
                    names.join(",")
                )]));
            }
        }
    }
    let mut errors = Vec::new();
    let mut out = Vec::new();
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    for (no, line) in lines {
        let fields = match split_csv(line) {
            Ok(f) if f.len() == names.len() => f,
            Ok(f) => {
                errors.push(format!(
                    "line {no}: {} fields, the header has {}",
                    f.len(),
                    names.len()
                ));
                continue;
            }
            Err(e) => {
                errors.push(format!("line {no}: {e}"));
                continue;
            }
        };
        let get = |c: &str| fields[col[c]].trim();
        let mut bad = Vec::new();
        let agency = get("agency").trim_end_matches('/').to_owned();
        if !valid_agency_path(&agency) {
            bad.push(format!("agency {agency:?} is not a path such as tinh/xa-a"));
        }
        let hostname = get("hostname").to_ascii_lowercase();
        if !valid_hostname(&hostname) {
            bad.push(format!("hostname {:?} is not a host name", get("hostname")));
        }
        let role = match get("role").to_lowercase().as_str() {
            "workstation" | "máy trạm" | "may tram" => "workstation",
            "server" | "máy chủ" | "may chu" => "server",
            other => {
                bad.push(format!("role {other:?} is not workstation or server"));
                ""
            }
        };
        let level = match get("level").parse::<u8>() {
            Ok(l @ 1..=5) => l,
            _ => {
                bad.push(format!("level {:?} is not 1 to 5", get("level")));
                0
            }
        };
        if !bad.is_empty() {
            errors.push(format!("line {no}: {}", bad.join("; ")));
            continue;
        }
        if let Some(first) = seen.insert((agency.clone(), hostname.clone()), no) {
            errors.push(format!(
                "line {no}: {hostname} in {agency} is listed already on line {first}"
            ));
            continue;
        }
        out.push(Asset {
            agency,
            hostname,
            role: role.into(),
            level,
        });
    }
    if out.is_empty() && errors.is_empty() {
        errors.push("the file has a header but no assets".into());
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ImportError(errors))
    }
}

/// Line-numbered errors for assets whose agency does not exist (`known` are the agency paths).
pub fn unknown_agencies(text_assets: &[Asset], known: &HashSet<String>) -> Vec<String> {
    let mut missing: Vec<&str> = text_assets
        .iter()
        .map(|a| a.agency.as_str())
        .filter(|a| !known.contains(*a))
        .collect();
    missing.sort_unstable();
    missing.dedup();
    missing
        .into_iter()
        .map(|a| format!("agency {a:?} does not exist (add it with `agency add` first)"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_in_any_order_with_extra_columns_and_vietnamese_roles() {
        let a = parse_assets(
            "\u{feff}hostname,owner,level,role,agency\n\
             PC-01.xa-a.gov.vn,Lan,2,máy trạm,tinh/xa-a\n\
             # a comment\n\
             \n\
             srv-db,\"Phòng CNTT, tầng 2\",3,Server,tinh/xa-a/\n",
        )
        .expect("valid");
        assert_eq!(
            a,
            vec![
                Asset {
                    agency: "tinh/xa-a".into(),
                    hostname: "pc-01.xa-a.gov.vn".into(),
                    role: "workstation".into(),
                    level: 2,
                },
                Asset {
                    agency: "tinh/xa-a".into(),
                    hostname: "srv-db".into(),
                    role: "server".into(),
                    level: 3,
                },
            ]
        );
    }

    #[test]
    fn every_bad_line_is_reported_with_its_number() {
        let e = parse_assets(
            "agency,hostname,role,level\n\
             tinh/xa-a,pc-01,workstation,2\n\
             Tinh/XA,pc 02,printer,9\n\
             tinh/xa-a,pc-03,server\n\
             tinh/xa-a,PC-01,server,3\n\
             tinh/xa-a,\"pc-04,server,2\n",
        )
        .expect_err("invalid");
        let e = e.0;
        assert_eq!(e.len(), 4, "{e:?}");
        assert!(
            e[0].starts_with("line 3:") && e[0].contains("agency") && e[0].contains("hostname")
        );
        assert!(e[0].contains("role \"printer\"") && e[0].contains("level \"9\""));
        assert!(e[1].starts_with("line 4:") && e[1].contains("3 fields"));
        assert!(e[2].starts_with("line 5:") && e[2].contains("line 2"));
        assert!(e[3].starts_with("line 6:") && e[3].contains("unterminated"));
    }

    #[test]
    fn headers_and_empty_files_are_checked() {
        assert!(parse_assets("").is_err());
        assert!(parse_assets("agency,hostname,role,level\n").is_err());
        let e = parse_assets("agency,host,role,level\nx,y,server,1\n").expect_err("no hostname");
        assert!(e.0[0].contains("agency,hostname,role,level"), "{e}");
    }

    #[test]
    fn unknown_agencies_are_listed_once() {
        let a = parse_assets(
            "agency,hostname,role,level\ntinh/a,h1,server,1\ntinh/b,h2,server,1\ntinh/b,h3,server,1\n",
        )
        .expect("valid");
        let known = HashSet::from(["tinh/a".to_string()]);
        assert_eq!(unknown_agencies(&a, &known).len(), 1);
    }
}
