//! Discord's own description of its REST API as the judge of what the bot sends and what the fake answers.
//!
//! `specs/openapi.json` is Discord's OpenAPI 3.1 document (discord/discord-api-spec, pinned; tests/README.md says
//! which commit and how to update it). It is parsed once per process and its operations are indexed by method and
//! path template (`/channels/{channel_id}/messages`; a literal segment such as `@me` or `@original` beats a
//! parameter). For every REST request the fake checks the path parameters, the query parameters and the JSON body
//! (or a multipart body's `payload_json`) against the operation, and for every answer its status and JSON body
//! against the operation's response schema. A mismatch is a [`Mismatch`]: the operation id, where in the request or
//! response it is (a JSON pointer into the instance), the keyword of the spec that rejected it (a JSON pointer into
//! the spec document) and the validator's message. The REST server records each one as a violation.
//!
//! Schemas are JSON Schema draft 2020-12 (what OpenAPI 3.1 uses). A validator is compiled the first time an
//! operation's part is checked and cached for the rest of the process: the e2e tests make thousands of requests to
//! a dozen operations. `$ref`s resolve against the whole document through one [`jsonschema::Registry`]; nothing is
//! ever fetched (the crate is built without its HTTP and file resolvers).
//!
//! Known gaps of the spec are worked around here, one by one, with the reason; tests/README.md lists them.

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use jsonschema::error::ValidationErrorKind;
use jsonschema::{Draft, Registry, ValidationError, Validator};
use serde_json::Value;

/// The vendored spec, compiled into the crate so no test depends on the working directory.
const OPENAPI_JSON: &str = include_str!("../specs/openapi.json");

/// The identifier the spec document is registered under. Never fetched: `.invalid` cannot resolve, and the
/// validator is built without any resolver.
const SPEC_URI: &str = "https://discord-api-spec.invalid/openapi.json";

/// One disagreement between a request or response and Discord's spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The spec's `operationId`, e.g. `create_message`; the method and path when no operation matched.
    pub operation: String,
    /// What was checked: `request path`, `request query`, `request body`, `response 200`, ….
    pub part: String,
    /// JSON pointer into the checked value (`/data/components/0/type`); empty for the value itself.
    pub instance_path: String,
    /// JSON pointer into the spec document of the keyword that failed
    /// (`/components/schemas/MessageCreateRequest/properties/content/type`); empty when no schema was involved.
    pub schema_path: String,
    pub message: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Discord's OpenAPI spec: {} {} at `{}`: {}",
            self.operation, self.part, self.instance_path, self.message
        )?;
        if !self.schema_path.is_empty() {
            write!(f, " (spec #{})", self.schema_path)?;
        }
        Ok(())
    }
}

/// A segment of a path template.
#[derive(Debug, Clone)]
enum Segment {
    Literal(String),
    Param(String),
}

/// One operation of the spec: a method on a path template.
#[derive(Debug)]
struct Operation {
    method: String,
    template: String,
    segments: Vec<Segment>,
    id: String,
    /// JSON pointer to the operation object (`/paths/~1gateway/get`).
    pointer: String,
    /// Parameters of the path item and the operation (the operation's win), with their pointers.
    params: Vec<Param>,
}

#[derive(Debug)]
struct Param {
    name: String,
    location: String,
    required: bool,
    /// JSON pointer to the parameter's `schema`.
    schema: String,
}

/// An operation matched by a request, with the values of its path parameters.
#[derive(Debug)]
pub struct Matched<'s> {
    op: &'s Operation,
    path_values: Vec<(String, String)>,
}

impl Matched<'_> {
    /// The spec's `operationId`.
    pub fn operation_id(&self) -> &str {
        &self.op.id
    }

    /// The spec's path template, e.g. `/interactions/{interaction_id}/{interaction_token}/callback`.
    pub fn template(&self) -> &str {
        &self.op.template
    }
}

/// Discord's OpenAPI spec, indexed, with a cache of compiled validators.
pub struct Spec {
    doc: Value,
    registry: Registry<'static>,
    operations: Vec<Operation>,
    /// Compiled validators by JSON pointer of their schema in the document.
    validators: Mutex<HashMap<String, Arc<Validator>>>,
}

impl fmt::Debug for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spec")
            .field("operations", &self.operations.len())
            .finish_non_exhaustive()
    }
}

