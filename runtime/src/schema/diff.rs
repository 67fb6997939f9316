//! Comparing two `.proto` files this crate rendered: a line diff for people, and the changes
//! that break the wire for peers built from the older file.

use std::collections::BTreeMap;

/// A unified-style diff: `-` lines only in `old`, `+` lines only in `new`, with a little
/// context around each change.
pub(crate) fn line_diff(old: &str, new: &str) -> String {
    let old: Vec<&str> = old.lines().collect();
    let new: Vec<&str> = new.lines().collect();
    // Longest common subsequence, by dynamic programming: the files are small.
    let mut lcs = vec![vec![0u32; new.len() + 1]; old.len() + 1];
    for i in (0..old.len()).rev() {
        for j in (0..new.len()).rev() {
            lcs[i][j] = if old[i] == new[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut lines = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        if i < old.len() && j < new.len() && old[i] == new[j] {
            lines.push((' ', old[i]));
            i += 1;
            j += 1;
        } else if j < new.len() && (i == old.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            lines.push(('+', new[j]));
            j += 1;
        } else {
            lines.push(('-', old[i]));
            i += 1;
        }
    }
    const CONTEXT: usize = 2;
    let near_change = |at: usize| {
        let from = at.saturating_sub(CONTEXT);
        let to = (at + CONTEXT + 1).min(lines.len());
        lines[from..to].iter().any(|(mark, _)| *mark != ' ')
    };
    let mut out = String::new();
    let mut skipped = false;
    for (at, (mark, line)) in lines.iter().enumerate() {
        if near_change(at) {
            if skipped {
                out.push_str("  ...\n");
                skipped = false;
            }
            out.push_str(&format!("{mark} {line}\n"));
        } else {
            skipped = true;
        }
    }
    out
}

/// A field as a rendered file declares it.
#[derive(PartialEq)]
struct DeclaredField {
    declared_type: String,
    number: u32,
    /// Its name in proto3 JSON (its `json_name`, else the lowerCamelCase of its name).
    json_name: String,
}

/// A message's reserved numbers (inclusive ranges) and names.
#[derive(Clone, Default)]
struct Reserved {
    numbers: Vec<(u32, u32)>,
    names: Vec<String>,
}

/// What a rendered file declares that peers depend on.
#[derive(Default)]
struct Declarations {
    /// (message or enum, field or value name) -> type and number.
    fields: BTreeMap<(String, String), DeclaredField>,
    reserved: BTreeMap<String, Reserved>,
    /// (service, method) -> signature.
    methods: BTreeMap<(String, String), String>,
}

fn parse(text: &str) -> Declarations {
    let mut declared = Declarations::default();
    // One entry per open brace: the name of a message, enum or service (nested ones included),
    // or None for a block that is no scope (a oneof, a method's options).
    let mut open: Vec<Option<&str>> = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with("//") || line.is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if line.starts_with('}') {
            open.pop();
            continue;
        }
        if line.ends_with('{') {
            let name = match words.as_slice() {
                ["message" | "enum" | "service", name, ..] => Some(*name),
                _ => None,
            };
            open.push(name);
        }
        let names: Vec<&str> = open.iter().flatten().copied().collect();
        let scope = (!names.is_empty()).then(|| names.join("."));
        match words.as_slice() {
            ["message" | "enum" | "service", ..] | ["oneof", ..] => {}
            ["rpc", ..] => {
                if let (Some(service), Some((name, _))) =
                    (&scope, line["rpc".len()..].trim_start().split_once('('))
                {
                    let signature = line.trim_end_matches(['{', ';', ' ']).to_owned();
                    declared
                        .methods
                        .insert((service.clone(), name.trim().to_owned()), signature);
                }
            }
            ["reserved", ..] => {
                let Some(message) = &scope else { continue };
                let entry = declared.reserved.entry(message.clone()).or_default();
                for item in line["reserved".len()..].trim_end_matches(';').split(',') {
                    let item = item.trim();
                    if let Some(name) = item.strip_prefix('"') {
                        entry.names.push(name.trim_end_matches('"').to_owned());
                    } else if let Some((start, end)) = item.split_once(" to ") {
                        let end = if end == "max" {
                            u32::MAX
                        } else {
                            end.parse().unwrap_or(0)
                        };
                        entry.numbers.push((start.parse().unwrap_or(0), end));
                    } else if let Ok(number) = item.parse() {
                        entry.numbers.push((number, number));
                    }
                }
            }
            _ => {
                // `[label] type name = number;` in a message, `NAME = number;` in an enum.
                let Some(message) = &scope else { continue };
                // Options after the number: `[json_name = "..."]` is the one rendered.
                let line = line.trim_end_matches(';');
                let (line, options) = match line.split_once(" [") {
                    Some((line, options)) => (line, Some(options.trim_end_matches(']'))),
                    None => (line, None),
                };
                let Some((left, number)) = line.split_once(" = ") else {
                    continue;
                };
                let Ok(number) = number.trim().parse() else {
                    continue;
                };
                let (declared_type, name) = match left.rsplit_once(' ') {
                    Some((declared_type, name)) => (declared_type.to_owned(), name.to_owned()),
                    None => ("enum value".to_owned(), left.to_owned()),
                };
                let json_name = options
                    .and_then(|options| options.strip_prefix("json_name = "))
                    .map(|quoted| quoted.trim_matches('"').to_owned())
                    .unwrap_or_else(|| crate::json::json_name(&name));
                declared.fields.insert(
                    (message.clone(), name),
                    DeclaredField {
                        declared_type,
                        number,
                        json_name,
                    },
                );
            }
        }
    }
    declared
}

/// The changes from `old` to `new` that make peers built from `old` misread or fail calls.
pub(crate) fn breaking_changes(old: &str, new: &str) -> Vec<String> {
    let (old, new) = (parse(old), parse(new));
    let mut changes = Vec::new();
    for ((scope, name), before) in &old.fields {
        let key = (scope.clone(), name.clone());
        match new.fields.get(&key) {
            Some(after) if after.number != before.number => changes.push(format!(
                "{scope}.{name} renumbered from {} to {}",
                before.number, after.number
            )),
            Some(after) if after.declared_type != before.declared_type => changes.push(format!(
                "{scope}.{name} retyped from `{}` to `{}`",
                before.declared_type, after.declared_type
            )),
            Some(after) if after.json_name != before.json_name => changes.push(format!(
                "{scope}.{name} renamed in JSON from `{}` to `{}`",
                before.json_name, after.json_name
            )),
            Some(_) => {}
            None => {
                let still_declared = new.fields.keys().any(|(other, _)| other == scope);
                let reserved = new.reserved.get(scope).cloned().unwrap_or_default();
                let reserved = reserved
                    .numbers
                    .iter()
                    .any(|(start, end)| (*start..=*end).contains(&before.number))
                    || reserved.names.contains(name);
                if still_declared && !reserved {
                    changes.push(format!(
                        "{scope}.{name} (number {}) removed without reserving its number",
                        before.number
                    ));
                }
            }
        }
    }
    for (key, before) in &old.methods {
        match new.methods.get(key) {
            None => changes.push(format!("method {}.{} removed", key.0, key.1)),
            Some(after) if after != before => {
                changes.push(format!("method changed from `{before}` to `{after}`"))
            }
            Some(_) => {}
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "service S {\n  rpc Get(A) returns (B);\n}\n\nmessage A {\n  int32 id = 1;\n  string name = 2;\n  bytes blob = 3;\n  bool flag = 4;\n}\n";

    #[test]
    fn additions_and_comments_are_harmless() {
        let new = OLD.replace(
            "  bool flag = 4;\n",
            "  bool flag = 4;\n  // New.\n  int64 extra = 5;\n",
        );
        assert!(breaking_changes(OLD, &new).is_empty());
    }

    #[test]
    fn renumbering_retyping_and_unreserved_removal_break_the_wire() {
        let new = OLD
            .replace("int32 id = 1;", "int32 id = 7;")
            .replace("string name = 2;", "bytes name = 2;")
            .replace("  bytes blob = 3;\n", "")
            .replace("  bool flag = 4;\n", "  reserved 4;\n");
        let changes = breaking_changes(OLD, &new);
        assert_eq!(
            changes,
            [
                "A.blob (number 3) removed without reserving its number",
                "A.id renumbered from 1 to 7",
                "A.name retyped from `string` to `bytes`",
            ]
        );
    }

    #[test]
    fn a_changed_json_name_breaks_json_peers_and_an_equal_one_does_not() {
        let renamed = OLD.replace("bool flag = 4;", "bool flag = 4 [json_name = \"isFlag\"];");
        assert_eq!(
            breaking_changes(OLD, &renamed),
            ["A.flag renamed in JSON from `flag` to `isFlag`"]
        );
        let same = OLD.replace(
            "string name = 2;",
            "string name = 2 [json_name = \"name\"];",
        );
        assert!(breaking_changes(OLD, &same).is_empty());
        // A field with options is still compared by number and type.
        let renumbered = renamed.replace("bool flag = 4 [", "bool flag = 5 [");
        assert_eq!(
            breaking_changes(&renamed, &renumbered),
            ["A.flag renumbered from 4 to 5"]
        );
    }

    #[test]
    fn changed_and_removed_methods_break_calls() {
        let new = OLD.replace("rpc Get(A) returns (B);", "rpc Get(A) returns (stream B);");
        assert_eq!(breaking_changes(OLD, &new).len(), 1);
        let new = OLD.replace("  rpc Get(A) returns (B);\n", "");
        assert_eq!(breaking_changes(OLD, &new), ["method S.Get removed"]);
    }

    #[test]
    fn a_bare_rpc_keyword_is_no_method() {
        // Found by the schema_diff fuzz target: `rpc` alone used to slice past the line's end.
        let text = "service S {\nrpc\n  rpc\tGet(A) returns (B);\n}\n";
        assert_eq!(
            breaking_changes(text, "service S {\n}\n"),
            ["method S.Get removed"]
        );
    }

    #[test]
    fn fields_belong_to_the_message_they_are_declared_in_nested_ones_included() {
        let old = "message Outer {\n  message Inner {\n    int32 a = 1;\n  }\n\n  \
                   oneof choice {\n    string x = 3;\n  }\n  int32 b = 2;\n}\n";
        let new = old.replace("int32 b = 2;", "int32 b = 4;");
        assert_eq!(
            breaking_changes(old, &new),
            ["Outer.b renumbered from 2 to 4"]
        );
        let new = old.replace("int32 a = 1;", "int64 a = 1;");
        assert_eq!(
            breaking_changes(old, &new),
            ["Outer.Inner.a retyped from `int32` to `int64`"]
        );
        assert!(breaking_changes(old, old).is_empty());
    }

    #[test]
    fn the_diff_marks_removed_and_added_lines() {
        let diff = line_diff("a\nb\nc\n", "a\nc\nd\n");
        assert_eq!(diff, "  a\n- b\n  c\n+ d\n");
    }
}
