//! `vigil-agent`: argument parsing lives in `vigil_agent::cli`; this is only the entry.

fn main() -> std::process::ExitCode {
    vigil_agent::cli::main()
}
