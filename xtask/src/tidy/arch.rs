//! ARCHITECTURE.md's names against the code.
//!
//! The rule: every inline code span of ARCHITECTURE.md (single backticks, outside fenced
//! blocks) that is a Rust path, `a::b` or longer (segments of letters, digits, `_`, the first
//! also `-`; an optional trailing `()`), and that starts with a name of this workspace, exists:
//!
//! * a crate (`sm-log::StreamLog`, `sm_wire::negotiate`): the rest resolves from its root;
//! * a top-level module of a crate (`handlers::append_batch`): the rest resolves from that
//!   module, in some crate that has it;
//! * a type declared in a crate (`StreamLog::plan_run`): each further segment is declared in
//!   that crate as a member (method, associated item, variant or field).
//!
//! Resolving from a module: each segment is a submodule (`x.rs`, `x/mod.rs`, or inline
//! `mod x`) or an item declared in the module (any item keyword, or brought in by a `use`),
//! following `pub use other_crate::*` re-exports; after a type, the segments are members.
//! Spans that start with anything else (`std::fs`, `tokio::task::block_in_place`) are not
//! about this workspace and are not checked.

use std::fs;
use std::path::{Path, PathBuf};

use super::source::{declares, declares_member, glob_reexports, strip};
use super::Crate;

/// The inline code spans of a Markdown text, outside fenced blocks, with their line.
fn code_spans(md: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut fenced = false;
    for (n, line) in md.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut parts = line.split('`');
        parts.next();
        while let (Some(span), Some(_)) = (parts.next(), parts.next()) {
            out.push((n + 1, span.to_owned()));
        }
    }
    out
}

/// The segments of a span that is a Rust path of two segments or more.
fn path_segments(span: &str) -> Option<Vec<&str>> {
    let span = span.strip_suffix("()").unwrap_or(span);
    let segs: Vec<&str> = span.split("::").collect();
    let ok = segs.len() >= 2
        && segs.iter().enumerate().all(|(i, s)| {
            !s.is_empty()
                && s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || (i == 0 && c == '-'))
        });
    ok.then_some(segs)
}

/// The source file of module `name` under the module whose file is `parent`, if it has one
/// of its own.
fn submodule_file(parent: &Path, name: &str) -> Option<PathBuf> {
    let stem = parent.file_stem()?.to_str()?;
    let dir = match stem {
        "lib" | "main" | "mod" => parent.parent()?.to_owned(),
        _ => parent.parent()?.join(stem),
    };
    [
        dir.join(format!("{name}.rs")),
        dir.join(name).join("mod.rs"),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

struct Resolver<'a> {
    crates: &'a [Crate],
    /// Every source of the workspace, stripped, joined: where members are looked up.
    all: String,
}

impl Resolver<'_> {
    fn krate(&self, name: &str) -> Option<&Crate> {
        let norm = name.replace('-', "_");
        self.crates
            .iter()
            .find(|c| c.name.replace('-', "_") == norm)
    }

    fn code(path: &Path) -> String {
        strip(&fs::read_to_string(path).unwrap_or_default())
    }

    /// Every source of a crate, stripped, joined.
    pub(super) fn all_code(c: &Crate) -> String {
        super::rust_files(&c.dir.join("src"))
            .iter()
            .map(|p| Self::code(p))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Whether `rest` resolves from the module whose file is `file`.
    fn resolves(&self, file: &Path, rest: &[&str], depth: usize) -> bool {
        let Some((first, more)) = rest.split_first() else {
            return true;
        };
        if depth > 8 {
            return false;
        }
        if let Some(sub) = submodule_file(file, first) {
            return self.resolves(&sub, more, depth + 1);
        }
        let code = Self::code(file);
        if declares(&code, first) {
            // An item (or an inline module): what follows is a member of it.
            return more.iter().all(|m| declares_member(&self.all, m));
        }
        glob_reexports(&code).iter().any(|g| {
            self.krate(g)
                .is_some_and(|other| self.resolves(&other.root_file(), rest, depth + 1))
        })
    }

    /// Whether the path names something of this workspace that does not exist (`Some(false)`),
    /// exists (`Some(true)`), or is not about this workspace (`None`).
    fn check(&self, segs: &[&str]) -> Option<bool> {
        if let Some(c) = self.krate(segs[0]) {
            return Some(self.resolves(&c.root_file(), &segs[1..], 0));
        }
        let with_module: Vec<&Crate> = self
            .crates
            .iter()
            .filter(|c| submodule_file(&c.root_file(), segs[0]).is_some())
            .collect();
        if !with_module.is_empty() {
            return Some(with_module.iter().any(|c| {
                let file = submodule_file(&c.root_file(), segs[0]).unwrap_or_default();
                self.resolves(&file, &segs[1..], 0)
            }));
        }
        if segs[0].starts_with(|ch: char| ch.is_ascii_uppercase()) {
            let declaring: Vec<(&Crate, String)> = self
                .crates
                .iter()
                .map(|c| (c, Self::all_code(c)))
                .filter(|(_, code)| {
                    ["struct", "enum", "trait", "type"]
                        .iter()
                        .any(|k| code.contains(&format!("{k} {}", segs[0])))
                })
                .collect();
            if !declaring.is_empty() {
                return Some(
                    declaring
                        .iter()
                        .any(|(_, code)| segs[1..].iter().all(|m| declares_member(code, m))),
                );
            }
        }
        None
    }
}

/// Every path span of `md` that names something of the workspace that does not exist.
pub fn missing_names(md: &str, crates: &[Crate]) -> Vec<String> {
    let all = crates
        .iter()
        .map(Resolver::all_code)
        .collect::<Vec<_>>()
        .join("\n");
    let r = Resolver { crates, all };
    code_spans(md)
        .into_iter()
        .filter_map(|(line, span)| {
            let segs = path_segments(&span)?;
            (r.check(&segs) == Some(false))
                .then(|| format!("ARCHITECTURE.md:{line}: `{span}` does not exist in the code"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_and_paths() {
        let md = "a `x::y` b `z`\n```\n`in::fence`\n```\n`sm-log::StreamLog` and `f()` `a::b()`";
        let spans: Vec<String> = code_spans(md).into_iter().map(|(_, s)| s).collect();
        assert_eq!(spans, ["x::y", "z", "sm-log::StreamLog", "f()", "a::b()"]);
        assert_eq!(path_segments("a::b()"), Some(vec!["a", "b"]));
        assert_eq!(
            path_segments("sm-log::StreamLog"),
            Some(vec!["sm-log", "StreamLog"])
        );
        assert_eq!(path_segments("z"), None);
        assert_eq!(path_segments("Outcome::Retry(String, bool)"), None);
        assert_eq!(path_segments("a::b-c"), None);
    }
}
