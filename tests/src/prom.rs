//! A strict reader of the Prometheus text exposition format (version 0.0.4), for tests of
//! `/metrics`: anything a Prometheus server would reject, or that breaks the format's rules
//! (a `TYPE` after its samples, a family split in two, a duplicated series, a counter below
//! zero, a histogram whose buckets shrink or whose `+Inf` bucket is not its count), is an error
//! naming the line.

use std::collections::{BTreeMap, HashMap, HashSet};

/// One sample: a metric name, its labels and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name (with `_total`, `_bucket`, … suffixes as exposed).
    pub name: String,
    /// Labels, sorted by name.
    pub labels: BTreeMap<String, String>,
    /// Value.
    pub value: f64,
}

/// A parsed exposition.
#[derive(Debug, Clone, Default)]
pub struct Exposition {
    /// Samples in order.
    pub samples: Vec<Sample>,
    /// Declared type of each family.
    pub types: HashMap<String, String>,
}

impl Exposition {
    /// The value of the series `name` with exactly `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let want: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.samples
            .iter()
            .find(|s| s.name == name && s.labels == want)
            .map(|s| s.value)
    }

    /// Sum of every series named `name` whatever their labels.
    pub fn sum(&self, name: &str) -> f64 {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.value)
            .sum()
    }
}

/// Parses `text` strictly.
///
/// # Errors
/// The first violation, with its line number.
pub fn parse(text: &str) -> Result<Exposition, String> {
    let mut out = Exposition::default();
    let mut seen_series = HashSet::new();
    let mut finished: HashSet<String> = HashSet::new();
    let mut current: Option<String> = None;
    let mut helped = HashSet::new();
    if !text.is_empty() && !text.ends_with('\n') {
        return Err("the exposition must end with a newline".into());
    }
    for (i, line) in text.lines().enumerate() {
        let at = |m: String| format!("line {}: {m}: {line:?}", i + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('#') {
            let mut words = rest.trim_start().splitn(3, ' ');
            let (kw, name) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
            match kw {
                "HELP" | "TYPE" => {
                    if !valid_metric_name(name) {
                        return Err(at(format!("bad metric name in {kw}")));
                    }
                    let family = name.to_owned();
                    let sampled = finished.contains(&family) || current.as_deref() == Some(name);
                    if sampled && (kw == "TYPE" || helped.contains(&family)) {
                        return Err(at(format!("{kw} of {name} after its samples or twice")));
                    }
                    if kw == "HELP" {
                        helped.insert(family);
                    } else {
                        let t = words.next().unwrap_or("");
                        if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&t) {
                            return Err(at(format!("unknown type {t:?}")));
                        }
                        if out.types.insert(family, t.to_owned()).is_some() {
                            return Err(at("a second TYPE".into()));
                        }
                    }
                }
                // Other comments are allowed and ignored.
                _ => {}
            }
            continue;
        }
        let s = sample(line).map_err(at)?;
        let family = family_of(&s.name, &out.types);
        if current.as_deref() != Some(family.as_str()) {
            if finished.contains(&family) {
                return Err(at(format!("samples of {family} are not contiguous")));
            }
            if let Some(prev) = current.replace(family.clone()) {
                finished.insert(prev);
            }
        }
        let key = (s.name.clone(), s.labels.clone());
        if !seen_series.insert(key) {
            return Err(at("the same series twice".into()));
        }
        if out.types.get(&family).is_some_and(|t| t == "counter")
            && (s.value.is_nan() || s.value < 0.0)
        {
            return Err(at("a counter below zero or NaN".into()));
        }
        out.samples.push(s);
    }
    check_histograms(&out)?;
    Ok(out)
}

/// The family a sample belongs to: its name without a histogram or summary suffix when the base
/// name is declared so.
fn family_of(name: &str, types: &HashMap<String, String>) -> String {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && types
                .get(base)
                .is_some_and(|t| t == "histogram" || t == "summary")
        {
            return base.to_owned();
        }
    }
    name.to_owned()
}

fn valid_metric_name(n: &str) -> bool {
    let mut c = n.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_' || f == ':')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_' || x == ':')
}

