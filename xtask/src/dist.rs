//! `cargo xtask dist`: the release artifacts of one target.
//!
//! Builds `stream-manager` and `smctl` with the `dist` profile (Cargo.toml: stripped, fat LTO,
//! one codegen unit; the C library linked statically on `*-linux-gnu`, see [`build`]) and lays
//! out, under `target/artifacts/` (or `--out DIR`):
//!
//! ```text
//! stream-manager-<version>-<triple>.tar.gz   stream-manager, smctl, stream-manager.service, README.md
//! greengrass/recipes/aws.greengrass.StreamManager-<version>.yaml
//! greengrass/artifacts/aws.greengrass.StreamManager/<version>/stream-manager
//! SHA256SUMS                                  the tarball and the component's artifact
//! ```
//!
//! The recipe is `packaging/greengrass/recipe.yaml` with its manifests replaced by the one of
//! the target's architecture, whose artifact carries the binary's `Digest` (base64 SHA-256,
//! `Algorithm: SHA-256`) and its size in a comment; the `greengrass` folder is what
//! `greengrass-cli deployment create --recipeDir greengrass/recipes --artifactDir
//! greengrass/artifacts --merge aws.greengrass.StreamManager=<version>` takes.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::{cargo, root, run};

/// The component's name.
pub const COMPONENT: &str = "aws.greengrass.StreamManager";

/// What `package` wrote.
#[derive(Debug)]
pub struct Layout {
    /// The tarball.
    pub tarball: PathBuf,
    /// The component's recipe.
    pub recipe: PathBuf,
    /// The component's artifact (the daemon).
    pub artifact: PathBuf,
    /// The component version (from the recipe).
    pub version: String,
}

fn value_after<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

/// The host's target triple (`rustc -vV`).
pub fn host_triple() -> Result<String> {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .context("running rustc -vV")?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .context("no host line in rustc -vV")
}

/// `cargo xtask dist [--target TRIPLE] [--profile P] [--out DIR]`.
pub fn dist(args: &[String]) -> Result<()> {
    let profile = value_after(args, "--profile").unwrap_or("dist");
    let triple = match value_after(args, "--target") {
        Some(t) => t.to_owned(),
        None => host_triple()?,
    };
    let out = value_after(args, "--out")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/artifacts"));
    let bin_dir = build(profile, &triple, &["stream-manager", "sm-cli"])?;
    let layout = package(&bin_dir, &triple, &out)?;
    for p in [&layout.tarball, &layout.artifact] {
        let size = std::fs::metadata(p)?.len();
        eprintln!("xtask: {} ({size} bytes)", p.display());
    }
    eprintln!("xtask: {}", layout.recipe.display());
    eprintln!(
        "xtask: local deployment: sudo greengrass-cli deployment create --recipeDir {} --artifactDir {} --merge {COMPONENT}={}",
        out.join("greengrass/recipes").display(),
        out.join("greengrass/artifacts").display(),
        layout.version
    );
    Ok(())
}

/// Builds `packages` (`stream-manager`, `sm-cli`) with `profile` for `triple` (always as `--target`, so
/// that the flags below reach the binaries and not the build scripts or proc-macros); returns
/// the folder of the binaries. On `*-linux-gnu*` the C library is linked statically
/// (`+crt-static`): the binaries then run on any Linux of their architecture, and an idle
/// daemon does not map the shared `libc`, `libm`, `libgcc_s` and loader, whose pages the kernel
/// counts in its resident set (2.4 MiB of an idle daemon's 8.2 MiB; BENCHMARKS.md, W4). Name lookups still
/// read `/etc/nsswitch.conf`, `/etc/hosts` and `/etc/resolv.conf` (glibc's `files` and `dns`
/// sources are built in); other NSS sources load only if the device's glibc matches the one
/// linked.
pub fn build(profile: &str, triple: &str, packages: &[&str]) -> Result<PathBuf> {
    let mut build = cargo();
    build.args(["build", "--profile", profile, "--target", triple]);
    for p in packages {
        build.args(["-p", p]);
    }
    let static_libc = triple.contains("-linux-gnu");
    if static_libc {
        let mut flags = std::env::var("RUSTFLAGS").unwrap_or_default();
        flags.push_str(" -C target-feature=+crt-static");
        build.env("RUSTFLAGS", flags.trim());
    }
    run(&mut build)?;
    let dir_name = if profile == "dev" { "debug" } else { profile };
    let dir = root().join("target").join(triple).join(dir_name);
    if static_libc && packages.contains(&"stream-manager") {
        let daemon = dir.join("stream-manager");
        if has_interpreter(&std::fs::read(&daemon)?)? {
            bail!(
                "{} is linked dynamically: +crt-static was not applied",
                daemon.display()
            );
        }
    }
    Ok(dir)
}

