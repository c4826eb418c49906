//! A small lexical view of Rust sources for the tidy checks: comments and literals blanked
//! (lines kept), `#[cfg(test)]` items blanked, functions and their lengths, declared items.

/// `src` with comments and the insides of string and character literals replaced by spaces;
/// line breaks are kept, so line numbers stay true.
pub fn strip(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let blank = |out: &mut Vec<u8>, c: u8| out.push(if c == b'\n' { b'\n' } else { b' ' });
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == b'/' && next == Some(b'/') {
            while i < b.len() && b[i] != b'\n' {
                out.push(b' ');
                i += 1;
            }
        } else if c == b'/' && next == Some(b'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    out.extend_from_slice(b"  ");
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    out.extend_from_slice(b"  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, b[i]);
                    i += 1;
                }
            }
        } else if let Some(hashes) = raw_string_start(b, i) {
            // r"…", r#"…"#, br"…": skip to the closing quote and as many hashes.
            let open = b[i..]
                .iter()
                .position(|&x| x == b'"')
                .map_or(b.len(), |p| i + p);
            out.extend(std::iter::repeat_n(b' ', open + 1 - i));
            i = open + 1;
            while i < b.len() {
                if b[i] == b'"'
                    && b[i + 1..]
                        .iter()
                        .take(hashes)
                        .filter(|&&x| x == b'#')
                        .count()
                        == hashes
                {
                    out.extend(std::iter::repeat_n(b' ', 1 + hashes));
                    i += 1 + hashes;
                    break;
                }
                blank(&mut out, b[i]);
                i += 1;
            }
        } else if c == b'"' {
            out.push(b' ');
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    blank(&mut out, b[i]);
                    i += 1;
                }
                if i < b.len() {
                    blank(&mut out, b[i]);
                    i += 1;
                }
            }
            out.push(b' ');
            i += 1;
        } else if c == b'\'' && char_literal_len(b, i).is_some() {
            let n = char_literal_len(b, i).unwrap_or(1);
            out.extend(std::iter::repeat_n(b' ', n));
            i += n;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out.truncate(b.len());
    String::from_utf8(out).unwrap_or_default()
}

/// At a raw string's `r` (or `br`): the number of `#`s.
fn raw_string_start(b: &[u8], i: usize) -> Option<usize> {
    let prev_ident = i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
    if prev_ident && !(b[i - 1] == b'b' && (i < 2 || !b[i - 2].is_ascii_alphanumeric())) {
        return None;
    }
    if b[i] != b'r' {
        return None;
    }
    let hashes = b[i + 1..].iter().take_while(|&&x| x == b'#').count();
    (b.get(i + 1 + hashes) == Some(&b'"')).then_some(hashes)
}

/// The length of a character literal starting at `i` (`'a'`, `'\n'`, `'\u{1F600}'`), or
/// `None` for a lifetime.
fn char_literal_len(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i + 1) == Some(&b'\\') {
        let close = b[i + 2..].iter().position(|&x| x == b'\'')?;
        return Some(close + 3);
    }
    // One UTF-8 character, then the closing quote.
    let s = std::str::from_utf8(&b[i + 1..(i + 6).min(b.len())])
        .ok()
        .or_else(|| {
            (2..6)
                .rev()
                .find_map(|n| std::str::from_utf8(&b[i + 1..(i + n).min(b.len())]).ok())
        })?;
    let ch = s.chars().next()?;
    let n = ch.len_utf8();
    (b.get(i + 1 + n) == Some(&b'\'')).then_some(n + 2)
}

/// Where the item starting at byte `from` of stripped code ends (exclusive): after its
/// matching `}`, or after a `;` met before any `{`.
fn item_end(code: &[u8], from: usize) -> usize {
    let mut depth = 0usize;
    let mut i = from;
    while i < code.len() {
        match code[i] {
            b'{' => depth += 1,
            b'}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            b';' if depth == 0 => return i + 1,
            _ => {}
        }
        i += 1;
    }
    code.len()
}

