//! The stream manager daemon: see `sm-runtime` for what it does and how it is configured.
//! It owns nothing but the process's entry point; it is driven by whoever starts it (systemd,
//! the Greengrass nucleus, a shell) and hands over to `sm_runtime::main` at once.

fn main() -> std::process::ExitCode {
    sm_runtime::main()
}
