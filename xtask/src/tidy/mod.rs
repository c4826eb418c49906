//! Tidy checks: the architecture's invariants as tests, as rust-analyzer keeps its
//! conventions. They run with `cargo test --workspace` (so in `cargo xtask ci`) and as
//! `cargo xtask tidy`; each has a test that plants a violation in a small fixture tree and
//! shows it reported. ARCHITECTURE.md lists the invariants and names the test of each.

mod arch;
mod source;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// Workspace crates that are not core: the shells (tokio, sockets, files), the clients and
/// the tools. Every other workspace crate is core.
pub const NOT_CORE: &[&str] = &[
    "sm-runtime",
    "stream-manager",
    "sm-client",
    "sm-cli",
    "sm-bench",
    "xtask",
];

/// Packages no core crate may depend on, directly or through others.
pub const ASYNC_RUNTIMES_AND_HTTP: &[&str] = &["tokio", "reqwest", "hyper"];

/// Paths to a banned package that are accepted, each with its reason: `(crate, package)`.
pub const DEPENDENCY_ALLOWED: &[(&str, &str)] = &[
    // aws-sigv4 and aws-credential-types (the design card's choice for signing) depend on
    // aws-smithy-async, which takes tokio with its default features: no runtime, no IO.
    ("sm-aws", "tokio"),
    // The same path, through sm-aws: the engine itself names no tokio.
    ("sm-export", "tokio"),
];

/// What core crates' non-test sources may not name: IO, the environment, threads, clocks.
pub const SANS_IO_BANNED: &[&str] = &[
    "std::fs",
    "std::net",
    "std::env",
    "std::thread",
    "Instant::now",
    "SystemTime::now",
];

/// Core crates that carry out IO themselves, and what they may name: `sm-store` is the file
/// executor (std only; its one clock reader is `src/clock.rs`, see [`CLOCK_READERS`]).
pub const IO_EXECUTORS: &[(&str, &[&str])] = &[("sm-store", &["std::fs", "std::thread"])];

/// The files of core crates allowed to read the clock.
pub const CLOCK_READERS: &[&str] = &["crates/sm-store/src/clock.rs"];

/// Longest source file, in lines.
pub const MAX_FILE_LINES: usize = 800;
/// Longest function, in lines.
pub const MAX_FN_LINES: usize = 150;

/// Files and functions over the limits that others are splitting now, each with its issue.
/// Remove an entry when its issue lands; entries that no longer apply fail the check.
pub const SIZE_ALLOWED: &[&str] = &[];

/// `sm-runtime`'s budget of non-test lines.
pub const RUNTIME_MAX_LINES: usize = 4_000;
/// The budget is enforced (the export engine moved out of sm-runtime in issue 18).
pub const RUNTIME_BUDGET_ON: bool = true;

/// A workspace crate.
#[derive(Debug, Clone)]
pub struct Crate {
    /// Package name.
    pub name: String,
    /// Its folder.
    pub dir: PathBuf,
}

impl Crate {
    /// `src/lib.rs`, or `src/main.rs` for a binary-only crate.
    pub fn root_file(&self) -> PathBuf {
        let lib = self.dir.join("src/lib.rs");
        if lib.is_file() {
            lib
        } else {
            self.dir.join("src/main.rs")
        }
    }

    fn is_core(&self) -> bool {
        !NOT_CORE.contains(&self.name.as_str())
    }
}

/// The members of the workspace at `root` (from its `Cargo.toml`), with their package names.
pub fn crates(root: &Path) -> Result<Vec<Crate>> {
    let manifest = fs::read_to_string(root.join("Cargo.toml")).context("reading Cargo.toml")?;
    let start = manifest.find("members").context("no workspace members")?;
    let list = &manifest[start
        ..manifest[start..]
            .find(']')
            .map_or(manifest.len(), |e| start + e)];
    let mut out = Vec::new();
    for line in list.lines() {
        let line = line.split('#').next().unwrap_or("");
        let Some(member) = line.split('"').nth(1) else {
            continue;
        };
        let dir = root.join(member);
        let toml = fs::read_to_string(dir.join("Cargo.toml"))
            .with_context(|| format!("reading {member}/Cargo.toml"))?;
        let name = toml
            .lines()
            .find_map(|l| l.trim().strip_prefix("name = \""))
            .and_then(|l| l.split('"').next())
            .with_context(|| format!("{member}/Cargo.toml has no package name"))?;
        out.push(Crate {
            name: name.to_owned(),
            dir,
        });
    }
    Ok(out)
}

