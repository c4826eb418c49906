//! Reading declared definitions: YAML (JSON is read as the YAML it also is), the unknown-key
//! check, validation, and errors that name the file, line and field.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::Spanned;
use sm_model::{validate, MessageStreamDefinition};

use crate::DeclareError;

/// One stream of a streams file.
#[derive(Debug, Clone, PartialEq)]
pub struct Declared {
    /// The definition, validated.
    pub definition: MessageStreamDefinition,
    /// The line where it starts (1-based).
    pub line: u64,
}

/// A parsed, validated streams file.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamsFile {
    /// The file as the caller named it (for errors).
    pub file: String,
    /// The streams, in file order; names are unique.
    pub streams: Vec<Declared>,
    /// Delete every stream the file does not list.
    pub prune: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    streams: Option<Vec<Spanned<MessageStreamDefinition>>>,
    #[serde(default)]
    prune: Option<bool>,
}

#[derive(Deserialize)]
struct RawDescribe {
    definition: MessageStreamDefinition,
}

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    fn err(
        &self,
        line: Option<u64>,
        field: Option<String>,
        message: impl Into<String>,
    ) -> DeclareError {
        DeclareError {
            file: self.file.to_owned(),
            line,
            field,
            message: message.into(),
        }
    }

    fn syntax(&self, e: &serde_saphyr::Error) -> DeclareError {
        let line = e.location().map(|l| l.line()).filter(|l| *l > 0);
        // The library's message may carry a rendered snippet: keep its first line only.
        let text = e.to_string();
        let mut first = text.lines().next().unwrap_or("invalid YAML").trim();
        first = first.strip_prefix("error: ").unwrap_or(first);
        if first.starts_with("line ") {
            if let Some((_, rest)) = first.split_once(": ") {
                first = rest;
            }
        }
        let field = line.and_then(|l| self.key_at(l));
        self.err(line, field, first.to_owned())
    }

    /// The key written on line `n` (`  - maxSize: 5` gives `maxSize`), if any.
    fn key_at(&self, n: u64) -> Option<String> {
        let l = self
            .text
            .lines()
            .nth(usize::try_from(n).ok()?.checked_sub(1)?)?;
        let t = l.trim_start().trim_start_matches(['-', ' ', '{']);
        let (k, _) = t.split_once(':')?;
        let k = k.trim().trim_matches(['"', '\'']);
        (!k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .then(|| k.to_owned())
    }

    /// The line of `key:` at or after `from` and before `until` (1-based; `until` 0 = the
    /// end), else `from`.
    fn key_line(&self, key: &str, from: u64, until: u64) -> u64 {
        let start = from.saturating_sub(1) as usize;
        for (i, l) in self.text.lines().enumerate().skip(start) {
            let n = i as u64 + 1;
            if until > 0 && n >= until {
                break;
            }
            let t = l.trim_start().trim_start_matches(['-', ' ', '{', ',']);
            for quoted in [
                format!("{key}:"),
                format!("\"{key}\":"),
                format!("'{key}':"),
            ] {
                if t.starts_with(&quoted)
                    || t.contains(&format!(", {quoted}"))
                    || t.contains(&format!(",{quoted}"))
                {
                    return n;
                }
            }
        }
        from
    }
}

/// The first key of `raw` (a value as written) that the typed value does not hold: a key
/// the model does not know. Keys whose value is `null` are taken as absent.
fn unknown_key(raw: &Value, typed: &Value, path: &str) -> Option<(String, String)> {
    match (raw, typed) {
        (Value::Object(r), Value::Object(t)) => {
            for (k, v) in r {
                if v.is_null() {
                    continue;
                }
                let here = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match t.get(k) {
                    None => return Some((here, k.clone())),
                    Some(tv) => {
                        if let Some(found) = unknown_key(v, tv, &here) {
                            return Some(found);
                        }
                    }
                }
            }
            None
        }
        (Value::Array(r), Value::Array(t)) => r
            .iter()
            .zip(t)
            .enumerate()
            .find_map(|(i, (rv, tv))| unknown_key(rv, tv, &format!("{path}[{i}]"))),
        _ => None,
    }
}