/// A correction of the spec where it contradicts Discord's documentation and what Discord sends.
struct Patch {
    /// JSON pointer of the value replaced.
    at: &'static str,
    /// What must be there (so an updated spec that fixed it, or moved it, makes the patch fail loudly).
    was: &'static str,
    /// What is put there instead.
    now: &'static str,
    #[allow(dead_code)] // Read by people: every patch says why it exists.
    why: &'static str,
}

/// Every correction applied to the vendored spec, each with its reason (tests/README.md lists them too).
const PATCHES: &[Patch] = &[Patch {
    at: "/components/schemas/RatelimitedResponse/allOf/0",
    was: r##"{"$ref": "#/components/schemas/Error"}"##,
    now: r#"{"type": "object", "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
            "required": ["message"]}"#,
    why: "The 429 body requires `code` through `Error`, but topics/rate-limits.mdx documents `code?` as optional \
          and all three of its example 429 bodies have none; the fake answers 429 as those examples do.",
}];

/// Applies [`PATCHES`]; an error names a patch that no longer fits the document.
fn patch(doc: &mut Value) -> Result<(), String> {
    for p in PATCHES {
        let was: Value =
            serde_json::from_str(p.was).map_err(|e| format!("patch at {}: {e}", p.at))?;
        let now: Value =
            serde_json::from_str(p.now).map_err(|e| format!("patch at {}: {e}", p.at))?;
        match doc.pointer_mut(p.at) {
            Some(v) if *v == was => *v = now,
            other => {
                return Err(format!(
                    "the spec patch at #{} no longer applies (found {other:?}); review it against the updated spec",
                    p.at
                ));
            }
        }
    }
    Ok(())
}

static SPEC: LazyLock<Result<Spec, String>> = LazyLock::new(|| Spec::parse(OPENAPI_JSON));

/// Escapes a JSON pointer token (RFC 6901).
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Percent-encodes a JSON pointer for use as a URI fragment (braces and other reserved characters of path
/// templates are not allowed there raw).
fn fragment(pointer: &str) -> String {
    let mut out = String::with_capacity(pointer.len());
    for b in pointer.bytes() {
        if b.is_ascii_alphanumeric() || b"/~-._!$&'()*+,;=:@".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}"); // writing to a String cannot fail
        }
    }
    out
}

/// Decodes `%XX` escapes of a path segment or query value; invalid escapes are kept as they are.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The value at a JSON pointer, following an OpenAPI `$ref` (to `#/components/...`) when the value is one.
fn deref<'d>(doc: &'d Value, pointer: &str) -> Option<(&'d Value, String)> {
    let v = doc.pointer(pointer)?;
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let target = r.strip_prefix('#')?;
            Some((doc.pointer(target)?, target.to_owned()))
        }
        None => Some((v, pointer.to_owned())),
    }
}

impl Spec {
    /// The spec compiled into this crate, parsed on first use.
    pub fn get() -> Result<&'static Spec, &'static str> {
        SPEC.as_ref().map_err(String::as_str)
    }