/// Every `.rs` file under `dir`, sorted.
pub fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn relative(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

/// Core crates whose normal dependencies (through any depth, per `cargo metadata`) include a
/// package of [`ASYNC_RUNTIMES_AND_HTTP`].
pub fn check_core_dependencies(root: &Path) -> Result<Vec<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--offline",
            "--manifest-path",
        ])
        .arg(root.join("Cargo.toml"))
        .env_remove("CARGO_MANIFEST_DIR")
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let name_of = |id: &str| {
        meta["packages"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["id"] == id))
            .and_then(|p| p["name"].as_str())
            .unwrap_or("")
            .to_owned()
    };
    let nodes = meta["resolve"]["nodes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let normal_deps = |id: &str| -> Vec<String> {
        nodes
            .iter()
            .find(|n| n["id"] == id)
            .and_then(|n| n["deps"].as_array())
            .map(|deps| {
                deps.iter()
                    .filter(|d| {
                        d["dep_kinds"]
                            .as_array()
                            .is_some_and(|ks| ks.iter().any(|k| k["kind"].is_null()))
                    })
                    .filter_map(|d| d["pkg"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let core: Vec<String> = crates(root)?
        .into_iter()
        .filter(Crate::is_core)
        .map(|c| c.name)
        .collect();
    let mut violations = Vec::new();
    for member in meta["workspace_members"].as_array().into_iter().flatten() {
        let id = member.as_str().unwrap_or("");
        let name = name_of(id);
        if !core.contains(&name) {
            continue;
        }
        let (mut seen, mut todo) = (
            vec![id.to_owned()],
            vec![(id.to_owned(), vec![name.clone()])],
        );
        while let Some((at, path)) = todo.pop() {
            for dep in normal_deps(&at) {
                if seen.contains(&dep) {
                    continue;
                }
                seen.push(dep.clone());
                let mut path = path.clone();
                path.push(name_of(&dep));
                let last = path[path.len() - 1].as_str();
                if ASYNC_RUNTIMES_AND_HTTP.contains(&last)
                    && !DEPENDENCY_ALLOWED.contains(&(name.as_str(), last))
                {
                    violations.push(format!("core crate {name} depends on {}", path.join(" → ")));
                }
                todo.push((dep, path));
            }
        }
    }
    Ok(violations)
}

/// Core crates' non-test sources that name IO, the environment, threads or a clock
/// ([`SANS_IO_BANNED`], less what [`IO_EXECUTORS`] and [`CLOCK_READERS`] allow).
pub fn check_sans_io(root: &Path) -> Result<Vec<String>> {
    let mut violations = Vec::new();
    for c in crates(root)?.iter().filter(|c| c.is_core()) {
        let allowed: &[&str] = IO_EXECUTORS
            .iter()
            .find(|(n, _)| *n == c.name)
            .map_or(&[], |(_, a)| a);
        for file in rust_files(&c.dir.join("src")) {
            let rel = relative(root, &file);
            let code = source::without_tests(&source::strip(&fs::read_to_string(&file)?));
            // `use std::{fs, …}` names std::fs too.
            let code = code.clone() + &source::expand_std_groups(&code);
            for banned in SANS_IO_BANNED {
                let clock = banned.ends_with("::now");
                if allowed.contains(banned) || (clock && CLOCK_READERS.contains(&rel.as_str())) {
                    continue;
                }
                let named = code.contains(banned);
                if named {
                    violations.push(format!("{rel}: core crate {} names {banned}", c.name));
                }
            }
        }
    }
    Ok(violations)
}

/// Source files over [`MAX_FILE_LINES`] and functions over [`MAX_FN_LINES`] under `crates/`
/// and `xtask/`, less `allowed` (`path` or `path::function`); also allowed entries that no
/// longer match anything.
pub fn check_sizes(root: &Path, allowed: &[&str]) -> Result<Vec<String>> {
    let mut violations = Vec::new();
    let mut used = Vec::new();
    let files = [
        rust_files(&root.join("crates")),
        rust_files(&root.join("xtask")),
    ]
    .concat();
    for file in files {
        let rel = relative(root, &file);
        let text = fs::read_to_string(&file)?;
        let lines = text.lines().count();
        if lines > MAX_FILE_LINES {
            if allowed.contains(&rel.as_str()) {
                used.push(rel.clone());
            } else {
                violations.push(format!("{rel}: {lines} lines (at most {MAX_FILE_LINES})"));
            }
        }
        for f in source::functions(&source::strip(&text)) {
            let key = format!("{rel}::{}", f.name);
            if f.lines <= MAX_FN_LINES {
                continue;
            }
            if allowed.contains(&key.as_str()) {
                used.push(key);
            } else {
                violations.push(format!(
                    "{rel}:{}: fn {} has {} lines (at most {MAX_FN_LINES})",
                    f.line, f.name, f.lines
                ));
            }
        }
    }
    for a in allowed {
        if !used.iter().any(|u| u == a) {
            violations.push(format!(
                "{a}: allowed to be over the limits, but is not (remove the entry)"
            ));
        }
    }
    Ok(violations)
}

/// Crates whose root file (`lib.rs`, else `main.rs`) does not open with a `//!` doc saying
/// what the crate owns and how it is driven (its text names "own" and "driv…").
pub fn check_crate_docs(root: &Path) -> Result<Vec<String>> {
    let mut violations = Vec::new();
    for c in crates(root)? {
        let file = c.root_file();
        let text = fs::read_to_string(&file).unwrap_or_default();
        let doc: String = text
            .lines()
            .take_while(|l| l.starts_with("//!"))
            .collect::<Vec<_>>()
            .join("\n")
            .to_lowercase();
        let rel = relative(root, &file);
        if doc.is_empty() {
            violations.push(format!("{rel}: does not open with a //! doc"));
        } else if !doc.contains("own") || !doc.contains("driv") {
            violations.push(format!(
                "{rel}: its //! doc does not say what the crate owns and how it is driven"
            ));
        }
    }
    Ok(violations)
}

/// Paths in ARCHITECTURE.md's code spans that name missing items (the rule: [`arch`]).
pub fn check_architecture_names(root: &Path) -> Result<Vec<String>> {
    let md = fs::read_to_string(root.join("ARCHITECTURE.md")).context("reading ARCHITECTURE.md")?;
    Ok(arch::missing_names(&md, &crates(root)?))
}

/// Lines of `crates/sm-runtime/src` outside `#[cfg(test)]` items (blank lines and comments
/// included).
pub fn runtime_lines(root: &Path) -> Result<usize> {
    let mut n = 0;
    for file in rust_files(&root.join("crates/sm-runtime/src")) {
        n += source::non_test_lines(&fs::read_to_string(&file)?);
    }
    Ok(n)
}

/// `cargo xtask tidy`: every check on this workspace.
pub fn run(root: &Path) -> Result<()> {
    let mut all = Vec::new();
    all.extend(check_core_dependencies(root)?);
    all.extend(check_sans_io(root)?);
    all.extend(check_sizes(root, SIZE_ALLOWED)?);
    all.extend(check_crate_docs(root)?);
    all.extend(check_architecture_names(root)?);
    let lines = runtime_lines(root)?;
    eprintln!("tidy: sm-runtime has {lines} non-test lines (budget {RUNTIME_MAX_LINES})");
    if RUNTIME_BUDGET_ON && lines > RUNTIME_MAX_LINES {
        all.push(format!(
            "sm-runtime has {lines} non-test lines (at most {RUNTIME_MAX_LINES})"
        ));
    }
    for v in &all {
        eprintln!("tidy: {v}");
    }
    if !all.is_empty() {
        bail!("{} tidy violations", all.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests;
