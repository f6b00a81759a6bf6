//! Value comparisons used by checks: `"<= 10"`, `"== no"`, `"~ ^yes$"`, package versions, durations.
//!
//! A comparison is written as one string, `<op> <operand>`, so that a pack stays readable and an
//! importer can translate other formats (Wazuh `compare >= 14`) one to one. The operand may be a
//! `${param}` reference resolved per security level at evaluation time. Ordering operators compare
//! numerically when both sides are numbers, as time spans when either side carries a unit (`1m`,
//! `7d`, `1month`), and fail otherwise: a non-number never satisfies `<= 10`.
//!
//! Both package version orders live here, side by side: Debian's (dpkg `verrevcmp`) and rpm's
//! (`rpmvercmp` over epoch, version and release, with `~` and `^`), so every crate that compares
//! versions uses the same code.

use std::cmp::Ordering;
use std::fmt;

use regex::Regex;
use serde::Deserialize;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `==`: equal (numbers numerically, strings ASCII case-insensitively).
    Eq,
    /// `!=`: not equal.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `~`: the value matches the regular expression.
    Match,
    /// `!~`: the value does not match the regular expression.
    NotMatch,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "==",
            Self::Ne => "!=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::Match => "~",
            Self::NotMatch => "!~",
        }
    }
}

/// The right-hand side of a comparison: a literal or a per-level parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    /// A literal value.
    Literal(String),
    /// `${name}`: the rule parameter `name` at the evaluated level.
    Param(String),
}

impl Operand {
    /// Parses `${name}` as a parameter reference, anything else as a literal.
    pub fn parse(s: &str) -> Operand {
        let t = s.trim();
        match t.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
            Some(name) if is_param_name(name) => Operand::Param(name.to_string()),
            _ => Operand::Literal(t.to_string()),
        }
    }

    /// The parameter name, if this is a reference.
    pub fn param(&self) -> Option<&str> {
        match self {
            Self::Param(p) => Some(p),
            Self::Literal(_) => None,
        }
    }
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Literal(s) => f.write_str(s),
            Self::Param(p) => write!(f, "${{{p}}}"),
        }
    }
}

impl<'de> Deserialize<'de> for Operand {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = scalar_string(d)?;
        Ok(Operand::parse(&s))
    }
}

/// A parsed comparison `<op> <operand>`; a bare value means `== value`.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// Operator.
    pub op: Op,
    /// Right-hand side.
    pub operand: Operand,
    /// Compiled regex for `~` / `!~` with a literal operand (checked at load time).
    regex: Option<Regex>,
}

impl PartialEq for Comparison {
    fn eq(&self, other: &Self) -> bool {
        self.op == other.op && self.operand == other.operand
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.op.as_str(), self.operand)
    }
}

impl Comparison {
    /// Parses `">= 14"`, `"== no"`, `"~ ^(yes|1)$"` or a bare value (`"no"`, meaning `== no`).
    ///
    /// # Errors
    /// Returns a message when a literal regex operand does not compile.
    pub fn parse(s: &str) -> Result<Comparison, String> {
        let t = s.trim();
        // Longest operators first so `<=` is not read as `<`.
        const OPS: [(&str, Op); 8] = [
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("!~", Op::NotMatch),
            ("<", Op::Lt),
            (">", Op::Gt),
            ("~", Op::Match),
        ];
        let (op, rest) = OPS
            .iter()
            .find_map(|(tok, op)| t.strip_prefix(tok).map(|r| (*op, r)))
            .unwrap_or((Op::Eq, t));
        let operand = Operand::parse(rest);
        let regex = match (&operand, op) {
            (Operand::Literal(l), Op::Match | Op::NotMatch) => {
                Some(Regex::new(l).map_err(|e| format!("invalid regular expression {l:?}: {e}"))?)
            }
            _ => None,
        };
        Ok(Comparison { op, operand, regex })
    }

