//! The packaging files against the daemon they package: the Greengrass recipe
//! (`packaging/greengrass/recipe.yaml`) must name every environment variable the daemon reads
//! (derived from [`sm_runtime::config::Args`] through clap's introspection) with the daemon's
//! defaults, and its startup and shutdown scripts must run and stop the real binary; the
//! systemd unit (`packaging/systemd/stream-manager.service`) must start the real binary with
//! flags it accepts.
//!
//! The recipe is read with a few lines of hand parsing (block mappings and `|` scripts, the
//! only YAML it uses), so no YAML library enters the workspace.
//!
//! The process tests need the release binary: `$SM_BINARY`, else
//! `target/release/stream-manager` (`cargo xtask ci` builds it before `cargo test`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use clap::CommandFactory;

/// Environment variables the daemon reads that are deliberately not component configuration
/// keys, with the reason.
const NOT_IN_RECIPE: &[(&str, &str)] = &[
    // Set by the nucleus for every component it starts (from its own configuration).
    ("AWS_REGION", "set by the nucleus"),
    ("GG_ROOT_CA_PATH", "set by the nucleus"),
    // The nucleus's IPC socket and this component's IPC token, set for every component.
    (
        "AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT",
        "set by the nucleus",
    ),
    ("SVCUID", "set by the nucleus"),
    // Standard AWS SDK endpoint overrides (tests, VPC and FIPS endpoints): the nucleus passes
    // its own environment on, so they are set where the nucleus runs, as for any AWS SDK.
    ("AWS_ENDPOINT_URL", "AWS SDK variable"),
    ("AWS_ENDPOINT_URL_KINESIS", "AWS SDK variable"),
    ("AWS_ENDPOINT_URL_IOTSITEWISE", "AWS SDK variable"),
    ("AWS_ENDPOINT_URL_IOTANALYTICS", "AWS SDK variable"),
    ("AWS_ENDPOINT_URL_S3", "AWS SDK variable"),
    // Set by the nucleus from its fipsMode (both names; AWS_GG_FIPS_MODE "read by stream
    // manager", as the nucleus's source says).
    ("AWS_USE_FIPS_ENDPOINT", "set by the nucleus"),
    ("AWS_GG_FIPS_MODE", "set by the nucleus"),
    // The nucleus's networkProxy, set for every component (both cases).
    ("HTTP_PROXY", "set by the nucleus"),
    ("http_proxy", "set by the nucleus"),
    ("HTTPS_PROXY", "set by the nucleus"),
    ("https_proxy", "set by the nucleus"),
    ("ALL_PROXY", "set by the nucleus"),
    ("all_proxy", "set by the nucleus"),
    ("NO_PROXY", "set by the nucleus"),
    ("no_proxy", "set by the nucleus"),
    // The token exchange service's endpoint and the component's token, set for every
    // component (AWS_CONTAINER_AUTHORIZATION_TOKEN is the SVCUID).
    ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "set by the nucleus"),
    ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "set by the nucleus"),
    // The rest of the AWS SDKs' credential and profile chain, and the region's fallback, for
    // standalone installs: the nucleus passes its own environment on.
    ("AWS_DEFAULT_REGION", "AWS SDK variable"),
    ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS SDK variable"),
    ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS SDK variable"),
    ("AWS_ACCESS_KEY_ID", "AWS SDK variable"),
    ("AWS_SECRET_ACCESS_KEY", "AWS SDK variable"),
    ("AWS_SESSION_TOKEN", "AWS SDK variable"),
    ("AWS_SHARED_CREDENTIALS_FILE", "AWS SDK variable"),
    ("AWS_CONFIG_FILE", "AWS SDK variable"),
    ("AWS_PROFILE", "AWS SDK variable"),
    // The process's own environment.
    ("HOME", "the process's environment"),
    ("XDG_DATA_HOME", "the process's environment"),
];

