//! An enrollment request frame as the collector reads it, through certificate issuance: the CSR
//! must be parsed and its signature checked without a panic, whatever the peer sends.
#![no_main]

use std::path::Path;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use vigil_collector::pki::{AgentCertRequest, Ca, PkiPaths, ServerNames, init};
use vigil_proto::frame::FrameDecoder;
use vigil_proto::msg::EnrollRequest;

/// One collector CA for the whole run (in a directory removed at exit... by the OS: it is tiny).
static CA: LazyLock<Ca> = LazyLock::new(|| {
    let dir = tempfile::tempdir().expect("tempdir").keep();
    let names = ServerNames {
        dns: vec!["fuzz.invalid".into()],
        ips: vec![],
    };
    let paths = PkiPaths::new(Path::new(&dir));
    if let Some(d) = paths.ca_key.parent() {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    init(&paths, "fuzz", &names).expect("CA")
});

const AGENT: AgentCertRequest<'static> = AgentCertRequest {
    agent_id: "00000000-0000-4000-8000-000000000000",
    agency: "p/a",
};

fuzz_target!(|data: &[u8]| {
    let now = time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
    let mut d = FrameDecoder::new(64 * 1024);
    d.push(data);
    if let Ok(Some(req)) = d.decode::<EnrollRequest>() {
        let _ = CA.issue_agent(&req.csr_pem, &AGENT, now);
    }
    if let Ok(pem) = std::str::from_utf8(data) {
        let _ = CA.issue_agent(pem, &AGENT, now);
    }
});