    /// Parses and indexes an OpenAPI 3.1 document.
    pub fn parse(text: &str) -> Result<Spec, String> {
        let mut doc: Value = serde_json::from_str(text)
            .map_err(|e| format!("specs/openapi.json is not JSON: {e}"))?;
        patch(&mut doc)?;
        let registry = Registry::new()
            .draft(Draft::Draft202012)
            .add(SPEC_URI, doc.clone())
            .and_then(jsonschema::RegistryBuilder::prepare)
            .map_err(|e| format!("specs/openapi.json as a JSON Schema resource: {e}"))?;
        let mut operations = Vec::new();
        let paths = doc
            .get("paths")
            .and_then(Value::as_object)
            .ok_or("specs/openapi.json has no `paths`")?;
        for (template, item) in paths {
            let item_ptr = format!("/paths/{}", escape(template));
            let Some(item) = item.as_object() else {
                continue;
            };
            let segments = template
                .trim_matches('/')
                .split('/')
                .map(
                    |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                        Some(name) => Segment::Param(name.to_owned()),
                        None => Segment::Literal(s.to_owned()),
                    },
                )
                .collect::<Vec<_>>();
            for (method, op) in item {
                if method == "parameters" || !op.is_object() {
                    continue;
                }
                let pointer = format!("{item_ptr}/{method}");
                let mut params: Vec<Param> = Vec::new();
                for base in [
                    format!("{item_ptr}/parameters"),
                    format!("{pointer}/parameters"),
                ] {
                    let count = doc
                        .pointer(&base)
                        .and_then(Value::as_array)
                        .map_or(0, Vec::len);
                    for i in 0..count {
                        let Some((p, p_ptr)) = deref(&doc, &format!("{base}/{i}")) else {
                            continue;
                        };
                        let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
                        let location = p.get("in").and_then(Value::as_str).unwrap_or_default();
                        params.retain(|q| !(q.name == name && q.location == location));
                        params.push(Param {
                            name: name.to_owned(),
                            location: location.to_owned(),
                            required: p.get("required").and_then(Value::as_bool) == Some(true),
                            schema: format!("{p_ptr}/schema"),
                        });
                    }
                }
                operations.push(Operation {
                    method: method.to_ascii_uppercase(),
                    template: template.clone(),
                    segments: segments.clone(),
                    id: op
                        .get("operationId")
                        .and_then(Value::as_str)
                        .map_or_else(|| format!("{method} {template}"), str::to_owned),
                    pointer,
                    params,
                });
            }
        }
        Ok(Spec {
            doc,
            registry,
            operations,
            validators: Mutex::new(HashMap::new()),
        })
    }

    /// How many operations the document describes.
    pub fn operation_count(&self) -> usize {
        self.operations.len()
    }

    /// The operation a request hits: same method, same number of segments, every literal equal; the template with
    /// the most literal segments wins (`/users/@me` over `/users/{user_id}`).
    pub fn operation(&self, method: &str, path: &str) -> Option<Matched<'_>> {
        let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
        self.operations
            .iter()
            .filter(|op| op.method == method && op.segments.len() == segs.len())
            .filter_map(|op| {
                let mut literals = 0;
                let mut values = Vec::new();
                for (t, s) in op.segments.iter().zip(&segs) {
                    match t {
                        Segment::Literal(l) if l == s => literals += 1,
                        Segment::Literal(_) => return None,
                        Segment::Param(name) => values.push((name.clone(), percent_decode(s))),
                    }
                }
                Some((literals, op, values))
            })
            .max_by_key(|(literals, _, _)| *literals)
            .map(|(_, op, path_values)| Matched { op, path_values })
    }

    /// The compiled validator for the schema at `pointer` in the document, compiled on first use.
    fn validator(&self, pointer: &str) -> Result<Arc<Validator>, String> {
        let mut cache = self
            .validators
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(v) = cache.get(pointer) {
            return Ok(v.clone());
        }
        let wrapper = serde_json::json!({ "$ref": format!("{SPEC_URI}#{}", fragment(pointer)) });
        let validator = jsonschema::options()
            .with_draft(Draft::Draft202012)
            .with_registry(&self.registry)
            .should_validate_formats(true)
            .build(&wrapper)
            .map_err(|e| format!("compiling the spec's schema at #{pointer}: {e}"))?;
        let validator = Arc::new(validator);
        cache.insert(pointer.to_owned(), validator.clone());
        Ok(validator)
    }

    /// Validates `instance` against the schema at `pointer`, explaining each failure.
    fn check(
        &self,
        op: &Operation,
        part: &str,
        pointer: &str,
        instance: &Value,
        out: &mut Vec<Mismatch>,
    ) {
        let validator = match self.validator(pointer) {
            Ok(v) => v,
            Err(message) => {
                out.push(Mismatch {
                    operation: op.id.clone(),
                    part: part.to_owned(),
                    instance_path: String::new(),
                    schema_path: pointer.to_owned(),
                    message,
                });
                return;
            }
        };
        for error in validator.iter_errors(instance) {
            for leaf in self.explain(&error, part.starts_with("request")) {
                out.push(Mismatch {
                    operation: op.id.clone(),
                    part: part.to_owned(),
                    ..leaf
                });
            }
        }
    }

    /// Whether `value` (a string from a URL) fits the parameter's schema as a string or as the JSON it spells
    /// (`true`, `50`): Discord parses integer and boolean parameters from their text.
    fn check_param(
        &self,
        op: &Operation,
        part: &str,
        param: &Param,
        value: &str,
        out: &mut Vec<Mismatch>,
    ) {
        let as_string = Value::String(value.to_owned());
        let parsed = serde_json::from_str::<Value>(value)
            .ok()
            .filter(|v| !v.is_string());
        let mut mismatches = Vec::new();
        for candidate in std::iter::once(as_string).chain(parsed) {
            mismatches.clear();
            self.check(op, part, &param.schema, &candidate, &mut mismatches);
            if mismatches.is_empty() {
                return;
            }
        }
        for mut m in mismatches {
            m.instance_path = format!("{}{}", param.name, m.instance_path);
            out.push(m);
        }
    }

    /// Checks a request against the operation: path parameters, query parameters, content type and body.
    /// `body` is the JSON body or a multipart body's `payload_json`; `content_type` the request's header.
    pub fn check_request(
        &self,
        m: &Matched<'_>,
        query: &[(String, String)],
        content_type: &str,
        body: Option<&Value>,
    ) -> Vec<Mismatch> {
        let op = m.op;
        let mut out = Vec::new();
        let mismatch = |part: &str, at: &str, message: String| Mismatch {
            operation: op.id.clone(),
            part: part.to_owned(),
            instance_path: at.to_owned(),
            schema_path: String::new(),
            message,
        };
        for (name, value) in &m.path_values {
            if let Some(p) = op
                .params
                .iter()
                .find(|p| p.location == "path" && &p.name == name)
            {
                self.check_param(op, "request path", p, value, &mut out);
            }
        }
        for (name, value) in query {
            let name = percent_decode(name);
            match op
                .params
                .iter()
                .find(|p| p.location == "query" && p.name == name)
            {
                Some(p) => {
                    self.check_param(op, "request query", p, &percent_decode(value), &mut out);
                }
                None => out.push(mismatch(
                    "request query",
                    &name,
                    format!("`{name}` is not a query parameter of {}", op.template),
                )),
            }
        }
        for p in op
            .params
            .iter()
            .filter(|p| p.location == "query" && p.required)
        {
            if !query.iter().any(|(k, _)| percent_decode(k) == p.name) {
                out.push(mismatch(
                    "request query",
                    &p.name,
                    format!("required query parameter `{}` is missing", p.name),
                ));
            }
        }
        let body_ptr = format!("{}/requestBody", op.pointer);
        match (deref(&self.doc, &body_ptr), body) {
            (None, None) => {}
            (None, Some(_)) => out.push(mismatch(
                "request body",
                "",
                format!("{} {} takes no request body", op.method, op.template),
            )),
            (Some((rb, _)), None) => {
                if rb.get("required").and_then(Value::as_bool) == Some(true) {
                    out.push(mismatch(
                        "request body",
                        "",
                        "a request body is required".to_owned(),
                    ));
                }
            }
            (Some((rb, rb_ptr)), Some(body)) => {
                let media = content_type
                    .split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase();
                if rb
                    .pointer(&format!("/content/{}", escape(&media)))
                    .is_some()
                {
                    let schema = format!("{rb_ptr}/content/{}/schema", escape(&media));
                    self.check(op, "request body", &schema, body, &mut out);
                } else {
                    let offered: Vec<&String> = rb
                        .get("content")
                        .and_then(Value::as_object)
                        .map(|c| c.keys().collect())
                        .unwrap_or_default();
                    out.push(mismatch(
                        "request body",
                        "",
                        format!("content type {content_type:?} is not one of {offered:?}"),
                    ));
                }
            }
        }
        out
    }

    /// Checks an answer against the operation's responses: the status must be listed (exactly, or as `4XX`), and
    /// the body must be what that response describes (none where it has no content). 5xx answers are outside the
    /// spec (it lists none) and are not checked.
    pub fn check_response(
        &self,
        m: &Matched<'_>,
        status: u16,
        body: Option<&Value>,
    ) -> Vec<Mismatch> {
        let op = m.op;
        let part = format!("response {status}");
        let mut out = Vec::new();
        if status >= 500 {
            return out;
        }
        let responses = format!("{}/responses", op.pointer);
        let class = format!("{}XX", status / 100);
        let found = [status.to_string(), class, "default".to_owned()]
            .iter()
            .find_map(|code| deref(&self.doc, &format!("{responses}/{}", escape(code))));
        let Some((_, resp_ptr)) = found else {
            let listed: Vec<&String> = self
                .doc
                .pointer(&responses)
                .and_then(Value::as_object)
                .map(|r| r.keys().collect())
                .unwrap_or_default();
            out.push(Mismatch {
                operation: op.id.clone(),
                part,
                instance_path: String::new(),
                schema_path: responses,
                message: format!("status {status} is not one of the spec's {listed:?}"),
            });
            return out;
        };
        let schema = format!("{resp_ptr}/content/application~1json/schema");
        let has_schema = self.doc.pointer(&schema).is_some();
        match (has_schema, body) {
            (true, Some(body)) => self.check(op, &part, &schema, body, &mut out),
            (true, None) => out.push(Mismatch {
                operation: op.id.clone(),
                part,
                instance_path: String::new(),
                schema_path: schema,
                message: "the spec describes a JSON body; the fake sent none".to_owned(),
            }),
            (false, Some(_)) => out.push(Mismatch {
                operation: op.id.clone(),
                part,
                instance_path: String::new(),
                schema_path: resp_ptr,
                message: "the spec describes no body; the fake sent one".to_owned(),
            }),
            (false, None) => {}
        }
        out
    }
}

