//! The tidy checks on this workspace, and each on a fixture tree with a planted violation.

use super::*;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_owned()
}

fn report(violations: &[String]) -> String {
    violations.join("\n")
}

#[test]
fn core_crates_depend_on_no_async_runtime_or_http() {
    let v = check_core_dependencies(&workspace()).unwrap();
    assert!(v.is_empty(), "{}", report(&v));
}

#[test]
fn core_crates_do_no_io_and_read_no_clock() {
    let v = check_sans_io(&workspace()).unwrap();
    assert!(v.is_empty(), "{}", report(&v));
}

#[test]
fn no_file_over_800_lines_and_no_function_over_150() {
    let v = check_sizes(&workspace(), SIZE_ALLOWED).unwrap();
    assert!(v.is_empty(), "{}", report(&v));
}

#[test]
fn every_crate_says_what_it_owns_and_how_it_is_driven() {
    let v = check_crate_docs(&workspace()).unwrap();
    assert!(v.is_empty(), "{}", report(&v));
}

#[test]
fn architecture_md_names_exist() {
    let v = check_architecture_names(&workspace()).unwrap();
    assert!(v.is_empty(), "{}", report(&v));
}

#[test]
fn sm_runtime_stays_thin() {
    let lines = runtime_lines(&workspace()).unwrap();
    assert!(lines > 0);
    if RUNTIME_BUDGET_ON {
        assert!(
            lines <= RUNTIME_MAX_LINES,
            "sm-runtime has {lines} non-test lines (at most {RUNTIME_MAX_LINES})"
        );
    }
}

/// A fixture tree: `files` written under a temporary folder.
fn fixture(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let p = dir.path().join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }
    dir
}

fn manifest(name: &str, deps: &[&str]) -> String {
    let deps: String = deps
        .iter()
        .map(|d| format!("{d} = {{ path = \"../{d}\" }}\n"))
        .collect();
    format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n{deps}")
}

const DOC: &str = "//! Owns the fixture; driven by the test.\n";

/// A workspace of `(name, deps, lib.rs)` crates under `crates/`.
fn workspace_fixture(
    crates: &[(&str, &[&str], &str)],
    extra: &[(&str, &str)],
) -> tempfile::TempDir {
    let members: String = crates
        .iter()
        .map(|(n, _, _)| format!("    \"crates/{n}\",\n"))
        .collect();
    let mut files = vec![(
        "Cargo.toml".to_owned(),
        format!("[workspace]\nresolver = \"2\"\nmembers = [\n{members}]\n"),
    )];
    for (name, deps, lib) in crates {
        files.push((format!("crates/{name}/Cargo.toml"), manifest(name, deps)));
        files.push((format!("crates/{name}/src/lib.rs"), (*lib).to_owned()));
    }
    let mut all: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    all.extend_from_slice(extra);
    fixture(&all)
}

#[test]
fn a_core_crate_reaching_tokio_or_hyper_is_reported() {
    let ws = workspace_fixture(
        &[
            ("core-a", &["tokio"], DOC),
            ("core-b", &["mid"], DOC),
            ("mid", &["hyper"], DOC),
            ("core-c", &[], DOC),
            ("tokio", &[], DOC),
            ("hyper", &[], DOC),
            ("sm-runtime", &["tokio"], DOC),
        ],
        &[],
    );
    let v = check_core_dependencies(ws.path()).unwrap();
    assert!(
        v.iter()
            .any(|m| m == "core crate core-a depends on core-a → tokio"),
        "{v:?}"
    );
    assert!(
        v.iter()
            .any(|m| m == "core crate core-b depends on core-b → mid → hyper"),
        "{v:?}"
    );
    assert!(v.iter().any(|m| m.starts_with("core crate mid ")), "{v:?}");
    assert!(
        !report(&v).contains("core-c") && !report(&v).contains("sm-runtime"),
        "{v:?}"
    );
}

#[test]
fn io_clock_and_threads_in_core_crates_are_reported_outside_tests() {
    let ws = workspace_fixture(
        &[
            ("core-a", &[], "//! Owns; driven.\nuse std::{fs, io};\npub fn f() { std::thread::yield_now(); }\n"),
            ("core-b", &[], "//! Owns; driven.\npub fn now() -> std::time::Instant { std::time::Instant::now() }\n"),
            ("core-c", &[], "//! Owns; driven.\n/// Never std::fs here.\npub fn f() {}\n#[cfg(test)]\nmod tests { fn t() { std::env::var(\"X\").ok(); } }\n"),
            ("sm-store", &[], "//! Owns; driven.\npub mod clock;\npub fn f() { std::fs::read(\"x\").ok(); std::net::Ipv4Addr::LOCALHOST; }\n"),
            ("sm-runtime", &[], "//! Owns; driven.\npub fn f() { std::fs::read(\"x\").ok(); }\n"),
        ],
        &[("crates/sm-store/src/clock.rs", "pub fn now() { std::time::Instant::now(); }\n")],
    );
    let v = report(&check_sans_io(ws.path()).unwrap());
    assert!(
        v.contains("crates/core-a/src/lib.rs: core crate core-a names std::fs"),
        "{v}"
    );
    assert!(v.contains("core-a names std::thread"), "{v}");
    assert!(v.contains("core-b names Instant::now"), "{v}");
    assert!(!v.contains("core-c"), "comments and tests may: {v}");
    assert!(v.contains("sm-store names std::net"), "{v}");
    assert!(
        !v.contains("sm-store names std::fs") && !v.contains("clock.rs"),
        "{v}"
    );
    assert!(!v.contains("sm-runtime"), "{v}");
}