/// The byte ranges of the `#[cfg(test)]` items (test modules, test-only functions and
/// impls) of stripped code, attribute included.
fn test_items(stripped: &str) -> Vec<std::ops::Range<usize>> {
    let code = stripped.as_bytes();
    let marker = b"#[cfg(test)]";
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(p) = find(code, marker, at) {
        let end = item_end(code, p + marker.len());
        out.push(p..end);
        at = end;
    }
    out
}

/// Stripped code with every `#[cfg(test)]` item blanked, lines kept.
pub fn without_tests(stripped: &str) -> String {
    let mut code = stripped.as_bytes().to_vec();
    for r in test_items(stripped) {
        for c in &mut code[r] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    }
    String::from_utf8(code).unwrap_or_default()
}

/// Lines of a source outside its `#[cfg(test)]` items (comments and blank lines count).
pub fn non_test_lines(src: &str) -> usize {
    let stripped = strip(src);
    let b = stripped.as_bytes();
    let line_of = |p: usize| b[..p].iter().filter(|&&c| c == b'\n').count();
    let in_tests: usize = test_items(&stripped)
        .into_iter()
        .map(|r| line_of(r.end.saturating_sub(1)) - line_of(r.start) + 1)
        .sum();
    src.lines().count() - in_tests
}

/// `std::` followed by every item of every `use std::{…}` group, so that a group naming
/// `fs` shows as `std::fs`.
pub fn expand_std_groups(code: &str) -> String {
    let mut out = String::new();
    for group in code.split("std::{").skip(1) {
        let mut depth = 1;
        let end = group
            .char_indices()
            .find(|&(_, c)| {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .map_or(group.len(), |(i, _)| i);
        for item in group[..end].split([',', '{']) {
            out.push_str(" std::");
            out.push_str(item.trim());
        }
    }
    out
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Positions of `word` as a whole word in `code`.
pub fn words<'a>(code: &'a str, word: &'a str) -> impl Iterator<Item = usize> + 'a {
    let b = code.as_bytes();
    code.match_indices(word).map(|(p, _)| p).filter(move |&p| {
        (p == 0 || !is_ident(b[p - 1])) && b.get(p + word.len()).is_none_or(|&c| !is_ident(c))
    })
}

/// The identifier at byte `p` (after spaces).
fn ident_at(code: &str, p: usize) -> &str {
    let rest = code[p..].trim_start();
    let n = rest.bytes().take_while(|&c| is_ident(c)).count();
    &rest[..n]
}

/// A function: its name, first line (1-based) and length in lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    pub name: String,
    pub line: usize,
    pub lines: usize,
}

/// Every function with a body in stripped code.
pub fn functions(stripped: &str) -> Vec<Function> {
    let b = stripped.as_bytes();
    let line_of = |p: usize| b[..p].iter().filter(|&&c| c == b'\n').count() + 1;
    let mut out = Vec::new();
    for p in words(stripped, "fn") {
        let name = ident_at(stripped, p + 2);
        if name.is_empty() {
            continue; // a `fn(...)` pointer type
        }
        let end = item_end(b, p);
        if b[..end].last() != Some(&b'}') {
            continue; // a declaration without a body
        }
        let (first, last) = (line_of(p), line_of(end - 1));
        out.push(Function {
            name: name.to_owned(),
            line: first,
            lines: last - first + 1,
        });
    }
    out
}

/// Whether stripped code declares an item called `name`: `fn`, `struct`, `enum`, `trait`,
/// `type`, `const`, `static`, `union`, `mod`, `macro_rules!`, or a `use` that brings it in.
pub fn declares(stripped: &str, name: &str) -> bool {
    let keywords = [
        "fn", "struct", "enum", "trait", "type", "const", "static", "union", "mod",
    ];
    for p in words(stripped, name) {
        let before = stripped[..p].trim_end();
        if keywords.iter().any(|k| {
            before.ends_with(k)
                && before[..before.len() - k.len()]
                    .bytes()
                    .last()
                    .is_none_or(|c| !is_ident(c))
        }) || before.ends_with("macro_rules!")
        {
            return true;
        }
    }
    uses(stripped).iter().any(|n| n == name)
}

/// The names `use` declarations bring in (the last segment, or the `as` name).
fn uses(stripped: &str) -> Vec<String> {
    let mut out = Vec::new();
    for p in words(stripped, "use") {
        let end = stripped[p..].find(';').map_or(stripped.len(), |e| p + e);
        let body = &stripped[p + 3..end];
        for part in body.split([',', '{', '}']) {
            let part = part.trim();
            let name = match part.rsplit_once(" as ") {
                Some((_, alias)) => alias.trim(),
                None => part.rsplit("::").next().unwrap_or("").trim(),
            };
            if !name.is_empty() && name != "*" && name != "self" {
                out.push(name.to_owned());
            }
        }
    }
    out
}

/// Crates a module re-exports whole (`pub use some_crate::*;`).
pub fn glob_reexports(stripped: &str) -> Vec<String> {
    let mut out = Vec::new();
    for p in words(stripped, "use") {
        if !stripped[..p].trim_end().ends_with("pub") {
            continue;
        }
        let end = stripped[p..].find(';').map_or(stripped.len(), |e| p + e);
        let body = stripped[p + 3..end].trim();
        if let Some(krate) = body.strip_suffix("::*") {
            if !krate.contains("::") {
                out.push(krate.trim().to_owned());
            }
        }
    }
    out
}

/// Whether stripped code declares `name` as a member of something: a method or associated
/// item (`fn`, `const`, `type`), or an enum variant or struct field (a line starting with it,
/// followed by `(`, `{`, `,`, `:` or the line's end).
pub fn declares_member(stripped: &str, name: &str) -> bool {
    if declares(stripped, name) {
        return true;
    }
    stripped.lines().any(|l| {
        let l = l.trim_start().trim_start_matches("pub ").trim_start();
        l.strip_prefix(name).is_some_and(|rest| {
            let rest = rest.trim_start();
            rest.is_empty() || rest.starts_with(['(', '{', ',', ':'])
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_blanks_comments_and_literals_and_keeps_lines() {
        let src =
            "let a = \"{ // }\"; // x {\n/* { */ let c = '{'; let r = r#\"}\"#; 'a: loop {}\n";
        let s = strip(src);
        assert_eq!(s.lines().count(), src.lines().count());
        assert_eq!(s.matches('{').count(), 1, "{s}");
        assert_eq!(s.matches('}').count(), 1, "{s}");
        assert!(s.contains("'a: loop"), "lifetimes and labels stay: {s}");
    }

    #[test]
    fn functions_are_measured_and_test_items_removed() {
        let src = "fn a() {\n    let x = 1;\n}\n#[cfg(test)]\nmod tests {\n    fn b() {}\n}\ntrait T { fn c(&self); }\n";
        let s = strip(src);
        let f = functions(&s);
        assert_eq!(
            f[0],
            Function {
                name: "a".into(),
                line: 1,
                lines: 3
            }
        );
        assert_eq!(f.len(), 2, "c has no body: {f:?}");
        let f = functions(&without_tests(&s));
        assert_eq!(f.len(), 1);
    }

    #[test]
    fn test_lines_and_std_groups() {
        let src = "fn a() {}\n// note\n#[cfg(test)]\nmod tests {\n    // inside\n}\n";
        assert_eq!(non_test_lines(src), 2);
        let g = expand_std_groups("use std::{fs::File, io::{self, Read}};");
        assert!(g.contains("std::fs::File") && g.contains("std::io"), "{g}");
    }

    #[test]
    fn declarations_and_reexports() {
        let s = strip("pub struct A;\npub use crate::x::{B, C as D};\npub use sm_store::*;\nenum E {\n    V(u8),\n    W { x: u8 },\n}\nimpl A { pub fn m(&self) {} }\n");
        assert!(declares(&s, "A") && declares(&s, "B") && declares(&s, "D"));
        assert!(!declares(&s, "C") && !declares(&s, "Z"));
        assert!(declares_member(&s, "m") && declares_member(&s, "V") && declares_member(&s, "W"));
        assert_eq!(glob_reexports(&s), vec!["sm_store".to_owned()]);
    }
}
