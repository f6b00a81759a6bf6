//! Agencies of downstream collectors are marked in the report with their source and freshness.

use super::tests::sample;
use super::{FederatedFrom, Lang, html};

#[test]
fn federated_agencies_name_their_collector_and_age() {
    let mut r = sample();
    r.agencies[0].federated = Some(FederatedFrom {
        collector: "Xã Hoà Bình".into(),
        age_s: 300,
        stale: false,
    });
    let vi = html::render(&r, Lang::Vi);
    assert!(
        vi.contains("liên thông từ Xã Hoà Bình, số liệu 5 phút trước"),
        "{vi}"
    );
    let en = html::render(&r, Lang::En);
    assert!(
        en.contains("federated from Xã Hoà Bình, figures 5 min old"),
        "{en}"
    );
    assert!(!en.contains("(stale)"));
    r.agencies[0].federated = Some(FederatedFrom {
        collector: "Xã Hoà Bình".into(),
        age_s: 3 * 3600,
        stale: true,
    });
    let vi = html::render(&r, Lang::Vi);
    assert!(vi.contains("số liệu 3 giờ trước (đã cũ)"), "{vi}");
    r.agencies[0].federated = None;
    assert!(!html::render(&r, Lang::Vi).contains("liên thông"));
}
