//! The stream manager daemon: see `sm-runtime` for what it does and how it is configured.

fn main() -> std::process::ExitCode {
    sm_runtime::main()
}
