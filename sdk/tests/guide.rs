//! `sdk/README.md` documents every field of every canonical stream. The tables
//! are generated from the JSON Schemas in `canonical`: this test builds them
//! again and requires the guide to hold exactly that text between its
//! `canonical-fields` markers (on a mismatch it prints the text to paste).

use serde_json::Value;
use tenon_sdk::canonical;

const START: &str =
    "<!-- canonical-fields:start (generated from the schemas: sdk/tests/guide.rs) -->\n";
const END: &str = "<!-- canonical-fields:end -->";

/// A schema's type for a person: `string`, `integer`, `one of "a", "b"`, ...
fn kind(schema: &Value) -> String {
    if let Some(values) = schema["enum"].as_array() {
        let values: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
        return format!("one of {}", values.join(", "));
    }
    match &schema["type"] {
        Value::String(t) if t == "object" && schema["additionalProperties"].is_object() => {
            format!("map of {}", kind(&schema["additionalProperties"]))
        }
        Value::String(t) if t == "array" => format!("list of {}", kind(&schema["items"])),
        Value::String(t) => t.clone(),
        Value::Array(types) => {
            let types: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
            types.join(" or ")
        }
        _ => "any".into(),
    }
}

/// What else the schema says of a value.
fn notes(schema: &Value) -> String {
    let mut notes = Vec::new();
    if let Some(d) = schema["description"].as_str() {
        notes.push(d.replace('\n', "\\n"));
    }
    if let Some(f) = schema["format"].as_str() {
        notes.push(format!("format `{f}`"));
    }
    if let Some(p) = schema["pattern"].as_str() {
        notes.push(format!("matches `{p}`"));
    }
    for (key, what) in [
        ("minimum", "at least"),
        ("minLength", "length at least"),
        ("minItems", "items at least"),
    ] {
        if let Some(n) = schema[key].as_i64() {
            notes.push(format!("{what} {n}"));
        }
    }
    let values = &schema["additionalProperties"];
    if let Some(p) = values["pattern"].as_str() {
        notes.push(format!("values match `{p}`"));
    }
    notes.join("; ")
}

/// One row per field, nested objects as `a.b`, list items as `a[].b`.
fn rows(schema: &Value, prefix: &str, out: &mut Vec<String>) {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = schema["properties"].as_object() else {
        return;
    };
    for (name, field) in properties {
        let path = format!("{prefix}{name}");
        let yes = if required.contains(&name.as_str()) {
            "yes"
        } else {
            "no"
        };
        let (shown, inner) = match field["type"].as_str() {
            Some("object") if field["properties"].is_object() => {
                ("object".to_owned(), Some((field, ".")))
            }
            Some("array") if field["items"]["properties"].is_object() => {
                ("list of objects".to_owned(), Some((&field["items"], "[].")))
            }
            _ => (kind(field), None),
        };
        let notes = notes(field);
        out.push(format!("| `{path}` | {shown} | {yes} | {notes} |"));
        if let Some((inner, sep)) = inner {
            rows(inner, &format!("{path}{sep}"), out);
        }
    }
}

fn reference() -> String {
    let mut text = String::new();
    for (stream, type_name) in canonical::STREAMS {
        let schema: Value = serde_json::from_str(&canonical::schema(stream).unwrap()).unwrap();
        let mut lines = Vec::new();
        rows(&schema, "", &mut lines);
        text += &format!(
            "#### `{stream}` (`canonical::{type_name}`)\n\n| Field | Type | Required | Notes |\n|---|---|---|---|\n{}\n\n",
            lines.join("\n")
        );
    }
    text
}

#[test]
fn the_guide_lists_every_field_of_every_canonical_stream() {
    let guide = include_str!("../README.md");
    let expected = reference();
    let start = guide.find(START).map(|at| at + START.len());
    let end = guide.find(END);
    let (Some(start), Some(end)) = (start, end) else {
        panic!(
            "sdk/README.md has no canonical-fields markers; put this between them:\n\n{START}{expected}{END}"
        );
    };
    assert!(
        guide[start..end] == expected,
        "sdk/README.md's canonical fields differ from the schemas; replace them with:\n\n{START}{expected}{END}"
    );
}