/// The reference's configuration keys and defaults (reference.md §3.1), as the recipe must
/// carry them.
const REFERENCE_DEFAULTS: &[(&str, &str)] = &[
    ("STREAM_MANAGER_STORE_ROOT_DIR", "."),
    ("STREAM_MANAGER_SERVER_PORT", "8088"),
    ("STREAM_MANAGER_AUTHENTICATE_CLIENT", "true"),
    ("STREAM_MANAGER_EXPORTER_MAX_BANDWIDTH", ""),
    ("STREAM_MANAGER_EXPORTER_THREAD_POOL_SIZE", "5"),
    (
        "STREAM_MANAGER_EXPORTER_S3_DESTINATION_MULTIPART_UPLOAD_MIN_PART_SIZE_BYTES",
        "5242880",
    ),
    ("LOG_LEVEL", "INFO"),
    ("startupTimeoutSeconds", "120"),
];

/// Keys whose recipe default is not the daemon's: the store is the component's work folder
/// (as in the reference), the port is also written to a file in it (for operators), and
/// authentication is on (the daemon's own default depends on the environment: on under
/// Greengrass, where the nucleus sets its IPC variables, off standalone).
const RECIPE_OWN_DEFAULTS: &[&str] = &[
    "STREAM_MANAGER_STORE_ROOT_DIR",
    "STREAM_MANAGER_PORT_FILE",
    "STREAM_MANAGER_AUTHENTICATE_CLIENT",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The lines nested under the first line at or after `from` whose trimmed text is `header`
/// (blank lines kept, trailing blank lines dropped), and that line's index.
fn nested<'a>(lines: &[&'a str], header: &str, from: usize) -> (usize, Vec<&'a str>) {
    let at = (from..lines.len())
        .find(|&i| lines[i].trim() == header)
        .unwrap_or_else(|| panic!("no {header:?} in the recipe after line {from}"));
    let base = indent(lines[at]);
    let mut body: Vec<&str> = lines[at + 1..]
        .iter()
        .take_while(|l| l.trim().is_empty() || indent(l) > base)
        .copied()
        .collect();
    while body.last().is_some_and(|l| l.trim().is_empty()) {
        body.pop();
    }
    (at, body)
}

/// The `key: value` entries of a block mapping (its shallowest entries; comments skipped;
/// double quotes removed).
fn mapping(lines: &[&str]) -> BTreeMap<String, String> {
    let entries: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .collect();
    let top = entries.iter().map(|l| indent(l)).min().unwrap_or(0);
    let mut out = BTreeMap::new();
    for l in entries.iter().filter(|l| indent(l) == top) {
        let (k, v) = l
            .trim()
            .split_once(':')
            .unwrap_or_else(|| panic!("not a key: {l:?}"));
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v);
        assert!(
            out.insert(k.to_owned(), v.to_owned()).is_none(),
            "duplicate key {k}"
        );
    }
    out
}

/// The text of a `Script: |` block under `step:` of the lifecycle.
fn script(lines: &[&str], step: &str) -> String {
    let (at, _) = nested(lines, "Lifecycle:", 0);
    let (at, _) = nested(lines, &format!("{step}:"), at);
    let (_, body) = nested(lines, "Script: |", at);
    let cut = body
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| indent(l))
        .min()
        .unwrap();
    body.iter()
        .map(|l| format!("{}\n", l.get(cut..).unwrap_or("")))
        .collect()
}

struct Recipe {
    text: String,
    defaults: BTreeMap<String, String>,
    setenv: BTreeMap<String, String>,
    startup: String,
    shutdown: String,
}

fn recipe() -> Recipe {
    let text = read("packaging/greengrass/recipe.yaml");
    let lines: Vec<&str> = text.lines().collect();
    let (_, d) = nested(&lines, "DefaultConfiguration:", 0);
    let (at, _) = nested(&lines, "Lifecycle:", 0);
    let (_, s) = nested(&lines, "Setenv:", at);
    Recipe {
        defaults: mapping(&d),
        setenv: mapping(&s),
        startup: script(&lines, "startup"),
        shutdown: script(&lines, "shutdown"),
        text,
    }
}