fn valid_label_name(n: &str) -> bool {
    let mut c = n.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

/// `name{labels} value [timestamp]`.
fn sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or_else(|| "no value".to_owned())?;
    let name = &line[..name_end];
    if !valid_metric_name(name) {
        return Err("bad metric name".into());
    }
    let (labels, rest) = if line[name_end..].starts_with('{') {
        labels(&line[name_end + 1..])?
    } else {
        (BTreeMap::new(), &line[name_end..])
    };
    let rest = rest
        .strip_prefix(' ')
        .ok_or_else(|| "no space before the value".to_owned())?;
    let mut parts = rest.split(' ');
    let value = float(parts.next().unwrap_or(""))?;
    if let Some(ts) = parts.next() {
        ts.parse::<i64>().map_err(|_| "bad timestamp".to_owned())?;
    }
    if parts.next().is_some() {
        return Err("text after the timestamp".into());
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// Labels up to the closing brace; returns them and the text after the brace.
fn labels(mut s: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut out = BTreeMap::new();
    loop {
        if let Some(rest) = s.strip_prefix('}') {
            return Ok((out, rest));
        }
        let eq = s
            .find('=')
            .ok_or_else(|| "a label without '='".to_owned())?;
        let name = &s[..eq];
        if !valid_label_name(name) {
            return Err(format!("bad label name {name:?}"));
        }
        let body = s[eq + 1..]
            .strip_prefix('"')
            .ok_or_else(|| "a label value without quotes".to_owned())?;
        let mut value = String::new();
        let mut chars = body.char_indices();
        let end = loop {
            match chars.next() {
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    _ => return Err("a bad escape in a label value".into()),
                },
                Some((_, '\n')) | None => return Err("an unterminated label value".into()),
                Some((_, c)) => value.push(c),
            }
        };
        if out.insert(name.to_owned(), value).is_some() {
            return Err(format!("label {name} twice"));
        }
        s = &body[end + 1..];
        if let Some(rest) = s.strip_prefix(',') {
            s = rest;
        } else if !s.starts_with('}') {
            return Err("labels must be separated by ','".into());
        }
    }
}

fn float(v: &str) -> Result<f64, String> {
    match v {
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ if v
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
            && !v.is_empty() =>
        {
            v.parse().map_err(|_| format!("bad value {v:?}"))
        }
        _ => Err(format!("bad value {v:?}")),
    }
}

/// Each histogram series: buckets cumulative, a `+Inf` bucket equal to `_count`, and a `_sum`.
fn check_histograms(e: &Exposition) -> Result<(), String> {
    for (family, t) in &e.types {
        if t != "histogram" {
            continue;
        }
        let mut series: BTreeMap<BTreeMap<String, String>, Vec<(f64, f64)>> = BTreeMap::new();
        for s in e
            .samples
            .iter()
            .filter(|s| s.name == format!("{family}_bucket"))
        {
            let mut labels = s.labels.clone();
            let le = labels
                .remove("le")
                .ok_or_else(|| format!("{family}: a bucket without le"))?;
            series
                .entry(labels)
                .or_default()
                .push((float(&le)?, s.value));
        }
        for (labels, buckets) in series {
            let pairs: Vec<(&str, &str)> = labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            if buckets
                .windows(2)
                .any(|w| w[1].0 <= w[0].0 || w[1].1 < w[0].1)
            {
                return Err(format!("{family}{labels:?}: buckets not increasing"));
            }
            let inf = buckets
                .last()
                .filter(|b| b.0.is_infinite())
                .ok_or_else(|| format!("{family}{labels:?}: no +Inf bucket"))?;
            let count = e.value(&format!("{family}_count"), &pairs);
            if count != Some(inf.1) {
                return Err(format!("{family}{labels:?}: +Inf bucket is not _count"));
            }
            e.value(&format!("{family}_sum"), &pairs)
                .ok_or_else(|| format!("{family}{labels:?}: no _sum"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "# HELP a_total Things.\n# TYPE a_total counter\na_total{k=\"v\\\"\\n\"} 3\n\
        # TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1.5\nh_count 2\n\
        g 1e3 1700000000000\n";

    #[test]
    fn a_well_formed_exposition_parses() {
        let e = parse(GOOD).expect("good");
        assert_eq!(e.value("a_total", &[("k", "v\"\n")]), Some(3.0));
        assert_eq!(e.value("h_count", &[]), Some(2.0));
        assert_eq!(e.value("g", &[]), Some(1000.0));
    }

    #[test]
    fn every_broken_rule_is_refused() {
        for bad in [
            "a 1",                                   // no final newline
            "1a 1\n",                                // name
            "a{1k=\"v\"} 1\n",                       // label name
            "a{k=v} 1\n",                            // unquoted
            "a{k=\"v} 1\n",                          // unterminated
            "a{k=\"\\x\"} 1\n",                      // escape
            "a{k=\"v\",k=\"w\"} 1\n",                // label twice
            "a one\n",                               // value
            "a 1 2 3\n",                             // trailing text
            "a 1\na 2\n",                            // series twice
            "a 1\nb 1\na{x=\"y\"} 1\n",              // not contiguous
            "a 1\n# TYPE a gauge\n",                 // TYPE after samples
            "# TYPE a gauge\n# TYPE a gauge\na 1\n", // TYPE twice
            "# TYPE a_total counter\na_total -1\n",  // counter below zero
            "# TYPE a wibble\na 1\n",                // type
            "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 0\nh_count 1\n",
            "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 0\nh_count 1\n",
            "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 0\nh_count 1\n",
            "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",
        ] {
            assert!(parse(bad).is_err(), "accepted {bad:?}");
        }
    }
}