/// The JSON pointer into the spec document of the keyword that failed, from the error's absolute location.
fn spec_pointer(error: &ValidationError<'_>) -> String {
    error
        .absolute_keyword_location()
        .and_then(|uri| uri.as_str().split_once('#').map(|(_, f)| percent_decode(f)))
        .unwrap_or_else(|| error.schema_path().as_str().to_owned())
}

impl Spec {
    /// Whether a type failure is one Discord does not make, by the spec's own conventions:
    /// - its README: "Our API accepts strings for int fields if they are parseable as ints", and Discord's docs
    ///   type permissions (`default_member_permissions`) as strings where the spec says integer;
    /// - in requests, a snowflake written as a JSON integer (Discord parses both; serenity 0.12 writes select
    ///   menus' `default_values[].id` as numbers). Answers must carry snowflakes as strings, as Discord's do.
    fn excused(&self, error: &ValidationError<'_>, request: bool) -> bool {
        if !matches!(error.kind(), ValidationErrorKind::Type { .. }) {
            return false;
        }
        let pointer = spec_pointer(error);
        let expects_integer = self.doc.pointer(&pointer).is_some_and(|t| match t {
            Value::String(t) => t == "integer",
            Value::Array(ts) => ts.iter().any(|t| t == "integer"),
            _ => false,
        });
        let instance: &Value = error.instance();
        (expects_integer && instance.as_str().is_some_and(|s| s.parse::<i64>().is_ok()))
            || (request && pointer == "/components/schemas/SnowflakeType/type" && instance.is_u64())
    }