    /// Evaluates `actual <op> operand`, with `operand` already resolved to `rhs`.
    ///
    /// # Errors
    /// Returns a message when a parameter regex does not compile.
    pub fn holds(&self, actual: &str, rhs: &str, mode: CmpMode) -> Result<bool, String> {
        let actual = actual.trim();
        let rhs = rhs.trim();
        Ok(match self.op {
            Op::Match | Op::NotMatch => {
                let is_match = match &self.regex {
                    Some(r) => r.is_match(actual),
                    None => Regex::new(rhs)
                        .map_err(|e| format!("invalid regular expression {rhs:?}: {e}"))?
                        .is_match(actual),
                };
                is_match == (self.op == Op::Match)
            }
            Op::Eq | Op::Ne => {
                let eq = match order(actual, rhs, mode) {
                    Some(o) => o == Ordering::Equal,
                    None => actual.eq_ignore_ascii_case(rhs),
                };
                eq == (self.op == Op::Eq)
            }
            Op::Lt | Op::Le | Op::Gt | Op::Ge => match order(actual, rhs, mode) {
                None => false,
                Some(o) => match self.op {
                    Op::Lt => o == Ordering::Less,
                    Op::Le => o != Ordering::Greater,
                    Op::Gt => o == Ordering::Greater,
                    _ => o != Ordering::Less,
                },
            },
        })
    }
}

impl<'de> Deserialize<'de> for Comparison {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = scalar_string(d)?;
        Comparison::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// How ordering operators interpret their operands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpMode {
    /// Numbers, then time spans.
    Auto,
    /// Debian package versions (`1:2.3-1~deb12u1`).
    DebianVersion,
    /// rpm package versions (`1:3.0.7-24.el9`).
    RpmVersion,
}

fn order(a: &str, b: &str, mode: CmpMode) -> Option<Ordering> {
    match mode {
        CmpMode::DebianVersion => Some(compare_debian_versions(a, b)),
        CmpMode::RpmVersion => Some(compare_rpm_versions(a, b)),
        CmpMode::Auto => {
            if let (Ok(x), Ok(y)) = (a.parse::<f64>(), b.parse::<f64>()) {
                return x.partial_cmp(&y);
            }
            let (x, y) = (parse_timespan(a)?, parse_timespan(b)?);
            x.partial_cmp(&y)
        }
    }
}

/// Parses a time span in seconds: `90`, `1m`, `2h30min`, `7d`, `1w`, `1month`, `1y`, `500ms`.
///
/// Units follow systemd (`m` is minutes, `month` is 30.44 days, `y` 365.25 days); a bare number is
/// seconds. Returns `None` for anything else.
pub fn parse_timespan(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() {
        return None;
    }
    let mut total = 0.0;
    let mut rest = t;
    while !rest.is_empty() {
        rest = rest.trim_start();
        let n_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if n_end == 0 {
            return None;
        }
        let n: f64 = rest[..n_end].parse().ok()?;
        rest = rest[n_end..].trim_start();
        let u_end = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit = &rest[..u_end];
        rest = &rest[u_end..];
        let mult = match unit.to_ascii_lowercase().as_str() {
            "" | "s" | "sec" | "second" | "seconds" => 1.0,
            "us" | "usec" => 1e-6,
            "ms" | "msec" => 1e-3,
            "m" | "min" | "minute" | "minutes" => 60.0,
            "h" | "hr" | "hour" | "hours" => 3600.0,
            "d" | "day" | "days" => 86_400.0,
            "w" | "week" | "weeks" => 604_800.0,
            "month" | "months" => 2_629_800.0,
            "y" | "year" | "years" => 31_557_600.0,
            _ => return None,
        };
        total += n * mult;
    }
    Some(total)
}

/// Compares two Debian package versions as dpkg does (`epoch:upstream-revision`, `~` sorts first).
pub fn compare_debian_versions(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = split_version(a);
    let (eb, ub, rb) = split_version(b);
    ea.cmp(&eb)
        .then_with(|| compare_fragment(ua, ub))
        .then_with(|| compare_fragment(ra, rb))
}

fn split_version(v: &str) -> (u64, &str, &str) {
    let v = v.trim();
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => {
            (e.parse().unwrap_or(u64::MAX), r)
        }
        _ => (0, v),
    };
    match rest.rsplit_once('-') {
        Some((u, r)) => (epoch, u, r),
        None => (epoch, rest, ""),
    }
}