/// Every environment variable the daemon reads, with its default: those of its command line
/// and those of its registry of other variables (`config::OTHER_ENV_VARS`, no default).
fn daemon_variables() -> BTreeMap<String, Option<String>> {
    let mut vars: BTreeMap<String, Option<String>> = sm_runtime::config::Args::command()
        .get_arguments()
        .filter_map(|a| {
            let var = a.get_env()?.to_str().unwrap().to_owned();
            let default = a
                .get_default_values()
                .first()
                .map(|v| v.to_str().unwrap().to_owned());
            Some((var, default))
        })
        .collect();
    for (var, _) in sm_runtime::config::OTHER_ENV_VARS {
        assert!(
            vars.insert((*var).to_owned(), None).is_none(),
            "{var} is both a flag's variable and in OTHER_ENV_VARS"
        );
    }
    vars
}

#[test]
fn recipe_names_every_variable_the_daemon_reads() {
    let r = recipe();
    let daemon = daemon_variables();
    assert!(daemon.len() >= 20, "introspection found {daemon:?}");
    let allowed: BTreeSet<&str> = NOT_IN_RECIPE.iter().map(|(v, _)| *v).collect();
    for var in daemon.keys() {
        let in_recipe = r.defaults.contains_key(var);
        let allowed = allowed.contains(var.as_str());
        assert!(
            in_recipe || allowed,
            "the daemon reads {var}: add it to the recipe's DefaultConfiguration and Setenv, \
             or to NOT_IN_RECIPE with the reason"
        );
        assert!(
            !(in_recipe && allowed),
            "{var} is both in the recipe and on NOT_IN_RECIPE"
        );
    }
    for var in &allowed {
        assert!(
            daemon.contains_key(*var),
            "NOT_IN_RECIPE names {var}, which the daemon does not read"
        );
    }
    // No dead keys: each configuration key is a variable of the daemon, passed with Setenv
    // from the configuration (startupTimeoutSeconds is the nucleus's: the startup Timeout).
    let passed: BTreeSet<&String> = r
        .defaults
        .keys()
        .filter(|k| *k != "startupTimeoutSeconds")
        .collect();
    for key in &passed {
        assert!(
            daemon.contains_key(*key),
            "the recipe sets {key}, which the daemon does not read"
        );
    }
    assert_eq!(
        r.setenv.keys().collect::<BTreeSet<_>>(),
        passed,
        "Setenv = the configuration keys"
    );
    for (k, v) in &r.setenv {
        assert_eq!(v, &format!("{{configuration:/{k}}}"), "Setenv {k}");
    }
}

#[test]
fn recipe_defaults_are_the_reference_and_the_daemon() {
    let r = recipe();
    for (k, v) in REFERENCE_DEFAULTS {
        assert_eq!(
            r.defaults.get(*k).map(String::as_str),
            Some(*v),
            "default of {k}"
        );
    }
    for (var, default) in daemon_variables() {
        let Some(recipe) = r.defaults.get(&var) else {
            continue;
        };
        if RECIPE_OWN_DEFAULTS.contains(&var.as_str()) {
            assert!(!recipe.is_empty(), "{var}");
            continue;
        }
        match default {
            // The daemon's own default, so a key left alone behaves as on a standalone install.
            Some(d) => assert_eq!(recipe, &d, "default of {var}"),
            // Optional settings are empty, and the startup script unsets them when empty (the
            // daemon reads a set but empty variable as an invalid value).
            None => {
                assert_eq!(recipe, "", "{var} has no default in the daemon");
                let unset = format!("[ -n \"${{{var}:-}}\" ] || unset {var}\n");
                assert!(
                    r.startup.contains(&unset),
                    "the startup script must say {unset:?}"
                );
            }
        }
    }
}

