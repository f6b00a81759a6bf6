//! `vigil-collector`: argument parsing lives in `vigil_collector::cli`; this is only the entry.

fn main() -> std::process::ExitCode {
    vigil_collector::cli::main()
}