/// dpkg's `verrevcmp`: alternating non-digit and digit runs; letters sort before non-letters and
/// `~` before everything, even the end of the string.
fn compare_fragment(a: &str, b: &str) -> Ordering {
    fn weight(c: Option<u8>) -> i32 {
        match c {
            None => 0,
            Some(b'~') => -1,
            Some(c) if c.is_ascii_digit() => 0,
            Some(c) if c.is_ascii_alphabetic() => i32::from(c),
            Some(c) => i32::from(c) + 256,
        }
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let wa = weight(a.get(i).copied().filter(|c| !c.is_ascii_digit()));
            let wb = weight(b.get(j).copied().filter(|c| !c.is_ascii_digit()));
            if wa != wb {
                return wa.cmp(&wb);
            }
            if i < a.len() && !a[i].is_ascii_digit() {
                i += 1;
            }
            if j < b.len() && !b[j].is_ascii_digit() {
                j += 1;
            }
        }
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        let si = i;
        let sj = j;
        while i < a.len() && a[i].is_ascii_digit() {
            i += 1;
        }
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let (da, db) = (&a[si..i], &b[sj..j]);
        let o = da.len().cmp(&db.len()).then_with(|| da.cmp(db));
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// Compares two rpm versions `[epoch:]version[-release]` as rpm orders installed packages.
///
/// A missing epoch is 0. The release is compared only when both sides have one, as rpm does for a
/// dependency range written without it (`openssh < 8.7p1` holds for every release of 8.7p0).
/// Versions and releases are compared with [`rpmvercmp`].
pub fn compare_rpm_versions(a: &str, b: &str) -> Ordering {
    let (ea, va, ra) = split_evr(a);
    let (eb, vb, rb) = split_evr(b);
    let release = match (ra, rb) {
        (Some(x), Some(y)) => rpmvercmp(x, y),
        _ => Ordering::Equal,
    };
    ea.cmp(&eb).then_with(|| rpmvercmp(va, vb)).then(release)
}

/// Splits `[epoch:]version[-release]`; an epoch that is not a number is read as part of the
/// version, like rpm's parser leaves it.
fn split_evr(v: &str) -> (u64, &str, Option<&str>) {
    let v = v.trim();
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => {
            (e.parse().unwrap_or(u64::MAX), r)
        }
        _ => (0, v),
    };
    match rest.rsplit_once('-') {
        Some((ver, rel)) => (epoch, ver, Some(rel)),
        None => (epoch, rest, None),
    }
}

