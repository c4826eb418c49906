//! `smctl`: the operator CLI of the stream manager (see the `sm_cli` crate docs).

use clap::Parser;

fn main() {
    // An empty variable is no setting (as in the SDKs), not an invalid host or port.
    for var in ["STREAM_MANAGER_SERVER_HOST", "STREAM_MANAGER_SERVER_PORT"] {
        if std::env::var_os(var).is_some_and(|v| v.is_empty()) {
            std::env::remove_var(var);
        }
    }
    let cli = match sm_cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // Usage errors exit 1 like every other error; --help and --version exit 0.
            let _ = e.print();
            std::process::exit(if e.use_stderr() { 1 } else { 0 });
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("smctl: starting the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let mut out = std::io::stdout().lock();
    let mut input = std::io::stdin().lock();
    if let Err(e) = runtime.block_on(sm_cli::run(cli, &mut out, &mut input)) {
        eprintln!("smctl: {e}");
        std::process::exit(1);
    }
}