#[test]
fn long_files_and_functions_are_reported_unless_allowed() {
    let long_fn = format!(
        "fn long() {{\n{}}}\nfn short() {{\n}}\n",
        "    let _ = 1;\n".repeat(149)
    );
    let long_file = "// line\n".repeat(801);
    let ws = fixture(&[
        ("crates/a/src/lib.rs", &long_fn),
        ("crates/a/src/big.rs", &long_file),
        ("xtask/src/main.rs", &long_fn),
    ]);
    let v = check_sizes(
        ws.path(),
        &["xtask/src/main.rs::long", "crates/a/src/gone.rs"],
    )
    .unwrap();
    let v = report(&v);
    assert!(
        v.contains("crates/a/src/lib.rs:1: fn long has 151 lines (at most 150)"),
        "{v}"
    );
    assert!(
        v.contains("crates/a/src/big.rs: 801 lines (at most 800)"),
        "{v}"
    );
    assert!(
        !v.contains("short") && !v.contains("xtask/src/main.rs:"),
        "{v}"
    );
    assert!(
        v.contains("crates/a/src/gone.rs: allowed to be over the limits, but is not"),
        "{v}"
    );
}

#[test]
fn crates_without_an_owning_and_driving_doc_are_reported() {
    let ws = workspace_fixture(
        &[
            ("good", &[], DOC),
            ("bare", &[], "pub fn f() {}\n"),
            ("vague", &[], "//! Some helpers.\n"),
        ],
        &[],
    );
    let v = report(&check_crate_docs(ws.path()).unwrap());
    assert!(
        v.contains("crates/bare/src/lib.rs: does not open with a //! doc"),
        "{v}"
    );
    assert!(
        v.contains("crates/vague/src/lib.rs: its //! doc does not say"),
        "{v}"
    );
    assert!(!v.contains("good"), "{v}");
}

#[test]
fn architecture_names_that_do_not_exist_are_reported() {
    let lib = "//! Owns; driven.\npub mod handlers;\npub use inner::Thing;\nmod inner { pub struct Thing; impl Thing { pub fn go(&self) {} } }\npub enum Outcome {\n    Done,\n    Retry(u8),\n}\n";
    let ws = workspace_fixture(
        &[("sm-demo", &[], lib), ("sm-shell", &[], "//! Owns; driven.\npub mod store;\n")],
        &[
            ("crates/sm-demo/src/handlers.rs", "pub fn append_batch() {}\n"),
            ("crates/sm-shell/src/store.rs", "pub use sm_demo::*;\n"),
            (
                "ARCHITECTURE.md",
                "Fine: `sm-demo::handlers::append_batch`, `handlers::append_batch()`, \
                 `sm_demo::Thing::go`, `Thing::go`, `Outcome::Retry`, `store::Outcome`, \
                 `sm-shell::store::Thing`, `std::fs`, `tokio::task::block_in_place`.\n\
                 ```\n`handlers::in_a_fence`\n```\n\
                 Missing: `handlers::append`, `sm-demo::nothing`, `Thing::stop`, `sm-shell::store::Gone`.\n",
            ),
        ],
    );
    let v = check_architecture_names(ws.path()).unwrap();
    let missing: Vec<&str> = v
        .iter()
        .map(|m| m.split('`').nth(1).unwrap_or(""))
        .collect();
    assert_eq!(
        missing,
        [
            "handlers::append",
            "sm-demo::nothing",
            "Thing::stop",
            "sm-shell::store::Gone"
        ],
        "{v:?}"
    );
}

#[test]
fn runtime_lines_leave_out_test_items() {
    let ws = fixture(&[
        (
            "crates/sm-runtime/src/lib.rs",
            "//! Doc.\npub fn f() {}\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn t() {}\n}\n",
        ),
        ("crates/sm-runtime/src/a.rs", "pub fn g() {\n}\n"),
    ]);
    assert_eq!(runtime_lines(ws.path()).unwrap(), 5);
}
