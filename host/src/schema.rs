//! Stream schemas: every record is checked against the JSON Schema its stream
//! declares, when the host reads it from a source and before it writes it to a
//! destination. A record that does not match is dead-lettered with the reasons;
//! the plugin never sees a record its stream did not promise.
//!
//! Schemas come from plugins, so they are untrusted too: they compile once per
//! installed component (by its sha256), without fetching remote `$ref`s, and an
//! install whose schema does not compile is refused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::plugin::Descriptor;
use crate::plugin::Installed;
use crate::record::{Envelope, Op};

/// At most this many reasons in one record's error text.
const MAX_REASONS: usize = 3;

/// One stream's compiled schema.
pub struct Schema {
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schema").finish_non_exhaustive()
    }
}

impl Schema {
    /// Compiles a stream's schema text; formats (`date-time`, `email`) are
    /// checked, not only annotated.
    pub fn compile(text: &str) -> Result<Schema, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("it is not JSON: {e}"))?;
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&value)
            .map_err(|e| format!("it is not a valid JSON Schema: {e}"))?;
        Ok(Schema { validator })
    }

    /// Why `payload` does not match, if it does not: the first few reasons,
    /// each with the JSON pointer of the value it is about. The values
    /// themselves are left out (the text ends up in logs).
    pub fn check(&self, payload: &str) -> Result<(), String> {
        let value: serde_json::Value =
            serde_json::from_str(payload).map_err(|e| format!("the payload is not JSON: {e}"))?;
        let mut errors = self.validator.iter_errors(&value).peekable();
        if errors.peek().is_none() {
            return Ok(());
        }
        let mut reasons = Vec::new();
        let mut more = 0;
        for error in errors {
            if reasons.len() < MAX_REASONS {
                let path = error.instance_path().to_string();
                let at = if path.is_empty() { "/" } else { &path };
                reasons.push(format!("at `{at}`: {}", error.masked()));
            } else {
                more += 1;
            }
        }
        let mut text = reasons.join("; ");
        if more > 0 {
            text.push_str(&format!("; and {more} more"));
        }
        Err(text)
    }
}

/// The compiled schemas of one component's streams.
#[derive(Debug, Default)]
pub struct StreamSchemas(HashMap<String, Arc<Schema>>);

impl StreamSchemas {
    /// Every stream's schema compiled; the first one that does not compile is
    /// the error, naming its stream.
    pub fn compile(descriptor: &Descriptor) -> Result<StreamSchemas, String> {
        let mut schemas = HashMap::new();
        for stream in &descriptor.streams {
            let schema = Schema::compile(&stream.schema)
                .map_err(|e| format!("the schema of stream `{}`: {e}", stream.name))?;
            schemas.insert(stream.name.clone(), Arc::new(schema));
        }
        Ok(StreamSchemas(schemas))
    }

    pub fn stream(&self, name: &str) -> Option<&Schema> {
        self.0.get(name).map(Arc::as_ref)
    }

    /// Why `record` does not match the schema of `plugin`'s `stream`, if it
    /// does not. A delete carries no document to match, and a stream the
    /// plugin does not declare has no schema.
    pub fn check(&self, plugin: &str, stream: &str, record: &Envelope) -> Result<(), String> {
        if record.op == Op::Delete {
            return Ok(());
        }
        match self.stream(stream) {
            Some(schema) => schema.check(&record.payload).map_err(|reasons| {
                format!(
                    "the record does not match the schema of `{plugin}`'s stream `{stream}`: {reasons}"
                )
            }),
            None => Ok(()),
        }
    }
}

/// Compiled schemas by component, shared by every clone of the host.
#[derive(Clone, Default)]
pub(crate) struct Schemas(Arc<Mutex<HashMap<String, Arc<StreamSchemas>>>>);

impl std::fmt::Debug for Schemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let components = self.0.lock().map_or(0, |c| c.len());
        f.debug_struct("Schemas")
            .field("components", &components)
            .finish()
    }
}

impl Schemas {
    /// Keeps the schemas compiled for the component with `sha256`.
    pub(crate) fn keep(&self, sha256: &str, schemas: StreamSchemas) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(sha256.to_owned(), Arc::new(schemas));
    }

    /// The schemas of an installed component, compiled on first use.
    pub(crate) fn of(&self, plugin: &Installed) -> crate::error::Result<Arc<StreamSchemas>> {
        let mut compiled = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(schemas) = compiled.get(&plugin.sha256) {
            return Ok(schemas.clone());
        }
        let schemas = Arc::new(StreamSchemas::compile(&plugin.descriptor).map_err(|e| {
            crate::error::Error::Invalid(format!("plugin `{}` {}: {e}", plugin.id, plugin.version))
        })?);
        compiled.insert(plugin.sha256.clone(), schemas.clone());
        Ok(schemas)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORDER: &str = r#"{"type": "object", "required": ["id", "updated_at"],
        "properties": {"id": {"type": "string"}, "updated_at": {"type": "string", "format": "date-time"},
        "lines": {"type": "array", "items": {"type": "object", "properties": {"quantity": {"type": "integer", "minimum": 1}}}}}}"#;

    #[test]
    fn a_matching_record_passes() {
        let schema = Schema::compile(ORDER).unwrap();
        schema
            .check(
                r#"{"id": "1", "updated_at": "2026-01-02T03:04:05Z", "lines": [{"quantity": 2}]}"#,
            )
            .unwrap();
    }

    #[test]
    fn reasons_name_where_and_why_without_the_values() {
        let schema = Schema::compile(ORDER).unwrap();
        let error = schema
            .check(r#"{"id": 7, "updated_at": "yesterday", "lines": [{"quantity": 0}]}"#)
            .unwrap_err();
        assert!(error.contains("at `/id`"), "{error}");
        assert!(error.contains("at `/updated_at`"), "{error}");
        assert!(error.contains("at `/lines/0/quantity`"), "{error}");
        assert!(!error.contains("yesterday"), "{error}");
        assert!(
            error.contains("at `/lines/0/quantity`: value is less than the minimum of 1"),
            "{error}"
        );
        let missing = schema.check(r#"{"id": "1"}"#).unwrap_err();
        assert!(
            missing.contains("at `/`") && missing.contains("updated_at"),
            "{missing}"
        );
        assert!(schema.check("not json").unwrap_err().contains("not JSON"));
    }

    #[test]
    fn a_schema_that_does_not_compile_or_reaches_out_is_refused() {
        assert!(Schema::compile("{").unwrap_err().contains("not JSON"));
        assert!(
            Schema::compile(r#"{"type": "no-such-type"}"#)
                .unwrap_err()
                .contains("not a valid JSON Schema")
        );
        // No remote references: the host fetches nothing a plugin names.
        assert!(Schema::compile(r#"{"$ref": "https://example.com/s.json"}"#).is_err());
    }
}
