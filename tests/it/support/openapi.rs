//! Checks the portal's JSON answers against its OpenAPI document: each answer must match the
//! schema the document declares for its route, method and status, so a handler that answers
//! something the document does not say fails the router tests.
//!
//! The validator covers the JSON Schema keywords the document uses (a test checks that it uses
//! no other): `type` (with type arrays for nullable values), `enum`, `const`, `required`,
//! `properties`, `additionalProperties`, `items`, `$ref`, `allOf`, `oneOf`, `anyOf`,
//! `minItems`, `minLength`, `maxLength` and `minimum`. Annotations (`description`, `format`,
//! `pattern`, `examples`…) are not checked.
//!
//! It is stricter than JSON Schema in one way: an object may carry only the properties its
//! schema (with its `allOf` parts) declares, unless the schema says `additionalProperties`. The
//! document leaves objects open for clients, but the bodies are serialised from the same
//! structs, so a property the document does not name is drift.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{Method, Response, header};
use http_body_util::BodyExt as _;
use serde_json::Value;

/// JSON answers outside the public API, which the document leaves out on purpose.
const UNDESCRIBED_PREFIXES: &[&str] = &[
    // The back office's statistics (`Accept: application/json` on a staff page).
    "/staff/",
];

/// Keywords the validator checks.
pub(crate) const CHECKED_KEYWORDS: &[&str] = &[
    "type",
    "enum",
    "const",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "$ref",
    "allOf",
    "oneOf",
    "anyOf",
    "minItems",
    "minLength",
    "maxLength",
    "minimum",
];

/// Keywords that only annotate.
pub(crate) const ANNOTATIONS: &[&str] = &[
    "description",
    "format",
    "pattern",
    "examples",
    "example",
    "default",
    "title",
    "propertyNames",
    "contentEncoding",
];

/// The portal's document, built once per test binary.
pub(crate) fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(wardgate::portal::openapi::openapi_document)
}

/// Buffers `response`; when its body is JSON, panics unless it is what the document declares for
/// `method` on `path` with its status. Gives the response back unchanged.
pub(crate) async fn conform(
    method: &Method,
    path: &str,
    response: Response<Body>,
) -> Response<Body> {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim() == "application/json" || v.trim().ends_with("+json"));
    if !is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let value: Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{method} {path}: the JSON answer does not parse: {e}"));
    let headers: Vec<String> = parts
        .headers
        .keys()
        .map(|name| name.as_str().to_owned())
        .collect();
    if let Err(violation) = check_response(
        document(),
        method.as_str(),
        path,
        parts.status.as_u16(),
        &headers,
        &value,
    ) {
        panic!(
            "{method} {path} answered {} with a body the OpenAPI document does not describe: {violation}\nbody: {value}",
            parts.status
        );
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// Whether a JSON answer with `status`, the `headers` (names) and `body` is what `document`
/// declares for `method` on `path`.
pub(crate) fn check_response(
    document: &Value,
    method: &str,
    path: &str,
    status: u16,
    headers: &[String],
    body: &Value,
) -> Result<(), String> {
    let Some((template, operation)) = operation(document, method, path) else {
        if UNDESCRIBED_PREFIXES.iter().any(|p| path.starts_with(p)) {
            return Ok(());
        }
        // The router's fallback answers unknown `/api/…` paths with the error body.
        if status == 404 {
            return Validator::new(document)
                .check(&reference("Error"), body, "")
                .map_err(|e| format!("unknown path's 404: {e}"));
        }
        return Err(format!("no operation for {method} {path}"));
    };
    let responses = &operation["responses"];
    let response = responses
        .get(status.to_string())
        .or_else(|| responses.get("default"))
        .ok_or_else(|| format!("{template}: status {status} is not documented"))?;
    let validator = Validator::new(document);
    let response = validator.resolve(response)?;
    if let Some(declared) = response.get("headers").and_then(Value::as_object) {
        for name in declared.keys() {
            if !headers.iter().any(|h| h.eq_ignore_ascii_case(name)) {
                return Err(format!("{template} {status}: header {name} missing"));
            }
        }
    }
    let schema = response
        .pointer("/content/application~1json/schema")
        .ok_or_else(|| format!("{template} {status}: no application/json body documented"))?;
    validator
        .check(schema, body, "")
        .map_err(|e| format!("{template} {status}: {e}"))
}

fn reference(name: &str) -> Value {
    serde_json::json!({"$ref": format!("#/components/schemas/{name}")})
}

/// The documented operation for `method` on the concrete `path`, with its path template.
fn operation<'d>(document: &'d Value, method: &str, path: &str) -> Option<(&'d str, &'d Value)> {
    let method = method.to_ascii_lowercase();
    document["paths"]
        .as_object()?
        .iter()
        .find(|(template, _)| matches_template(template, path))
        .and_then(|(template, item)| Some((template.as_str(), item.get(&method)?)))
}