/// rpm's segment comparison of one version or release string.
///
/// Both strings are cut into runs of digits and runs of ASCII letters; everything else only
/// separates runs. Digit runs compare as numbers and beat letter runs; letter runs compare
/// bytewise. `~` sorts before anything, even the end of the string (`1.0~rc1 < 1.0`); `^` sorts
/// after the end of the string but before anything else (`1.0 < 1.0^git1 < 1.0.1`). When all runs
/// are equal, the string with something left over is newer.
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let skip = |s: &[u8], mut k: usize| {
        while k < s.len() && !s[k].is_ascii_alphanumeric() && s[k] != b'~' && s[k] != b'^' {
            k += 1;
        }
        k
    };
    loop {
        i = skip(a, i);
        j = skip(b, j);
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());
        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca == Some(b'^') || cb == Some(b'^') {
            return match (ca, cb) {
                (None, _) => Ordering::Less,
                (_, None) => Ordering::Greater,
                (Some(b'^'), Some(b'^')) => {
                    i += 1;
                    j += 1;
                    continue;
                }
                (Some(b'^'), _) => Ordering::Less,
                _ => Ordering::Greater,
            };
        }
        let (Some(ca), Some(_)) = (ca, cb) else {
            break;
        };
        let numeric = ca.is_ascii_digit();
        let run = |s: &[u8], k: usize| {
            let mut e = k;
            while e < s.len()
                && if numeric {
                    s[e].is_ascii_digit()
                } else {
                    s[e].is_ascii_alphabetic()
                }
            {
                e += 1;
            }
            e
        };
        let (ei, ej) = (run(a, i), run(b, j));
        if ej == j {
            // Different kinds of run: a number is newer than letters.
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let (mut sa, mut sb) = (&a[i..ei], &b[j..ej]);
        if numeric {
            while sa.first() == Some(&b'0') {
                sa = &sa[1..];
            }
            while sb.first() == Some(&b'0') {
                sb = &sb[1..];
            }
            let by_len = sa.len().cmp(&sb.len());
            if by_len != Ordering::Equal {
                return by_len;
            }
        }
        let o = sa.cmp(sb);
        if o != Ordering::Equal {
            return o;
        }
        i = ei;
        j = ej;
    }
    match (i >= a.len(), j >= b.len()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

/// Whether `s` is a valid parameter name (`[A-Za-z_][A-Za-z0-9_]*`).
pub(crate) fn is_param_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

/// Deserializes a YAML scalar (string, number or bool) as its string form.
pub(crate) fn scalar_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    struct V;
    impl serde::de::Visitor<'_> for V {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string, number or boolean")
        }
        fn visit_str<E>(self, v: &str) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_string<E>(self, v: String) -> Result<String, E> {
            Ok(v)
        }
        fn visit_i64<E>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_u64<E>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_f64<E>(self, v: f64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_bool<E>(self, v: bool) -> Result<String, E> {
            Ok(v.to_string())
        }
    }
    d.deserialize_any(V)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holds(cmp: &str, actual: &str) -> bool {
        let c = Comparison::parse(cmp).expect("parse");
        let rhs = match &c.operand {
            Operand::Literal(l) => l.clone(),
            Operand::Param(_) => panic!("param"),
        };
        c.holds(actual, &rhs, CmpMode::Auto).expect("holds")
    }

    #[test]
    fn numeric_and_string_comparisons() {
        assert!(holds("<= 10", "10"));
        assert!(holds("<= 10", "3"));
        assert!(!holds("<= 10", "11"));
        assert!(
            !holds("<= 10", "ten"),
            "a non-number never satisfies an ordering"
        );
        assert!(holds(">= 14", "14"));
        assert!(holds("== no", "No"));
        assert!(holds("no", "no"), "bare value means ==");
        assert!(holds("!= 0", "1"));
        assert!(!holds("!= 0", "0"));
        assert!(holds("== 0", "00"), "numeric equality");
        assert!(holds("> 0", "1"));
        assert!(holds("< 1", "0.5"));
    }

    #[test]
    fn regex_comparisons() {
        assert!(holds("~ ^(yes|true)$", "yes"));
        assert!(holds("!~ cbc", "aes256-ctr,aes128-ctr"));
        assert!(!holds("!~ cbc", "aes256-cbc"));
        assert!(Comparison::parse("~ (").is_err());
    }

    #[test]
    fn timespans_compare_with_units() {
        assert!(holds("<= 60", "1m"));
        assert!(!holds("<= 60", "2m"));
        assert!(holds(">= 12month", "1y"));
        assert!(holds(">= 30d", "1month"));
        assert_eq!(parse_timespan("2h30min"), Some(9000.0));
        assert_eq!(parse_timespan("abc"), None);
    }

    #[test]
    fn params_are_recognised() {
        let c = Comparison::parse(">= ${weeks}").expect("parse");
        assert_eq!(c.operand, Operand::Param("weeks".into()));
        assert_eq!(c.op, Op::Ge);
        assert_eq!(
            Operand::parse("${not a name}"),
            Operand::Literal("${not a name}".into())
        );
    }

    #[test]
    fn debian_versions_order_like_dpkg() {
        use Ordering::*;
        let cases = [
            ("1.0", "1.0", Equal),
            ("1.0", "1.1", Less),
            ("1.0~rc1", "1.0", Less),
            ("1.0~~", "1.0~", Less),
            ("1.0", "1.0+b1", Less),
            ("1:0.9", "2.0", Greater),
            ("2.0-1", "2.0-2", Less),
            ("2.0-10", "2.0-9", Greater),
            ("1.0a", "1.0", Greater),
            ("1.0a", "1.0+", Less),
            ("9.2p1-2+deb12u3", "9.2p1-2+deb12u2", Greater),
            ("1.0.2-1~deb12u1", "1.0.2-1", Less),
            ("0:1.2", "1.2", Equal),
            ("1.002", "1.2", Equal),
        ];
        for (a, b, want) in cases {
            assert_eq!(compare_debian_versions(a, b), want, "{a} vs {b}");
            assert_eq!(compare_debian_versions(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn rpm_versions_order_like_rpmvercmp() {
        use Ordering::*;
        // Cases of rpm's own test suite for rpmvercmp, plus EVR handling.
        let cases = [
            ("1.0", "1.0", Equal),
            ("1.0", "2.0", Less),
            ("2.0.1", "2.0.1", Equal),
            ("2.0", "2.0.1", Less),
            ("2.0.1a", "2.0.1a", Equal),
            ("2.0.1a", "2.0.1", Greater),
            ("5.5p1", "5.5p1", Equal),
            ("5.5p1", "5.5p2", Less),
            ("5.5p10", "5.5p1", Greater),
            ("10xyz", "10.1xyz", Less),
            ("xyz10", "xyz10.1", Less),
            ("xyz.4", "8", Less),
            ("xyz.4", "2", Less),
            ("5.5p2", "5.6p1", Less),
            ("5.6p1", "6.5p1", Less),
            ("6.0.rc1", "6.0", Greater),
            ("10b2", "10a1", Greater),
            ("1.0aa", "1.0a", Greater),
            ("10.0001", "10.1", Equal),
            ("10.0001", "10.0039", Less),
            ("4.999.9", "5.0", Less),
            ("20101121", "20101122", Less),
            ("2_0", "2_0", Equal),
            ("2.0", "2_0", Equal),
            ("a", "a", Equal),
            ("a+", "a_", Equal),
            ("+", "_", Equal),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0~rc1~git123", "1.0~rc1", Less),
            ("1.0^", "1.0", Greater),
            ("1.0^git1", "1.0", Greater),
            ("1.0^git1", "1.0.1", Less),
            ("1.0^git1", "1.0^git2", Less),
            ("1.0^git1~pre", "1.0^git1", Less),
            ("1.0^20160101", "1.0.1~rc1", Less),
            ("1.0~rc1^git1", "1.0~rc1", Greater),
            ("1.0^git1", "1.01", Less),
            // Epoch, version, release.
            ("1:1.0-1", "2.0-1", Greater),
            ("0:1.0-1", "1.0-1", Equal),
            ("1.0-2.el9", "1.0-10.el9", Less),
            ("3.0.7-24.el9", "1:3.0.7-1.el9", Less),
            ("8.7p1-38.el9", "8.7p1-38.el9_4.1", Less),
            ("8.7p1-38.el9_4.1", "8.7p1-38.el9_4.4", Less),
            ("4.18.0-513.5.1.el8_9", "4.18.0-477.27.1.el8_8", Greater),
            ("8.7p1", "8.7p1-38.el9", Equal),
            ("8.6p1", "8.7p1-38.el9", Less),
        ];
        for (a, b, want) in cases {
            assert_eq!(compare_rpm_versions(a, b), want, "{a} vs {b}");
            assert_eq!(compare_rpm_versions(b, a), want.reverse(), "{b} vs {a}");
        }
        for (a, b) in [
            ("", ""),
            ("~", ""),
            ("^", "~"),
            ("-", "--"),
            ("x:1", "1"),
            ("\u{e9}", "e"),
        ] {
            let _ = compare_rpm_versions(a, b);
            let _ = rpmvercmp(a, b);
        }
        assert!(
            Comparison::parse("< 8.7p1-38.el9_4.4")
                .expect("parse")
                .holds("8.7p1-38.el9_4.1", "8.7p1-38.el9_4.4", CmpMode::RpmVersion)
                .expect("holds")
        );
    }

    proptest::proptest! {
        #[test]
        // Full EVRs only: a missing release compares equal to every release, which is a range
        // test rather than an order.
        fn rpm_order_is_antisymmetric_and_transitive(
            a in "([0-9]:)?[0-9a-z.~^_]{0,6}-[0-9a-z.~^]{1,4}",
            b in "([0-9]:)?[0-9a-z.~^_]{0,6}-[0-9a-z.~^]{1,4}",
            c in "([0-9]:)?[0-9a-z.~^_]{0,6}-[0-9a-z.~^]{1,4}",
        ) {
            proptest::prop_assert_eq!(compare_rpm_versions(&a, &a), Ordering::Equal);
            proptest::prop_assert_eq!(compare_rpm_versions(&a, &b), compare_rpm_versions(&b, &a).reverse());
            if compare_rpm_versions(&a, &b).is_le() && compare_rpm_versions(&b, &c).is_le() {
                proptest::prop_assert!(compare_rpm_versions(&a, &c).is_le(), "{a} <= {b} <= {c}");
            }
        }
    }
}
