//! A handshake flood from one address must not keep other addresses' agents out (issue 17,
//! item 8), against the real collector binary: 1,000 QUIC connection attempts per second
//! from 127.0.0.2 while an agent on 127.0.0.1 connects and another one enrolls.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use vigil_e2e::hostile::Flood;
use vigil_e2e::{Agent, Collector, wait_for};

#[test]
fn a_handshake_flood_from_one_address_leaves_other_agents_connecting() {
    let mut c = Collector::init();
    c.start();
    let base = c.tmp.path().to_path_buf();
    let mut agent = Agent::new(&base, "honest", "");
    agent.enroll(&c.token(&[]), "m-honest");
    let rt = tokio::runtime::Runtime::new().expect("rt");
    let to = c.quic.parse().expect("quic address");
    let attacker: IpAddr = [127, 0, 0, 2].into();
    let flood = {
        let _g = rt.enter();
        Flood::start(attacker, to, 1000).expect("flood")
    };
    std::thread::sleep(Duration::from_secs(2));

    // The agent connects within 5 s, with the flood going on.
    let t = Instant::now();
    agent.start();
    wait_for(
        Duration::from_secs(30),
        "the agent to connect during the flood",
        || (agent.status()["status"]["connected"] == true).then_some(()),
    );
    let connected_in = t.elapsed();
    assert!(
        connected_in <= Duration::from_secs(5),
        "connected only after {connected_in:?}: {}",
        agent.log()
    );
    // And a new machine enrolls.
    let mut late = Agent::new(&base, "late", "");
    late.enroll(&c.token(&[]), "m-late");

    let attempts = rt.block_on(flood.stop());
    assert!(
        attempts >= 1000,
        "the flood ran (aimed at 1,000 attempts/s; {attempts} attempts)"
    );
    eprintln!("connected in {connected_in:?} during a flood of {attempts} attempts");
}