/// `/api/procedures/{code}/decision` matches `/api/procedures/1.001193/decision`.
fn matches_template(template: &str, path: &str) -> bool {
    let mut wanted = template.split('/');
    let mut given = path.split('/');
    loop {
        match (wanted.next(), given.next()) {
            (None, None) => return true,
            (Some(w), Some(g)) if w.starts_with('{') && w.ends_with('}') => {
                if g.is_empty() {
                    return false;
                }
            }
            (Some(w), Some(g)) if w == g => {}
            _ => return false,
        }
    }
}

struct Validator<'d> {
    document: &'d Value,
}

impl<'d> Validator<'d> {
    fn new(document: &'d Value) -> Self {
        Self { document }
    }

    /// Follows a local `$ref` (the only kind the document has).
    fn resolve<'s>(&self, schema: &'s Value) -> Result<&'s Value, String>
    where
        'd: 's,
    {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(target) => self.resolve(self.target(target)?),
            None => Ok(schema),
        }
    }

    fn target(&self, target: &str) -> Result<&'d Value, String> {
        let pointer = target
            .strip_prefix('#')
            .ok_or_else(|| format!("non-local reference {target}"))?;
        self.document
            .pointer(pointer)
            .ok_or_else(|| format!("dangling reference {target}"))
    }

    /// The property names `schema` declares, with those of its `$ref` and `allOf` parts; `None`
    /// when it allows any (`additionalProperties`).
    fn declared(&self, schema: &Value) -> Result<Option<BTreeSet<String>>, String> {
        if schema
            .get("additionalProperties")
            .is_some_and(|a| a != false)
        {
            return Ok(None);
        }
        let mut names = BTreeSet::new();
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            names.extend(properties.keys().cloned());
        }
        if schema.get("$ref").is_some() {
            match self.declared(self.resolve(schema)?)? {
                Some(more) => names.extend(more),
                None => return Ok(None),
            }
        }
        for part in schema
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            match self.declared(part)? {
                Some(more) => names.extend(more),
                None => return Ok(None),
            }
        }
        Ok(Some(names))
    }

    fn check(&self, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
        self.check_with(schema, value, at, true)
    }

    /// Checks `value` against `schema`; `closed` applies the declared-properties rule (off for
    /// the parts of an `allOf`, whose union the whole is checked against).
    fn check_with(
        &self,
        schema: &Value,
        value: &Value,
        at: &str,
        closed: bool,
    ) -> Result<(), String> {
        let here = || {
            if at.is_empty() {
                "/".to_owned()
            } else {
                at.to_owned()
            }
        };
        let object = match schema {
            Value::Bool(true) => return Ok(()),
            Value::Bool(false) => return Err(format!("{}: nothing is allowed here", here())),
            Value::Object(object) => object,
            _ => {
                return Err(format!(
                    "{}: a schema must be an object or a boolean",
                    here()
                ));
            }
        };
        if let Some(target) = object.get("$ref").and_then(Value::as_str) {
            self.check_with(self.target(target)?, value, at, closed)?;
        }
        if let Some(types) = object.get("type") {
            let allowed: Vec<&str> = match types {
                Value::String(one) => vec![one.as_str()],
                Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
                _ => return Err(format!("{}: malformed `type`", here())),
            };
            if !allowed.iter().any(|t| has_type(value, t)) {
                return Err(format!(
                    "{}: {value} is not of type {}",
                    here(),
                    allowed.join(" or ")
                ));
            }
        }
        if let Some(choices) = object.get("enum").and_then(Value::as_array)
            && !choices.contains(value)
        {
            return Err(format!(
                "{}: {value} is not one of {}",
                here(),
                Value::from(choices.clone())
            ));
        }
        if let Some(constant) = object.get("const")
            && constant != value
        {
            return Err(format!("{}: {value} is not {constant}", here()));
        }
        if let Some(text) = value.as_str() {
            let length = text.chars().count();
            if let Some(min) = object.get("minLength").and_then(Value::as_u64)
                && (length as u64) < min
            {
                return Err(format!("{}: shorter than {min} characters", here()));
            }
            if let Some(max) = object.get("maxLength").and_then(Value::as_u64)
                && (length as u64) > max
            {
                return Err(format!("{}: longer than {max} characters", here()));
            }
        }
        if let (Some(number), Some(min)) = (
            value.as_f64(),
            object.get("minimum").and_then(Value::as_f64),
        ) && number < min
        {
            return Err(format!("{}: {number} is below the minimum {min}", here()));
        }
        if let Some(map) = value.as_object() {
            for name in object
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !map.contains_key(name) {
                    return Err(format!("{}: required property `{name}` is missing", here()));
                }
            }
            let properties = object.get("properties").and_then(Value::as_object);
            for (name, item) in map {
                let at = format!("{at}/{name}");
                match properties.and_then(|p| p.get(name)) {
                    Some(property) => self.check(property, item, &at)?,
                    None => {
                        if let Some(extra) = object.get("additionalProperties") {
                            self.check(extra, item, &at)?;
                        }
                    }
                }
            }
            let structural = properties.is_some()
                || object.contains_key("allOf")
                || object.contains_key("additionalProperties");
            if closed
                && structural
                && let Some(declared) = self.declared(schema)?
                && let Some(extra) = map.keys().find(|k| !declared.contains(*k))
            {
                return Err(format!(
                    "{}: property `{extra}` is not in the document",
                    here()
                ));
            }
        }
        if let Some(list) = value.as_array() {
            if let Some(min) = object.get("minItems").and_then(Value::as_u64)
                && (list.len() as u64) < min
            {
                return Err(format!("{}: fewer than {min} items", here()));
            }
            if let Some(items) = object.get("items") {
                for (index, item) in list.iter().enumerate() {
                    self.check(items, item, &format!("{at}/{index}"))?;
                }
            }
        }
        if let Some(parts) = object.get("allOf").and_then(Value::as_array) {
            for part in parts {
                self.check_with(part, value, at, false)?;
            }
        }
        if let Some(choices) = object.get("oneOf").and_then(Value::as_array) {
            let results: Vec<Result<(), String>> = choices
                .iter()
                .map(|choice| self.check_with(choice, value, at, closed))
                .collect();
            let matched = results.iter().filter(|r| r.is_ok()).count();
            if matched != 1 {
                let reasons: Vec<String> = results.into_iter().filter_map(Result::err).collect();
                return Err(format!(
                    "{}: matches {matched} of the oneOf choices, not exactly one ({})",
                    here(),
                    reasons.join("; ")
                ));
            }
        }
        if let Some(choices) = object.get("anyOf").and_then(Value::as_array) {
            let reasons: Vec<String> = choices
                .iter()
                .filter_map(|choice| self.check_with(choice, value, at, closed).err())
                .collect();
            if reasons.len() == choices.len() {
                return Err(format!(
                    "{}: matches none of the anyOf choices ({})",
                    here(),
                    reasons.join("; ")
                ));
            }
        }
        Ok(())
    }
}

