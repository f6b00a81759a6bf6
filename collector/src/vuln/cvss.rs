//! CVSS v3.0/v3.1 base scores from their vectors (`CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H`),
//! with the formulas and the round-up of the FIRST specification, and the qualitative rating.
//!
//! Other versions (v2, v4) give no number here: their advisories' severity words still apply.

/// The base score of a CVSS v3 vector, or `None` when it is not a complete, valid v3 vector.
pub fn base_score_v3(vector: &str) -> Option<f64> {
    let mut parts = vector.trim().split('/');
    if !matches!(parts.next()?, "CVSS:3.0" | "CVSS:3.1") {
        return None;
    }
    let mut m = [None::<&str>; 8];
    const KEYS: [&str; 8] = ["AV", "AC", "PR", "UI", "S", "C", "I", "A"];
    for p in parts {
        let (k, v) = p.split_once(':')?;
        if let Some(i) = KEYS.iter().position(|x| *x == k)
            && m[i].replace(v).is_some()
        {
            return None; // a metric given twice
        }
        // Temporal and environmental metrics do not change the base score.
    }
    let [av, ac, pr, ui, s, c, i, a] = m;
    let changed = match s? {
        "U" => false,
        "C" => true,
        _ => return None,
    };
    let av = match av? {
        "N" => 0.85,
        "A" => 0.62,
        "L" => 0.55,
        "P" => 0.2,
        _ => return None,
    };
    let ac = match ac? {
        "L" => 0.77,
        "H" => 0.44,
        _ => return None,
    };
    let pr = match (pr?, changed) {
        ("N", _) => 0.85,
        ("L", false) => 0.62,
        ("L", true) => 0.68,
        ("H", false) => 0.27,
        ("H", true) => 0.5,
        _ => return None,
    };
    let ui = match ui? {
        "N" => 0.85,
        "R" => 0.62,
        _ => return None,
    };
    let cia = |x: Option<&str>| match x? {
        "H" => Some(0.56),
        "L" => Some(0.22),
        "N" => Some(0.0),
        _ => None,
    };
    let (c, i, a) = (cia(c)?, cia(i)?, cia(a)?);
    let iss = 1.0 - (1.0 - c) * (1.0 - i) * (1.0 - a);
    let impact = if changed {
        7.52 * (iss - 0.029) - 3.25 * (iss - 0.02_f64).powi(15)
    } else {
        6.42 * iss
    };
    if impact <= 0.0 {
        return Some(0.0);
    }
    let exploitability = 8.22 * av * ac * pr * ui;
    let raw = if changed {
        1.08 * (impact + exploitability)
    } else {
        impact + exploitability
    };
    Some(round_up(raw.min(10.0)))
}

/// The smallest number with one decimal that is ≥ `x`, computed on integers as CVSS 3.1 asks so
/// floating-point noise (`4.000000001`) does not round up.
fn round_up(x: f64) -> f64 {
    let n = (x * 100_000.0).round() as i64;
    if n % 10_000 == 0 {
        n as f64 / 100_000.0
    } else {
        ((n / 10_000) + 1) as f64 / 10.0
    }
}

/// The qualitative severity of a score: critical ≥ 9, high ≥ 7, medium ≥ 4, low > 0.
pub fn rating(score: f64) -> Option<&'static str> {
    match score {
        s if s >= 9.0 => Some("critical"),
        s if s >= 7.0 => Some("high"),
        s if s >= 4.0 => Some("medium"),
        s if s > 0.0 => Some("low"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors_score_as_published() {
        // Scores as the NVD shows them for these vectors.
        for (v, want) in [
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),
            ("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H", 8.1),
            ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5),
            ("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N", 5.3),
            // By hand: 6.42 x 0.22 + 8.22 x 0.55 x 0.44 x 0.27 x 0.62 = 1.745, rounded up.
            ("CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.8),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:U/RL:O", 9.8),
        ] {
            assert_eq!(base_score_v3(v), Some(want), "{v}");
        }
        for bad in [
            "",
            "AV:N/AC:L",
            "CVSS:2.0/AV:N/AC:L/Au:N/C:P/I:P/A:P",
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H",
            "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            "CVSS:3.1/AV:N/AV:L/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        ] {
            assert_eq!(base_score_v3(bad), None, "{bad}");
        }
        assert_eq!(rating(9.8), Some("critical"));
        assert_eq!(rating(7.0), Some("high"));
        assert_eq!(rating(0.0), None);
    }
}
