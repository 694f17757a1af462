//! The tools' JSON Schemas as clients' validators expect them: schemars writes what a Rust
//! type allows, including `format`s of its own that no JSON Schema validator knows.

/// The `format` values JSON Schema 2020-12 defines; validators know these and no others.
const STANDARD_FORMATS: &[&str] = &[
    "date-time",
    "date",
    "time",
    "duration",
    "email",
    "idn-email",
    "hostname",
    "idn-hostname",
    "ipv4",
    "ipv6",
    "uri",
    "uri-reference",
    "iri",
    "iri-reference",
    "uuid",
    "uri-template",
    "json-pointer",
    "relative-json-pointer",
    "regex",
];

/// Drops the `format`s schemars invents for Rust integers (`uint64`, `uint32`, `double`):
/// a client's validator warns about each unknown one (the TypeScript SDK does on every
/// call). The bounds they stood for stay as `minimum`.
pub(super) fn standard_formats(schema: &mut serde_json::Map<String, serde_json::Value>) {
    let nonstandard = schema
        .get("format")
        .and_then(serde_json::Value::as_str)
        .is_some_and(|format| !STANDARD_FORMATS.contains(&format));
    if nonstandard {
        schema.remove("format");
    }
    for value in schema.values_mut() {
        match value {
            serde_json::Value::Object(inner) => standard_formats(inner),
            serde_json::Value::Array(items) => {
                for item in items
                    .iter_mut()
                    .filter_map(serde_json::Value::as_object_mut)
                {
                    standard_formats(item);
                }
            }
            _ => {}
        }
    }
}