fn has_type(value: &Value, wanted: &str) -> bool {
    match wanted {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        "number" => value.is_number(),
        "integer" => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|n| n.fract() == 0.0)
        }
        _ => false,
    }
}

/// Every keyword the document's schemas use that the validator neither checks nor ignores as
/// an annotation.
pub(crate) fn unknown_keywords(document: &Value) -> BTreeSet<String> {
    let mut unknown = BTreeSet::new();
    let mut schemas: Vec<&Value> = Vec::new();
    if let Some(named) = document["components"]["schemas"].as_object() {
        schemas.extend(named.values());
    }
    collect_operation_schemas(&document["paths"], &mut schemas);
    collect_operation_schemas(&document["components"]["responses"], &mut schemas);
    while let Some(schema) = schemas.pop() {
        let Some(object) = schema.as_object() else {
            continue;
        };
        for (keyword, inner) in object {
            match keyword.as_str() {
                "properties" => {
                    if let Some(map) = inner.as_object() {
                        schemas.extend(map.values());
                    }
                }
                "allOf" | "oneOf" | "anyOf" => {
                    if let Some(list) = inner.as_array() {
                        schemas.extend(list);
                    }
                }
                "items" | "additionalProperties" | "propertyNames" => schemas.push(inner),
                known if CHECKED_KEYWORDS.contains(&known) || ANNOTATIONS.contains(&known) => {}
                other => {
                    unknown.insert(other.to_owned());
                }
            }
        }
    }
    unknown
}

/// The body schemas under `node` (the `schema` of each `content` entry).
fn collect_operation_schemas<'d>(node: &'d Value, out: &mut Vec<&'d Value>) {
    match node {
        Value::Object(map) => {
            for (key, item) in map {
                if key == "content" {
                    if let Some(media) = item.as_object() {
                        out.extend(media.values().filter_map(|m| m.get("schema")));
                    }
                } else {
                    collect_operation_schemas(item, out);
                }
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|item| collect_operation_schemas(item, out)),
        _ => {}
    }
}
