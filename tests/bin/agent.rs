//! The agent for the end-to-end tests: `vigil-agent`'s entry under another name, so that Cargo
//! builds it for `cargo test -p vigil-e2e` and tells the tests where it is (`CARGO_BIN_EXE_*`).

fn main() -> std::process::ExitCode {
    vigil_agent::cli::main()
}