/// Checks one definition (read from `raw`, starting at `line`, its block ending before
/// `until`): no unknown keys, and the SDK's limits.
fn check(
    ctx: &Ctx<'_>,
    def: &MessageStreamDefinition,
    raw: &Value,
    path: &str,
    line: u64,
    until: u64,
) -> Result<(), DeclareError> {
    let typed = serde_json::to_value(def).map_err(|e| ctx.err(Some(line), None, e.to_string()))?;
    if let Some((field, key)) = unknown_key(raw, &typed, path) {
        return Err(ctx.err(
            Some(ctx.key_line(&key, line, until)),
            Some(field),
            "unknown key (keys are the camelCase wire names `smctl describe --json` prints)",
        ));
    }
    validate::definition(def).map_err(|e| {
        // Validation messages start with the wire path they are about
        // (`definition.exportDefinition.http[0].uri must …`).
        let message = e
            .message()
            .strip_prefix("definition.")
            .unwrap_or(e.message());
        let token: String = message
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '[' | ']'))
            .collect();
        let key = token
            .rsplit('.')
            .next()
            .unwrap_or("")
            .split('[')
            .next()
            .unwrap_or("");
        let at = if key.is_empty() {
            line
        } else {
            ctx.key_line(key, line, until)
        };
        let name = if def.name.is_empty() {
            path.to_owned()
        } else {
            format!("{path} ({:?})", def.name)
        };
        ctx.err(Some(at), Some(name), message)
    })
}

/// Parses and validates a streams file: `streams:` (a list of definitions) and `prune:`.
pub fn parse_streams_file(file: &str, text: &str) -> Result<StreamsFile, DeclareError> {
    let ctx = Ctx { file, text };
    let raw: RawFile = serde_saphyr::from_str(text).map_err(|e| ctx.syntax(&e))?;
    let generic: Value = serde_saphyr::from_str(text).map_err(|e| ctx.syntax(&e))?;
    let prune = raw.prune.unwrap_or(false);
    let list = raw.streams.unwrap_or_default();
    let raws = generic
        .get("streams")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if list.is_empty() && prune {
        return Err(ctx.err(
            Some(ctx.key_line("prune", 1, 0)),
            Some("prune".into()),
            "prune: true with no streams would delete every stream; refused (delete streams with `smctl delete`)",
        ));
    }
    let lines: Vec<u64> = list.iter().map(|s| s.referenced.line()).collect();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut streams = Vec::with_capacity(list.len());
    for (i, s) in list.into_iter().enumerate() {
        let line = lines[i];
        let until = lines.get(i + 1).copied().unwrap_or(0);
        let path = format!("streams[{i}]");
        let raw_def = raws.get(i).cloned().unwrap_or(Value::Null);
        check(&ctx, &s.value, &raw_def, &path, line, until)?;
        if let Some(first) = seen.insert(s.value.name.clone(), line) {
            return Err(ctx.err(
                Some(line),
                Some(format!("{path}.name")),
                format!(
                    "stream {:?} is declared twice (first at line {first})",
                    s.value.name
                ),
            ));
        }
        streams.push(Declared {
            definition: s.value,
            line,
        });
    }
    Ok(StreamsFile {
        file: file.to_owned(),
        streams,
        prune,
    })
}

/// Parses and validates one definition (JSON or YAML). A whole describe answer (an object
/// with `definition` and `storageStatus`) is taken too: its `definition` is used.
pub fn parse_definition(file: &str, text: &str) -> Result<MessageStreamDefinition, DeclareError> {
    let ctx = Ctx { file, text };
    let generic: Value = serde_saphyr::from_str(text).map_err(|e| ctx.syntax(&e))?;
    if !generic.is_object() {
        return Err(ctx.err(
            Some(1),
            None,
            "expected a stream definition (a mapping with name, strategyOnFull, …)",
        ));
    }
    let (def, raw, path) = match (generic.get("definition"), generic.get("storageStatus")) {
        (Some(d), Some(_)) if d.is_object() => {
            let w: RawDescribe = serde_saphyr::from_str(text).map_err(|e| ctx.syntax(&e))?;
            (w.definition, d.clone(), "definition")
        }
        _ => {
            let d: MessageStreamDefinition =
                serde_saphyr::from_str(text).map_err(|e| ctx.syntax(&e))?;
            (d, generic, "")
        }
    };
    let path = path.to_owned();
    check(&ctx, &def, &raw, &path, 1, 0).map_err(|mut e| {
        if e.field.as_deref() == Some("") {
            e.field = None;
        }
        e
    })?;
    Ok(def)
}

#[cfg(test)]
mod tests;
