use std::time::Duration;

use super::*;

/// The value of the sample line `series` (name and labels exactly as encoded).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn every_series_is_there_at_zero_before_anything_happens() {
    let text = Metrics::new().encode();
    for series in [
        "vigil_collector_batches_total",
        "vigil_collector_findings_total",
        "vigil_collector_duplicate_findings_total",
        "vigil_collector_sequence_gaps_total",
        "vigil_collector_live_sessions",
        "vigil_collector_enrollments_total{outcome=\"accepted\"}",
        "vigil_collector_handshake_refusals_total{reason=\"in_use\"}",
        "vigil_collector_store_seconds_count{op=\"ingest\"}",
        "vigil_collector_score_recompute_seconds_count",
    ] {
        assert_eq!(sample(&text, series), Some(0.0), "{series} in\n{text}");
    }
    assert!(text.contains("# TYPE vigil_collector_store_seconds histogram"));
    assert!(text.contains("# HELP vigil_collector_batches_total Agent batches committed"));
}

#[test]
fn events_move_their_series_and_only_theirs() {
    let m = Metrics::new();
    m.record(Event::BatchStored {
        findings: 10,
        duplicates: 3,
        gaps: 1,
    });
    m.record(Event::BatchStored {
        findings: 5,
        duplicates: 0,
        gaps: 0,
    });
    m.record(Event::StoreCall {
        op: StoreOp::Ingest,
        elapsed: Duration::from_millis(3),
    });
    m.record(Event::SessionOpened);
    m.record(Event::SessionOpened);
    m.record(Event::SessionClosed);
    m.record(Event::Enrollment(Outcome::Refused));
    m.record(Event::HandshakeRefused(Refusal::Budget));
    m.record(Event::AlertRaised {
        kind: "sequence_gap",
    });
    m.record(Event::ScoresRecomputed {
        elapsed: Duration::from_millis(40),
    });
    m.record(Event::HttpResponse { status: 401 });
    let t = m.encode();
    let v = |s: &str| sample(&t, s).unwrap_or_else(|| panic!("{s} missing in\n{t}"));
    assert_eq!(v("vigil_collector_batches_total"), 2.0);
    assert_eq!(v("vigil_collector_findings_total"), 15.0);
    assert_eq!(v("vigil_collector_duplicate_findings_total"), 3.0);
    assert_eq!(v("vigil_collector_sequence_gaps_total"), 1.0);
    assert_eq!(v("vigil_collector_live_sessions"), 1.0);
    assert_eq!(v("vigil_collector_store_seconds_count{op=\"ingest\"}"), 1.0);
    assert_eq!(v("vigil_collector_store_seconds_count{op=\"api\"}"), 0.0);
    assert!((v("vigil_collector_store_seconds_sum{op=\"ingest\"}") - 0.003).abs() < 1e-9);
    // 3 ms is over the 1.6 ms bound and within the 3.2 ms one.
    assert_eq!(
        v("vigil_collector_store_seconds_bucket{op=\"ingest\",le=\"0.0016\"}"),
        0.0
    );
    assert_eq!(
        v("vigil_collector_store_seconds_bucket{op=\"ingest\",le=\"0.0032\"}"),
        1.0
    );
    assert_eq!(
        v("vigil_collector_enrollments_total{outcome=\"refused\"}"),
        1.0
    );
    assert_eq!(
        v("vigil_collector_enrollments_total{outcome=\"accepted\"}"),
        0.0
    );
    assert_eq!(
        v("vigil_collector_handshake_refusals_total{reason=\"budget\"}"),
        1.0
    );
    assert_eq!(
        v("vigil_collector_alerts_raised_total{kind=\"sequence_gap\"}"),
        1.0
    );
    assert_eq!(v("vigil_collector_score_recompute_seconds_count"), 1.0);
    assert_eq!(v("vigil_collector_http_responses_total{code=\"401\"}"), 1.0);
}

#[test]
fn alert_kinds_past_the_bound_share_one_series() {
    let m = Metrics::new();
    for i in 0..MAX_ALERT_KINDS + 10 {
        m.record(Event::AlertRaised {
            kind: &format!("kind{i}"),
        });
    }
    m.record(Event::AlertRaised { kind: "kind0" });
    let t = m.encode();
    let series = t
        .lines()
        .filter(|l| l.starts_with("vigil_collector_alerts_raised_total{"))
        .count();
    assert_eq!(series, MAX_ALERT_KINDS + 1, "{t}");
    assert_eq!(
        sample(&t, "vigil_collector_alerts_raised_total{kind=\"other\"}"),
        Some(10.0)
    );
    assert_eq!(
        sample(&t, "vigil_collector_alerts_raised_total{kind=\"kind0\"}"),
        Some(2.0),
        "a known kind keeps its series"
    );
}

#[test]
fn alert_kind_text_is_escaped_in_the_exposition() {
    let m = Metrics::new();
    m.record(Event::AlertRaised { kind: "a\"b\\c\nd" });
    let t = m.encode();
    assert!(
        t.contains(r#"vigil_collector_alerts_raised_total{kind="a\"b\\c\nd"} 1"#),
        "{t}"
    );
}