#[test]
fn recipe_component_shape() {
    let r = recipe();
    let t = &r.text;
    assert!(t.contains("\nComponentName: aws.greengrass.StreamManager\n"));
    assert!(t.contains(
        "  aws.greengrass.TokenExchangeService:\n    VersionRequirement: \">=2.0.0 <3.0.0\"\n    DependencyType: HARD\n"
    ));
    for arch in ["amd64", "aarch64", "arm"] {
        assert!(
            t.contains(&format!("      os: linux\n      architecture: {arch}\n")),
            "{arch}"
        );
    }
    for target in [
        "x86_64-unknown-linux-gnu",
        "aarch64-unknown-linux-gnu",
        "armv7-unknown-linux-gnueabihf",
    ] {
        assert!(
            t.contains(&format!("/{target}/stream-manager\"\n")),
            "{target}"
        );
    }
    assert!(t.contains("      Timeout: \"{configuration:/startupTimeoutSeconds}\"\n"));
    assert!(r.startup.contains("\"{artifacts:path}/stream-manager\""));
}

fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("SM_BINARY") {
        return PathBuf::from(p);
    }
    let p = root().join("target/release/stream-manager");
    assert!(
        p.exists(),
        "{} does not exist: run `cargo build --release -p stream-manager` first \
         (or set SM_BINARY to a stream-manager binary)",
        p.display()
    );
    p
}

/// Whether a process runs (exists and is not a zombie waiting for its parent).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| {
        !s.lines()
            .any(|l| l.starts_with("State:") && l.contains('Z'))
    })
}

/// SIGKILLs a daemon a test started, if the test left it running.
struct Reap(Option<u32>);

impl Drop for Reap {
    fn drop(&mut self) {
        if let Some(pid) = self.0.filter(|p| alive(*p)) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

/// A lifecycle script as the nucleus runs it: `sh`, the work folder as the current directory,
/// the Setenv variables with the configuration interpolated.
fn lifecycle(
    script: &str,
    work: &Path,
    env: &BTreeMap<String, String>,
    artifacts: &Path,
) -> Command {
    let script = script.replace("{artifacts:path}", artifacts.to_str().unwrap());
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &script])
        .current_dir(work)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env)
        .stdin(Stdio::null());
    cmd
}

/// Polls `cond` every 20 ms, up to 20 s (tests do not read the clock).
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no {what} within 20 s");
}