/// Whether a 64-bit little-endian ELF file names a program interpreter (`PT_INTERP`, the
/// dynamic loader): a statically linked binary, even a static PIE, has none.
pub fn has_interpreter(elf: &[u8]) -> Result<bool> {
    let u16_at = |o: usize| elf.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u64_at = |o: usize| {
        elf.get(o..o + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
    };
    if elf.get(..6) != Some(b"\x7fELF\x02\x01".as_slice()) {
        bail!("not a 64-bit little-endian ELF file");
    }
    let (phoff, phentsize, phnum) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    let (Some(phoff), Some(size), Some(n)) = (phoff, phentsize, phnum) else {
        bail!("truncated ELF header");
    };
    for i in 0..usize::from(n) {
        let at = usize::try_from(phoff)
            .ok()
            .and_then(|p| p.checked_add(i * usize::from(size)));
        let kind = at
            .and_then(|at| elf.get(at..at.checked_add(4)?))
            .context("truncated program header")?;
        if kind == 3u32.to_le_bytes() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The Greengrass platform architecture of a target triple.
pub fn architecture(triple: &str) -> Result<&'static str> {
    Ok(match triple.split('-').next().unwrap_or("") {
        "x86_64" => "amd64",
        "aarch64" => "aarch64",
        a if a.starts_with("armv7") => "arm",
        other => bail!("no Greengrass architecture for {other:?} ({triple})"),
    })
}

fn sha256(path: &Path) -> Result<[u8; 32]> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Sha256::digest(&bytes).into())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The recipe for one target: `packaging/greengrass/recipe.yaml` with its `Manifests:` block
/// replaced by the target's platform and this artifact.
pub fn recipe_for(template: &str, arch: &str, digest: &[u8; 32], size: u64) -> Result<String> {
    let start = template
        .find("\nManifests:\n")
        .context("the recipe has no Manifests block")?;
    let end = template[start + 1..]
        .find("\nLifecycle:\n")
        .map(|i| i + start + 1)
        .context("the recipe has no Lifecycle block after Manifests")?;
    let version = component_version(template)?;
    let manifest = format!(
        "\nManifests:\n  - Platform:\n      os: linux\n      architecture: {arch}\n    Selections:\n      - linux\n    Artifacts:\n      # Built by `cargo xtask dist`: {size} bytes.\n      - URI: \"s3://YOUR_BUCKET/{COMPONENT}/{version}/stream-manager\"\n        Digest: \"{}\"\n        Algorithm: SHA-256\n        Permission:\n          Execute: OWNER",
        base64::engine::general_purpose::STANDARD.encode(digest)
    );
    Ok(format!(
        "{}{manifest}{}",
        &template[..start],
        &template[end..]
    ))
}

/// `ComponentVersion` of a recipe.
pub fn component_version(recipe: &str) -> Result<String> {
    recipe
        .lines()
        .find_map(|l| l.strip_prefix("ComponentVersion:"))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .context("the recipe has no ComponentVersion")
}

/// Lays out the artifacts of the binaries in `bin_dir` (built for `triple`) under `out`.
pub fn package(bin_dir: &Path, triple: &str, out: &Path) -> Result<Layout> {
    let daemon = bin_dir.join("stream-manager");
    let smctl = bin_dir.join("smctl");
    for b in [&daemon, &smctl] {
        if !b.exists() {
            bail!("{} does not exist: build it first", b.display());
        }
    }
    let template = std::fs::read_to_string(root().join("packaging/greengrass/recipe.yaml"))?;
    let version = component_version(&template)?;
    let _ = std::fs::remove_dir_all(out);
    let gg = out.join("greengrass");
    let artifact_dir = gg.join("artifacts").join(COMPONENT).join(&version);
    let recipe_dir = gg.join("recipes");
    std::fs::create_dir_all(&artifact_dir)?;
    std::fs::create_dir_all(&recipe_dir)?;
    let artifact = artifact_dir.join("stream-manager");
    std::fs::copy(&daemon, &artifact)?;
    let digest = sha256(&artifact)?;
    let size = std::fs::metadata(&artifact)?.len();
    let recipe = recipe_dir.join(format!("{COMPONENT}-{version}.yaml"));
    std::fs::write(
        &recipe,
        recipe_for(&template, architecture(triple)?, &digest, size)?,
    )?;

    // The tarball: one top folder holding the binaries, the unit and the README.
    let name = format!("stream-manager-{}-{triple}", env!("CARGO_PKG_VERSION"));
    let stage = out.join(&name);
    std::fs::create_dir_all(&stage)?;
    std::fs::copy(&daemon, stage.join("stream-manager"))?;
    std::fs::copy(&smctl, stage.join("smctl"))?;
    std::fs::copy(
        root().join("packaging/systemd/stream-manager.service"),
        stage.join("stream-manager.service"),
    )?;
    std::fs::copy(root().join("README.md"), stage.join("README.md"))?;
    let tarball = out.join(format!("{name}.tar.gz"));
    run(Command::new("tar")
        .arg("-czf")
        .arg(&tarball)
        .arg("-C")
        .arg(out)
        .args(["--owner=0", "--group=0", "--numeric-owner"])
        .arg(&name))?;
    std::fs::remove_dir_all(&stage)?;
    let sums = format!(
        "{}  {name}.tar.gz\n{}  greengrass/artifacts/{COMPONENT}/{version}/stream-manager\n",
        hex(&sha256(&tarball)?),
        hex(&digest)
    );
    std::fs::write(out.join("SHA256SUMS"), sums)?;
    Ok(Layout {
        tarball,
        recipe,
        artifact,
        version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dynamic_binary_names_its_loader_and_garbage_is_refused() {
        // The test binary itself is linked dynamically (no +crt-static outside dist).
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert!(has_interpreter(&me).unwrap());
        // The same header with every program header's type cleared: no loader named.
        let mut cleared = me.clone();
        let phoff = u64::from_le_bytes(me[0x20..0x28].try_into().unwrap()) as usize;
        let (size, n) = (
            u16::from_le_bytes([me[0x36], me[0x37]]) as usize,
            u16::from_le_bytes([me[0x38], me[0x39]]) as usize,
        );
        for i in 0..n {
            cleared[phoff + i * size..phoff + i * size + 4].copy_from_slice(&[0; 4]);
        }
        assert!(!has_interpreter(&cleared).unwrap());
        // Program headers said to lie past the end of memory: refused, not a panic.
        cleared[0x20..0x28].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(has_interpreter(&cleared).is_err());
        assert!(has_interpreter(b"#!/bin/sh\n").is_err());
        assert!(has_interpreter(&me[..0x30]).is_err());
    }

    /// The layout from the release binaries (`cargo build --release -p stream-manager -p
    /// sm-cli`, as `cargo xtask ci` builds them): the recipe's digest is the artifact's, the
    /// tarball holds what it should and its daemon runs.
    #[test]
    fn dist_layout_of_the_release_binaries() {
        let bin = root().join("target/release");
        assert!(
            bin.join("smctl").exists() && bin.join("stream-manager").exists(),
            "build first: cargo build --release -p stream-manager -p sm-cli"
        );
        let out = tempfile::tempdir().unwrap();
        let triple = host_triple().unwrap();
        let l = package(&bin, &triple, out.path()).unwrap();

        let recipe = std::fs::read_to_string(&l.recipe).unwrap();
        let digest = recipe
            .lines()
            .find_map(|l| l.trim().strip_prefix("Digest: "))
            .unwrap()
            .trim_matches('"');
        let bytes = std::fs::read(&l.artifact).unwrap();
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(digest)
                .unwrap(),
            Sha256::digest(&bytes).to_vec()
        );
        assert_eq!(bytes, std::fs::read(bin.join("stream-manager")).unwrap());
        assert!(recipe.contains(&format!(
            "# Built by `cargo xtask dist`: {} bytes.",
            bytes.len()
        )));
        assert_eq!(recipe.matches("- Platform:").count(), 1, "{recipe}");
        assert!(recipe.contains(&format!("architecture: {}", architecture(&triple).unwrap())));
        assert!(
            recipe.contains("\nLifecycle:\n")
                && recipe.contains("ComponentName: aws.greengrass.StreamManager")
        );
        // greengrass-cli's layout: <artifactDir>/<component>/<version>/<URI's file name>.
        assert!(l.artifact.ends_with(format!(
            "greengrass/artifacts/{COMPONENT}/{}/stream-manager",
            l.version
        )));
        assert!(recipe.contains(&format!("/{COMPONENT}/{}/stream-manager\"", l.version)));

        let listing = Command::new("tar")
            .arg("-tzvf")
            .arg(&l.tarball)
            .output()
            .unwrap();
        let listing = String::from_utf8(listing.stdout).unwrap();
        let top = format!("stream-manager-{}-{triple}", env!("CARGO_PKG_VERSION"));
        let mut names: Vec<&str> = listing
            .lines()
            .filter_map(|l| l.split_whitespace().last())
            .collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                format!("{top}/"),
                format!("{top}/README.md"),
                format!("{top}/smctl"),
                format!("{top}/stream-manager"),
                format!("{top}/stream-manager.service"),
            ]
        );
        for exe in ["smctl", "stream-manager"] {
            let line = listing
                .lines()
                .find(|l| l.ends_with(&format!("/{exe}")))
                .unwrap();
            assert!(line.starts_with("-rwx"), "{line}");
        }
        // Unpacked, the daemon runs.
        let unpack = tempfile::tempdir().unwrap();
        assert!(Command::new("tar")
            .arg("-xzf")
            .arg(&l.tarball)
            .arg("-C")
            .arg(unpack.path())
            .status()
            .unwrap()
            .success());
        let v = Command::new(unpack.path().join(&top).join("stream-manager"))
            .arg("--version")
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&v.stdout).starts_with("stream-manager "));

        let sums = std::fs::read_to_string(out.path().join("SHA256SUMS")).unwrap();
        assert!(
            sums.contains(&format!(
                "{}  greengrass/",
                hex(Sha256::digest(&bytes).as_slice())
            )),
            "{sums}"
        );
    }
}