    /// A union failure (`anyOf`/`oneOf` with none valid) says only "not valid under any"; this descends into the
    /// alternative that came closest (the one whose `type` tag fits, then whose failures are deepest in the
    /// instance, then the fewest), so the report names the field that is wrong. A union one of whose alternatives
    /// fails only by [`excused`](Self::excused) failures is satisfied. Every other error is reported as it is.
    fn explain(&self, error: &ValidationError<'_>, request: bool) -> Vec<Mismatch> {
        let context = match error.kind() {
            ValidationErrorKind::AnyOf { context }
            | ValidationErrorKind::OneOfNotValid { context } => Some(context),
            _ => None,
        };
        let Some(context) = context else {
            if self.excused(error, request) {
                return Vec::new();
            }
            return vec![Mismatch {
                operation: String::new(),
                part: String::new(),
                instance_path: error.instance_path().as_str().to_owned(),
                schema_path: spec_pointer(error),
                message: error.masked().to_string(),
            }];
        };
        let explained: Vec<Vec<Mismatch>> = context
            .iter()
            .map(|branch| {
                branch
                    .iter()
                    .flat_map(|e| self.explain(e, request))
                    .collect()
            })
            .collect();
        if explained.iter().any(Vec::is_empty) {
            return Vec::new();
        }
        // Discord's unions are tagged by a `type` field (component types, callback types, option types): an
        // alternative whose tag does not match is not the one the value meant to be.
        let tag = format!("{}/type", error.instance_path().as_str());
        let tag_fits = |branch: &Vec<ValidationError<'static>>| {
            !branch.iter().any(|e| {
                matches!(e.kind().keyword(), "enum" | "const") && e.instance_path().as_str() == tag
            })
        };
        let any_fits = context.iter().any(tag_fits);
        let best = context
            .iter()
            .zip(explained)
            .filter(|(branch, _)| !any_fits || tag_fits(branch))
            .map(|(_, leaves)| leaves)
            .max_by_key(|leaves| {
                let depth = leaves
                    .iter()
                    .map(|l| l.instance_path.matches('/').count())
                    .max()
                    .unwrap_or(0);
                (depth, std::cmp::Reverse(leaves.len()))
            })
            .unwrap_or_default();
        let alternatives = context.len();
        best.into_iter()
            .map(|mut l| {
                if !l.message.ends_with(" alternatives)") {
                    l.message = format!("{} (closest of {alternatives} alternatives)", l.message);
                }
                l
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec() -> &'static Spec {
        Spec::get().expect("the vendored spec parses")
    }

    #[test]
    fn the_vendored_spec_indexes_every_operation() {
        // 150 paths, 242 operations at the pinned commit.
        assert_eq!(spec().operation_count(), 242);
    }

    #[test]
    fn literal_segments_beat_parameters() {
        let s = spec();
        assert_eq!(
            s.operation("GET", "/users/@me")
                .map(|m| m.operation_id().to_owned()),
            Some("get_my_user".to_owned())
        );
        assert_eq!(
            s.operation("GET", "/users/80351110224678912")
                .map(|m| m.operation_id().to_owned()),
            Some("get_user".to_owned())
        );
        assert_eq!(
            s.operation("PATCH", "/webhooks/1/tok/messages/@original")
                .map(|m| m.operation_id().to_owned()),
            Some("update_original_webhook_message".to_owned())
        );
        assert!(s.operation("GET", "/no/such/route").is_none());
    }

    #[test]
    fn fragments_escape_template_braces() {
        assert_eq!(
            fragment("/paths/~1channels~1{channel_id}/get"),
            "/paths/~1channels~1%7Bchannel_id%7D/get"
        );
    }

    #[test]
    fn a_valid_message_passes_and_a_wrong_typed_field_is_named() {
        let s = spec();
        let m = s
            .operation("POST", "/channels/1234/messages")
            .expect("create_message");
        assert!(
            s.check_request(
                &m,
                &[],
                "application/json",
                Some(&json!({"content": "hi", "flags": 4}))
            )
            .is_empty()
        );
        let bad = s.check_request(&m, &[], "application/json", Some(&json!({"content": 5})));
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert_eq!(bad[0].operation, "create_message");
        assert_eq!(bad[0].instance_path, "/content");
        assert_eq!(
            bad[0].schema_path,
            "/components/schemas/MessageCreateRequest/properties/content/type"
        );
    }

    #[test]
    fn an_unknown_callback_type_is_named_through_the_union() {
        let s = spec();
        let m = s
            .operation("POST", "/interactions/1/tok/callback")
            .expect("create_interaction_response");
        assert!(
            s.check_request(
                &m,
                &[],
                "application/json",
                Some(&json!({"type": 4, "data": {"content": "hi", "flags": 64}}))
            )
            .is_empty()
        );
        let bad = s.check_request(&m, &[], "application/json", Some(&json!({"type": 42})));
        assert!(!bad.is_empty());
        assert!(bad.iter().all(|b| b.instance_path == "/type"), "{bad:?}");
    }

    #[test]
    fn query_and_path_parameters_are_checked_from_their_text() {
        let s = spec();
        let m = s
            .operation("POST", "/webhooks/1/tok")
            .expect("execute_webhook");
        let body = json!({"content": "hi"});
        let q = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
        assert!(
            s.check_request(&m, &q("wait", "true"), "application/json", Some(&body))
                .is_empty()
        );
        let bad = s.check_request(&m, &q("wait", "yes"), "application/json", Some(&body));
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert_eq!(bad[0].instance_path, "wait");
        let bad = s.check_request(&m, &q("waiting", "true"), "application/json", Some(&body));
        assert_eq!(bad.len(), 1, "{bad:?}");
        let m = s
            .operation("GET", "/channels/general")
            .expect("get_channel");
        let bad = s.check_request(&m, &[], "", None);
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert_eq!(bad[0].part, "request path");
    }

    #[test]
    fn int_parseable_strings_and_integer_snowflakes_in_requests_are_accepted() {
        let s = spec();
        let m = s
            .operation("PUT", "/applications/1/commands")
            .expect("bulk_set_application_commands");
        let cmd = json!([{"name": "radio", "description": "Radio", "type": 1, "default_member_permissions": "32"}]);
        assert!(
            s.check_request(&m, &[], "application/json", Some(&cmd))
                .is_empty()
        );
        let cmd = json!([{"name": "radio", "description": "Radio", "default_member_permissions": "admin"}]);
        assert_eq!(
            s.check_request(&m, &[], "application/json", Some(&cmd))
                .len(),
            1
        );
        let m = s
            .operation("POST", "/interactions/1/tok/callback")
            .expect("create_interaction_response");
        let select = |id: Value| {
            json!({"type": 4, "data": {"components": [{"type": 1, "components": [{
                "type": 8, "custom_id": "ch", "default_values": [{"id": id, "type": "channel"}]
            }]}]}})
        };
        assert!(
            s.check_request(&m, &[], "application/json", Some(&select(json!(7))))
                .is_empty()
        );
        assert!(
            s.check_request(&m, &[], "application/json", Some(&select(json!("7"))))
                .is_empty()
        );
        let bad = s.check_request(&m, &[], "application/json", Some(&select(json!(-7))));
        assert!(!bad.is_empty());
        // Answers carry snowflakes as strings.
        let m = s.operation("GET", "/users/@me").expect("get_my_user");
        let me = json!({"id": 5, "username": "a", "avatar": null, "discriminator": "0", "public_flags": 0,
                        "flags": 0, "global_name": null, "mfa_enabled": false, "locale": "en-US"});
        let bad = s.check_response(&m, 200, Some(&me));
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert_eq!(bad[0].instance_path, "/id");
    }

    #[test]
    fn multipart_payload_json_is_judged_by_the_multipart_schema() {
        let s = spec();
        let m = s
            .operation("POST", "/webhooks/1/tok")
            .expect("execute_webhook");
        let ct = "multipart/form-data; boundary=XyZ";
        assert!(
            s.check_request(&m, &[], ct, Some(&json!({"content": "hi"})))
                .is_empty()
        );
        let bad = s.check_request(
            &m,
            &[],
            ct,
            Some(&json!({"content": "hi", "flags": "ephemeral"})),
        );
        assert!(bad.iter().any(|b| b.instance_path == "/flags"), "{bad:?}");
    }

    #[test]
    fn bodies_where_none_belongs_and_missing_bodies_are_reported() {
        let s = spec();
        let m = s
            .operation("POST", "/channels/1/messages")
            .expect("create_message");
        assert_eq!(s.check_request(&m, &[], "", None).len(), 1);
        let m = s.operation("GET", "/gateway/bot").expect("get_bot_gateway");
        assert_eq!(
            s.check_request(&m, &[], "application/json", Some(&json!({})))
                .len(),
            1
        );
        let m = s
            .operation("PUT", "/applications/1/commands")
            .expect("bulk_set");
        let bad = s.check_request(&m, &[], "text/plain", Some(&json!([])));
        assert_eq!(bad.len(), 1, "{bad:?}");
    }

    #[test]
    fn responses_are_checked_by_status_and_schema() {
        let s = spec();
        let m = s.operation("GET", "/gateway/bot").expect("get_bot_gateway");
        let good = json!({
            "url": "wss://gateway.discord.gg",
            "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 14_400_000, "max_concurrency": 1}
        });
        assert!(s.check_response(&m, 200, Some(&good)).is_empty());
        let bad = s.check_response(
            &m,
            200,
            Some(&json!({"url": "wss://gateway.discord.gg", "shards": "one"})),
        );
        assert!(bad.iter().any(|b| b.instance_path == "/shards"), "{bad:?}");
        assert!(
            bad.iter()
                .any(|b| b.message.contains("session_start_limit")),
            "{bad:?}"
        );
        // 204 is not a status of get_bot_gateway; 4XX takes Discord's error body.
        assert_eq!(s.check_response(&m, 204, None).len(), 1);
        assert!(
            s.check_response(
                &m,
                404,
                Some(&json!({"message": "404: Not Found", "code": 0}))
            )
            .is_empty()
        );
        assert_eq!(
            s.check_response(&m, 401, Some(&json!({"message": "no"})))
                .len(),
            1
        );
        let m = s
            .operation("POST", "/channels/1/typing")
            .expect("trigger_typing");
        assert!(s.check_response(&m, 204, None).is_empty());
        assert_eq!(s.check_response(&m, 204, Some(&json!({}))).len(), 1);
        assert!(s.check_response(&m, 503, None).is_empty());
    }
}