#[test]
fn recipe_scripts_run_and_stop_the_daemon_in_the_work_folder() {
    let r = recipe();
    let dir = tempfile::tempdir().unwrap();
    // The artifact keeps its name from the URI: stream-manager.
    let artifacts = dir.path().join("artifacts");
    let work = dir.path().join("work");
    std::fs::create_dir_all(&artifacts).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    std::os::unix::fs::symlink(binary(), artifacts.join("stream-manager")).unwrap();
    // The configuration: the defaults, with a deployment's merge of a free port and no
    // authentication (there is no nucleus here to validate tokens; tests/e2e has one).
    let mut config = r.defaults.clone();
    config.insert("STREAM_MANAGER_SERVER_PORT".into(), "0".into());
    config.insert("STREAM_MANAGER_AUTHENTICATE_CLIENT".into(), "false".into());
    let env: BTreeMap<String, String> = r
        .setenv
        .keys()
        .map(|k| (k.clone(), config[k].clone()))
        .collect();

    // The startup step runs the daemon in the foreground: the nucleus tracks that process.
    let log = dir.path().join("component.log");
    let mut startup = lifecycle(&r.startup, &work, &env, &artifacts)
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(dir.path().join("component.err")).unwrap())
        .spawn()
        .unwrap();
    let _reap = Reap(Some(startup.id()));
    let port_file = work.join("stream-manager.port");
    wait_for("port file", || {
        assert!(
            startup.try_wait().unwrap().is_none(),
            "the startup process exited: {}",
            std::fs::read_to_string(dir.path().join("component.err")).unwrap_or_default()
        );
        std::fs::read_to_string(&port_file).is_ok_and(|t| t.ends_with('\n'))
    });
    let port: u16 = std::fs::read_to_string(&port_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // The daemon is the startup process itself (exec), and its pid is where shutdown looks.
    let pid: u32 = std::fs::read_to_string(work.join("stream-manager.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(pid, startup.id());
    std::net::TcpStream::connect(("127.0.0.1", port)).expect("the daemon accepts connections");
    // The store is the work folder (".", the current directory of the scripts); the log goes
    // to the nucleus (the step's stderr).
    let err = std::fs::read_to_string(dir.path().join("component.err")).unwrap();
    assert!(
        err.contains("store opened") && err.contains("root=."),
        "{err}"
    );

    let out = lifecycle(&r.shutdown, &work, &env, &artifacts)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // SIGTERM ends the daemon cleanly: the startup process exits 0 (not ERRORED).
    let status = startup.wait().unwrap();
    assert!(status.success(), "the daemon exited with {status}");
    assert!(!work.join("stream-manager.pid").exists());

    // With the defaults (authentication on) and no nucleus, the daemon cannot check tokens:
    // the startup step fails at once, saying why.
    let defaults: BTreeMap<String, String> = r
        .setenv
        .keys()
        .map(|k| (k.clone(), r.defaults[k].clone()))
        .collect();
    let out = lifecycle(&r.startup, &work, &defaults, &artifacts)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no token source") && err.contains("not running under Greengrass"),
        "{err}"
    );
}

/// The `Key=value` settings of the unit (comments and section headers skipped).
fn unit() -> Vec<(String, String)> {
    read("packaging/systemd/stream-manager.service")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('['))
        .map(|l| {
            let (k, v) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("not a setting: {l:?}"));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

#[test]
fn systemd_unit_runs_the_daemon_with_flags_it_accepts() {
    let settings = unit();
    let get = |k: &str| -> Vec<&str> {
        settings
            .iter()
            .filter(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    assert_eq!(get("User"), ["stream-manager"]);
    assert_eq!(get("StateDirectory"), ["stream-manager"]);
    assert_eq!(get("ReadWritePaths"), ["/var/lib/stream-manager"]);
    assert_eq!(get("EnvironmentFile"), ["-/etc/stream-manager/env"]);
    assert_eq!(get("Restart"), ["on-failure"]);
    assert_eq!(get("KillSignal"), ["SIGTERM"]);
    for (k, v) in [
        ("NoNewPrivileges", "true"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "true"),
        ("PrivateTmp", "true"),
    ] {
        assert_eq!(get(k), [v], "{k}");
    }
    let exec = get("ExecStart");
    assert_eq!(exec.len(), 1);
    let argv: Vec<&str> = exec[0].split_whitespace().collect();
    assert_eq!(argv[0], "/usr/local/bin/stream-manager");
    let flags = &argv[1..];
    assert_eq!(flags, ["--store-root", "/var/lib/stream-manager"]);

    // The daemon's parser accepts the flags...
    let args = <sm_runtime::config::Args as clap::Parser>::try_parse_from(argv.iter().copied())
        .unwrap_or_else(|e| panic!("the daemon refuses ExecStart's flags: {e}"));
    assert_eq!(
        args.store_root.as_deref(),
        Some(Path::new("/var/lib/stream-manager"))
    );

    // ...and the binary runs with them (the store moved to a temporary folder, a free port),
    // writes its port file, and exits 0 on SIGTERM.
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("state");
    let port_file = dir.path().join("port");
    let flags: Vec<String> = flags
        .iter()
        .map(|f| f.replace("/var/lib/stream-manager", store.to_str().unwrap()))
        .collect();
    let mut child = Command::new(binary())
        .args(&flags)
        .args(["--port", "0", "--port-file"])
        .arg(&port_file)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _reap = Reap(Some(child.id()));
    // Up to 20 s, in steps of 20 ms (tests do not read the clock).
    let mut steps = 0;
    while !std::fs::read_to_string(&port_file).is_ok_and(|t| t.ends_with('\n')) {
        assert!(child.try_wait().unwrap().is_none(), "the daemon exited");
        steps += 1;
        assert!(steps < 1000, "no port file within 20 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(store.is_dir(), "the daemon uses --store-root");
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let mut steps = 0;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        steps += 1;
        assert!(steps < 1000, "no exit within 20 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        status.success(),
        "SIGTERM ends the daemon cleanly: {status}"
    );
}
