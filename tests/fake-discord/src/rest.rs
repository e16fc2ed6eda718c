//! The REST API under `/api/v10`, as serenity reaches it through `HttpBuilder::proxy`.
//!
//! One handler sees every request: it checks the bot token, records the request, applies injected faults (429 and
//! friends), routes, and answers with Discord's status codes, error bodies and rate-limit headers. Interaction
//! callbacks follow Discord's rules (one initial response, within the deadline, of a type valid for the interaction);
//! unknown routes answer 404 and are recorded as violations, which fail the test when the fake is dropped.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::Shared;
use crate::fixtures;
use crate::spec::Spec;
use crate::state::{Callback, FaultKind, MessageRecord, RecordedRequest, State, message_flags};

/// Requests per bucket window advertised in the rate-limit headers.
const BUCKET_LIMIT: u32 = 5;
/// Length of a bucket window.
const BUCKET_WINDOW: Duration = Duration::from_secs(5);

pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| handle(shared.clone(), req));
            // A bot that drops a keep-alive connection mid-request is not the fake's problem.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// A route's answer before headers are added.
struct Answer {
    status: u16,
    body: Option<Value>,
    route: Option<String>,
    retry_after: Option<(Duration, bool)>,
}

impl Answer {
    fn ok(route: &str, body: Value) -> Self {
        Self {
            status: 200,
            body: Some(body),
            route: Some(route.to_owned()),
            retry_after: None,
        }
    }
    fn no_content(route: &str) -> Self {
        Self {
            status: 204,
            body: None,
            route: Some(route.to_owned()),
            retry_after: None,
        }
    }
    fn error(route: Option<&str>, status: u16, code: u32, message: &str) -> Self {
        Self {
            status,
            body: Some(json!({"message": message, "code": code})),
            route: route.map(str::to_owned),
            retry_after: None,
        }
    }
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().as_str().to_owned();
    let full_path = req.uri().path().to_owned();
    let query = parse_query(req.uri().query().unwrap_or(""));
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let auth = header("authorization");
    let user_agent = header("user-agent");
    let content_type = header("content-type").unwrap_or_default();
    let raw = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let parsed = parse_body(&content_type, &raw);
    // Discord's OpenAPI spec judges the request before the fake answers it (outside the state lock: a validator
    // is compiled on an operation's first use).
    let api_path = full_path.strip_prefix("/api/v10").map(str::to_owned);
    let spec_request = match (&api_path, &parsed) {
        (Some(path), Ok(body)) => Some(spec_request(
            &method,
            path,
            &query,
            &content_type,
            body.as_ref(),
        )),
        _ => None,
    };

    // One update: the answer, its rate-limit headers and the log entry become visible together, so a test woken
    // by the answer's side effects (e.g. commands registered) also sees the request.
    let (answer, headers) = shared.hub.update(|st| {
        let (answer, body, path) = match full_path.strip_prefix("/api/v10") {
            None => {
                st.violation(format!(
                    "REST request outside /api/v10: {method} {full_path}"
                ));
                (
                    Answer::error(None, 404, 0, "404: Not Found"),
                    None,
                    full_path.clone(),
                )
            }
            Some(path) => match parsed {
                Err(e) => {
                    st.violation(format!("{method} {path}: {e}"));
                    (
                        Answer::error(None, 400, 50_109, "The request body contains invalid JSON."),
                        None,
                        path.to_owned(),
                    )
                }
                Ok(body) => (
                    respond(st, &shared, &method, path, body.as_ref(), auth.as_deref()),
                    body,
                    path.to_owned(),
                ),
            },
        };
        record_spec_request(st, spec_request, &answer);
        let headers = answer
            .route
            .as_ref()
            .map(|r| rate_limit_headers(st, r, answer.retry_after))
            .unwrap_or_default();
        st.requests.push(RecordedRequest {
            method: method.clone(),
            path,
            route: answer.route.clone(),
            query,
            body,
            status: answer.status,
            user_agent,
            at: Instant::now(),
        });
        (answer, headers)
    });

    // The answer is judged too, and recorded before the bot can react to it.
    if let Some(path) = &api_path {
        judge_response(&shared, &method, path, &answer);
    }

    let mut builder =
        Response::builder().status(StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK));
    for (k, v) in headers {
        builder = builder.header(k, v);
    }
    let bytes = answer
        .body
        .as_ref()
        .map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
    if answer.body.is_some() {
        builder = builder.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    let response = builder
        .body(Full::new(bytes))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())));
    Ok(response)
}

/// What Discord's OpenAPI spec says about a request.
enum SpecRequest {
    /// No operation of the spec has this method and path.
    NoOperation(String),
    /// The request's mismatches with its operation, as violation messages.
    Checked(Vec<String>),
}

fn spec_request(
    method: &str,
    path: &str,
    query: &[(String, String)],
    content_type: &str,
    body: Option<&Value>,
) -> SpecRequest {
    let spec = match Spec::get() {
        Ok(spec) => spec,
        Err(e) => return SpecRequest::Checked(vec![format!("Discord's OpenAPI spec: {e}")]),
    };
    match spec.operation(method, path) {
        None => SpecRequest::NoOperation(format!(
            "Discord's OpenAPI spec has no operation for {method} /api/v10{path}"
        )),
        Some(op) => SpecRequest::Checked(
            spec.check_request(&op, query, content_type, body)
                .iter()
                .map(ToString::to_string)
                .collect(),
        ),
    }
}

fn spec_response(method: &str, path: &str, status: u16, body: Option<&Value>) -> Vec<String> {
    let Ok(spec) = Spec::get() else {
        return Vec::new(); // already reported for the request
    };
    spec.operation(method, path)
        .map(|op| {
            spec.check_response(&op, status, body)
                .iter()
                .map(ToString::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Records what the spec said about a request, with the answer the fake gave it.
fn record_spec_request(st: &mut State, verdict: Option<SpecRequest>, answer: &Answer) {
    match verdict {
        // The route table already reported an unknown route; the spec agrees it does not exist.
        Some(SpecRequest::NoOperation(_)) if answer.route.is_none() && answer.status == 404 => {}
        Some(SpecRequest::NoOperation(why)) => st.violation(why),
        Some(SpecRequest::Checked(mismatches)) => {
            for m in mismatches {
                st.violation(m);
            }
        }
        None => {}
    }
}

/// Checks the fake's answer against the operation's responses and records the mismatches.
fn judge_response(shared: &Shared, method: &str, path: &str, answer: &Answer) {
    let mismatches = spec_response(method, path, answer.status, answer.body.as_ref());
    if !mismatches.is_empty() {
        shared.hub.update(|st| {
            for m in mismatches {
                st.violation(m);
            }
        });
    }
}

/// serenity appends query parameters as `?&k=v`, so empty pairs are skipped.
fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// JSON bodies as they are; multipart bodies (messages with files) by their `payload_json` part.
fn parse_body(content_type: &str, raw: &[u8]) -> Result<Option<Value>, String> {
    if raw.is_empty() {
        return Ok(None);
    }
    if let Some(boundary) = content_type.split("boundary=").nth(1) {
        let boundary = boundary.trim_matches('"');
        let text = String::from_utf8_lossy(raw);
        for part in text.split(&format!("--{boundary}")) {
            let Some((head, content)) = part.split_once("\r\n\r\n") else {
                continue;
            };
            if head.contains("name=\"payload_json\"") {
                let content = content.trim_end_matches("\r\n");
                return serde_json::from_str(content)
                    .map(Some)
                    .map_err(|e| format!("payload_json is not JSON: {e}"));
            }
        }
        return Ok(None);
    }
    serde_json::from_slice(raw)
        .map(Some)
        .map_err(|e| format!("body is not JSON: {e}"))
}

fn rate_limit_headers(
    st: &mut State,
    route: &str,
    retry_after: Option<(Duration, bool)>,
) -> Vec<(String, String)> {
    let now = Instant::now();
    let (start, used) = st.buckets.entry(route.to_owned()).or_insert((now, 0));
    if now.duration_since(*start) >= BUCKET_WINDOW {
        *start = now;
        *used = 0;
    }
    *used += 1;
    let reset_after = BUCKET_WINDOW.saturating_sub(now.duration_since(*start));
    let reset_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        + reset_after;
    let mut h = vec![
        ("x-ratelimit-limit".to_owned(), BUCKET_LIMIT.to_string()),
        (
            "x-ratelimit-remaining".to_owned(),
            BUCKET_LIMIT.saturating_sub(*used).to_string(),
        ),
        (
            "x-ratelimit-reset".to_owned(),
            format!("{:.3}", reset_at.as_secs_f64()),
        ),
        (
            "x-ratelimit-reset-after".to_owned(),
            format!("{:.3}", reset_after.as_secs_f64()),
        ),
        (
            "x-ratelimit-bucket".to_owned(),
            format!("{:016x}", fnv(route)),
        ),
    ];
    if let Some((after, global)) = retry_after {
        h.push((
            "retry-after".to_owned(),
            after.as_secs_f64().ceil().to_string(),
        ));
        h.push((
            "x-ratelimit-scope".to_owned(),
            if global { "global" } else { "user" }.to_owned(),
        ));
        if global {
            h.push(("x-ratelimit-global".to_owned(), "true".to_owned()));
        }
    }
    h
}

/// A stable, opaque bucket id per route, like Discord's hashes.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Routes that authenticate with the interaction token in the path, not the bot token.
fn token_routed(path: &str) -> bool {
    path.starts_with("/interactions/") || path.starts_with("/webhooks/")
}

fn respond(
    st: &mut State,
    shared: &Shared,
    method: &str,
    path: &str,
    body: Option<&Value>,
    auth: Option<&str>,
) -> Answer {
    if !token_routed(path) && auth != Some(format!("Bot {}", st.world.token).as_str()) {
        st.violation(format!(
            "{method} {path} without the bot token in `Authorization: Bot <token>`"
        ));
        return Answer::error(None, 401, 0, "401: Unauthorized");
    }
    if let Some(i) = st.faults.iter().position(|f| {
        f.method.as_deref().is_none_or(|m| m == method) && path.contains(&f.path_contains)
    }) {
        let fault = &mut st.faults[i];
        fault.remaining -= 1;
        let kind = fault.kind.clone();
        if fault.remaining == 0 {
            st.faults.remove(i);
        }
        let route = route_name(method, path);
        return match kind {
            FaultKind::RateLimited {
                retry_after,
                global,
            } => Answer {
                status: 429,
                body: Some(json!({
                    "message": "You are being rate limited.",
                    "retry_after": retry_after.as_secs_f64(),
                    "global": global,
                })),
                route: Some(route),
                retry_after: Some((retry_after, global)),
            },
            FaultKind::Status {
                status,
                code,
                message,
            } => Answer::error(Some(&route), status, code, &message),
        };
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let answer = route(st, shared, method, &segments, body);
    if answer.route.is_none() && answer.status == 404 {
        st.violation(format!("unknown route: {method} /api/v10{path}"));
    }
    answer
}

/// The route template for a path, used for buckets and the request log.
fn route_name(method: &str, path: &str) -> String {
    let templ: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .enumerate()
        .map(|(i, s)| {
            if s.chars().all(|c| c.is_ascii_digit()) && !s.is_empty() {
                "{id}".to_owned()
            } else if i == 2
                && (path.starts_with("/interactions/") || path.starts_with("/webhooks/"))
            {
                "{token}".to_owned()
            } else {
                s.to_owned()
            }
        })
        .collect();
    format!("{method} /{}", templ.join("/"))
}

fn id(s: &str) -> Option<u64> {
    s.parse().ok()
}

#[allow(clippy::too_many_lines)] // One flat table of Discord's routes reads better than a dispatch tree.
fn route(
    st: &mut State,
    shared: &Shared,
    method: &str,
    seg: &[&str],
    body: Option<&Value>,
) -> Answer {
    let app = st.world.application_id;
    let r = |name: &str| format!("{method} {name}");
    match (method, seg) {
        ("GET", ["gateway"]) => Answer::ok(&r("/gateway"), fixtures::gateway(&shared.gateway_url)),
        ("GET", ["gateway", "bot"]) => Answer::ok(
            &r("/gateway/bot"),
            fixtures::gateway_bot_sharded(
                &shared.gateway_url,
                st.gateway.limits.shards,
                st.gateway.limits.max_concurrency,
            ),
        ),
        ("GET", ["users", "@me"]) => {
            Answer::ok(&r("/users/@me"), fixtures::current_user(&st.world))
        }
        ("GET", ["oauth2", "applications", "@me"] | ["applications", "@me"]) => Answer::ok(
            &r("/oauth2/applications/@me"),
            fixtures::application_info(&st.world),
        ),
        ("GET", ["users", uid]) => {
            let user = id(uid).and_then(|u| {
                st.world
                    .guilds
                    .values()
                    .find_map(|g| g.members.get(&u))
                    .map(|m| fixtures::user(&m.user))
            });
            match user {
                Some(u) => Answer::ok(&r("/users/{id}"), u),
                None => Answer::error(Some(&r("/users/{id}")), 404, 10_013, "Unknown User"),
            }
        }
        (_, ["applications", a, "commands", rest @ ..]) => {
            if id(a) != Some(app) {
                return Answer::error(
                    Some(&r("/applications/{id}/commands")),
                    403,
                    50_001,
                    "Missing Access",
                );
            }
            commands(st, method, None, rest, body)
        }
        (_, ["applications", a, "guilds", g, "commands", rest @ ..]) => {
            let route = r("/applications/{id}/guilds/{id}/commands");
            if id(a) != Some(app) {
                return Answer::error(Some(&route), 403, 50_001, "Missing Access");
            }
            if let Some(g) = id(g).filter(|g| st.world.guilds.contains_key(g)) {
                commands(st, method, Some(g), rest, body)
            } else {
                st.violation(format!(
                    "command registration in guild {g}, which the bot is not in"
                ));
                Answer::error(Some(&route), 403, 50_001, "Missing Access")
            }
        }
        ("POST", ["interactions", iid, token, "callback"]) => callback(st, iid, token, body),
        ("POST", ["webhooks", a, token]) if id(a) == Some(app) => followup(st, token, body),
        (_, ["webhooks", a, token, "messages", mid]) if id(a) == Some(app) => {
            webhook_message(st, method, token, mid, body)
        }
        ("GET", ["channels", c]) => {
            match id(c).and_then(|c| {
                st.world
                    .guilds
                    .values()
                    .find_map(|g| g.channel(c).map(|ch| fixtures::channel(ch, g.id)))
            }) {
                Some(ch) => Answer::ok(&r("/channels/{id}"), ch),
                None => Answer::error(Some(&r("/channels/{id}")), 404, 10_003, "Unknown Channel"),
            }
        }
        ("POST", ["channels", _, "typing"]) => Answer::no_content(&r("/channels/{id}/typing")),
        ("POST", ["channels", c, "messages"]) => channel_message_create(st, c, body),
        (_, ["channels", c, "messages", m]) => channel_message(st, method, c, m, body),
        ("GET", ["guilds", g, rest @ ..]) => guild_read(st, g, rest),
        _ => Answer {
            status: 404,
            body: Some(json!({"message": "404: Not Found", "code": 0})),
            route: None,
            retry_after: None,
        },
    }
}

fn guild_read(st: &State, g: &str, rest: &[&str]) -> Answer {
    let Some(guild) = id(g).and_then(|g| st.world.guilds.get(&g)) else {
        return Answer::error(Some("GET /guilds/{id}"), 404, 10_004, "Unknown Guild");
    };
    match rest {
        [] => Answer::ok("GET /guilds/{id}", guild_rest(guild, &st.world)),
        ["channels"] => Answer::ok(
            "GET /guilds/{id}/channels",
            Value::Array(
                guild
                    .channels
                    .iter()
                    .map(|c| fixtures::channel(c, guild.id))
                    .collect(),
            ),
        ),
        ["roles"] => Answer::ok(
            "GET /guilds/{id}/roles",
            Value::Array(guild.roles.iter().map(fixtures::role).collect()),
        ),
        ["members", u] => {
            let m = id(u).and_then(|u| {
                if u == st.world.bot.id {
                    Some(st.world.bot_member())
                } else {
                    guild.members.get(&u).cloned()
                }
            });
            match m {
                Some(m) => Answer::ok("GET /guilds/{id}/members/{id}", fixtures::member(&m)),
                None => Answer::error(
                    Some("GET /guilds/{id}/members/{id}"),
                    404,
                    10_007,
                    "Unknown Member",
                ),
            }
        }
        _ => Answer {
            status: 404,
            body: Some(json!({"message": "404: Not Found", "code": 0})),
            route: None,
            retry_after: None,
        },
    }
}

/// `GET /guilds/{id}` as Discord answers it: the guild object without GUILD_CREATE's gateway-only fields (members,
/// channels, voice states, …), with the REST-only ones Discord's spec (GuildWithCountsResponse) requires.
fn guild_rest(guild: &crate::world::Guild, world: &crate::world::World) -> Value {
    let mut v = fixtures::guild_create(guild, world, None);
    if let Some(o) = v.as_object_mut() {
        for gateway_only in [
            "joined_at",
            "large",
            "unavailable",
            "member_count",
            "voice_states",
            "members",
            "channels",
            "threads",
            "presences",
            "stage_instances",
            "guild_scheduled_events",
            "soundboard_sounds",
        ] {
            o.remove(gateway_only);
        }
        for (k, val) in [
            ("home_header", Value::Null),
            ("region", json!("deprecated")),
            ("widget_enabled", json!(false)),
            ("widget_channel_id", Value::Null),
            ("max_presences", Value::Null),
            ("max_stage_video_channel_users", json!(50)),
            ("max_video_channel_users", json!(25)),
            ("safety_alerts_channel_id", Value::Null),
            ("nsfw", json!(false)),
            ("incidents_data", Value::Null),
        ] {
            o.entry(k).or_insert(val);
        }
    }
    v
}

/// Discord's checks on a command definition (chat-input names, lengths, option counts and order).
pub(crate) fn validate_command(def: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let kind = def.get("type").and_then(Value::as_u64).unwrap_or(1);
    let name = def.get("name").and_then(Value::as_str).unwrap_or("");
    check_name(&mut problems, "command", name, kind == 1);
    if kind == 1 {
        let desc = def.get("description").and_then(Value::as_str).unwrap_or("");
        if desc.is_empty() || desc.chars().count() > 100 {
            problems.push(format!(
                "/{name}: description must be 1-100 characters, got {desc:?}"
            ));
        }
    }
    check_options(&mut problems, name, def.get("options"));
    problems
}

fn check_name(problems: &mut Vec<String>, what: &str, name: &str, chat_input: bool) {
    let ok_chars = name
        .chars()
        .all(|c| c == '-' || c == '_' || c.is_alphanumeric());
    let len = name.chars().count();
    if !(1..=32).contains(&len)
        || (chat_input && (!ok_chars || name.chars().any(char::is_uppercase)))
    {
        problems.push(format!(
            "{what} name {name:?} must be 1-32 lowercase letters, digits, '-' or '_'"
        ));
    }
}

fn check_options(problems: &mut Vec<String>, path: &str, options: Option<&Value>) {
    let Some(options) = options.and_then(Value::as_array) else {
        return;
    };
    if options.len() > 25 {
        problems.push(format!(
            "/{path}: at most 25 options, got {}",
            options.len()
        ));
    }
    let mut optional_seen = false;
    for o in options {
        let name = o.get("name").and_then(Value::as_str).unwrap_or("");
        check_name(problems, "option", name, true);
        let desc = o.get("description").and_then(Value::as_str).unwrap_or("");
        if desc.is_empty() || desc.chars().count() > 100 {
            problems.push(format!(
                "/{path} {name}: description must be 1-100 characters"
            ));
        }
        let kind = o.get("type").and_then(Value::as_u64).unwrap_or(0);
        if kind == 1 || kind == 2 {
            check_options(problems, &format!("{path} {name}"), o.get("options"));
            continue;
        }
        let required = o.get("required").and_then(Value::as_bool).unwrap_or(false);
        if required && optional_seen {
            problems.push(format!(
                "/{path}: required option {name:?} after an optional one"
            ));
        }
        optional_seen |= !required;
        if let Some(choices) = o.get("choices").and_then(Value::as_array) {
            if choices.len() > 25 {
                problems.push(format!("/{path} {name}: at most 25 choices"));
            }
            if o.get("autocomplete").and_then(Value::as_bool) == Some(true) && !choices.is_empty() {
                problems.push(format!(
                    "/{path} {name}: autocomplete and choices are exclusive"
                ));
            }
        }
    }
}

#[allow(clippy::too_many_lines)] // Discord's command CRUD, one arm per method, kept together.
fn commands(
    st: &mut State,
    method: &str,
    guild: Option<u64>,
    rest: &[&str],
    body: Option<&Value>,
) -> Answer {
    let app = st.world.application_id;
    let route = match guild {
        Some(_) => format!("{method} /applications/{{id}}/guilds/{{id}}/commands"),
        None => format!("{method} /applications/{{id}}/commands"),
    };
    let current = match guild {
        Some(g) => st.commands.guild.get(&g).cloned().unwrap_or_default(),
        None => st.commands.global.clone(),
    };
    let registered = |st: &mut State, def: &Value, current: &[Value]| {
        // Discord keeps a command's id when a definition with the same name and type is overwritten.
        let name = def.get("name").cloned();
        let existing = current.iter().find(|c| c.get("name") == name.as_ref());
        let id = existing
            .and_then(|c| c["id"].as_str())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| st.snowflake());
        fixtures::registered_command(def, id, app, guild, st.snowflake())
    };
    let store = |st: &mut State, list: Vec<Value>| {
        st.commands.registrations += 1;
        match guild {
            Some(g) => {
                st.commands.guild.insert(g, list);
            }
            None => st.commands.global = list,
        }
    };
    match (method, rest) {
        ("GET", []) => Answer::ok(&route, Value::Array(current)),
        ("PUT", []) => {
            let Some(defs) = body.and_then(Value::as_array) else {
                st.violation("bulk command overwrite without a JSON array body");
                return Answer::error(Some(&route), 400, 50_035, "Invalid Form Body");
            };
            if defs.len() > 100 {
                st.violation(format!(
                    "{} commands registered; Discord allows 100",
                    defs.len()
                ));
                return Answer::error(Some(&route), 400, 50_035, "Invalid Form Body");
            }
            let problems: Vec<String> = defs.iter().flat_map(validate_command).collect();
            if !problems.is_empty() {
                st.violation(format!("invalid command definitions: {problems:?}"));
                return Answer::error(Some(&route), 400, 50_035, "Invalid Form Body");
            }
            let list: Vec<Value> = defs.iter().map(|d| registered(st, d, &current)).collect();
            store(st, list.clone());
            Answer::ok(&route, Value::Array(list))
        }
        ("POST", []) => {
            let Some(def) = body else {
                return Answer::error(Some(&route), 400, 50_035, "Invalid Form Body");
            };
            let problems = validate_command(def);
            if !problems.is_empty() {
                st.violation(format!("invalid command definition: {problems:?}"));
                return Answer::error(Some(&route), 400, 50_035, "Invalid Form Body");
            }
            let cmd = registered(st, def, &current);
            let mut list: Vec<Value> = current
                .into_iter()
                .filter(|c| c.get("name") != def.get("name"))
                .collect();
            list.push(cmd.clone());
            store(st, list);
            Answer::ok(&route, cmd)
        }
        (_, [cid]) => {
            let route = format!("{route}/{{id}}");
            let pos = current.iter().position(|c| c["id"].as_str() == Some(cid));
            match (method, pos) {
                (_, None) => {
                    Answer::error(Some(&route), 404, 10_063, "Unknown application command")
                }
                ("GET", Some(i)) => Answer::ok(&route, current[i].clone()),
                ("DELETE", Some(i)) => {
                    let mut list = current;
                    list.remove(i);
                    store(st, list);
                    Answer::no_content(&route)
                }
                ("PATCH", Some(i)) => {
                    let mut list = current;
                    if let (Some(Value::Object(patch)), Value::Object(cmd)) = (body, &mut list[i]) {
                        for (k, v) in patch {
                            cmd.insert(k.clone(), v.clone());
                        }
                    }
                    let cmd = list[i].clone();
                    store(st, list);
                    Answer::ok(&route, cmd)
                }
                _ => Answer {
                    status: 405,
                    body: Some(json!({"message": "405: Method Not Allowed", "code": 0})),
                    route: None,
                    retry_after: None,
                },
            }
        }
        _ => Answer {
            status: 404,
            body: Some(json!({"message": "404: Not Found", "code": 0})),
            route: None,
            retry_after: None,
        },
    }
}

/// Discord's limits on a message body: content, embeds, components.
fn validate_message(body: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(c) = body.get("content").and_then(Value::as_str)
        && c.chars().count() > 2000
    {
        problems.push(format!(
            "content is {} characters; Discord allows 2000",
            c.chars().count()
        ));
    }
    if let Some(embeds) = body.get("embeds").and_then(Value::as_array) {
        if embeds.len() > 10 {
            problems.push(format!("{} embeds; Discord allows 10", embeds.len()));
        }
        let total: usize = embeds.iter().map(embed_chars).sum();
        if total > 6000 {
            problems.push(format!(
                "embeds total {total} characters; Discord allows 6000"
            ));
        }
    }
    if let Some(rows) = body.get("components").and_then(Value::as_array) {
        if rows.len() > 5 {
            problems.push(format!("{} component rows; Discord allows 5", rows.len()));
        }
        for c in rows.iter().flat_map(|r| {
            r.get("components")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        }) {
            if let Some(id) = c.get("custom_id").and_then(Value::as_str)
                && id.chars().count() > 100
            {
                problems.push(format!("custom_id {id:?} is longer than 100 characters"));
            }
        }
    }
    problems
}

fn embed_chars(e: &Value) -> usize {
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map_or(0, |s| s.chars().count());
    let fields: usize = e.get("fields").and_then(Value::as_array).map_or(0, |fs| {
        fs.iter()
            .map(|f| s(f.get("name")) + s(f.get("value")))
            .sum()
    });
    s(e.get("title"))
        + s(e.get("description"))
        + s(e.get("footer").and_then(|f| f.get("text")))
        + s(e.get("author").and_then(|a| a.get("name")))
        + fields
}

/// Applies the message fields of a create/edit body (content, embeds, components, flags) to a stored message.
fn apply_message_fields(m: &mut MessageRecord, body: &Value) {
    if let Some(c) = body.get("content") {
        c.as_str().unwrap_or("").clone_into(&mut m.content);
    }
    if let Some(e) = body.get("embeds") {
        m.embeds = if e.is_null() {
            json!([])
        } else {
            let mut embeds = e.clone();
            // Discord stores a bot's embeds as `rich` ones and says so in every answer.
            for embed in embeds.as_array_mut().into_iter().flatten() {
                if let Some(o) = embed.as_object_mut() {
                    o.entry("type").or_insert(json!("rich"));
                }
            }
            embeds
        };
    }
    if let Some(c) = body.get("components") {
        m.components = if c.is_null() {
            json!([])
        } else {
            fixtures::components_as_returned(c)
        };
    }
}

fn new_message(
    st: &mut State,
    channel_id: u64,
    guild_id: Option<u64>,
    kind: u8,
    webhook: bool,
) -> MessageRecord {
    MessageRecord {
        id: st.snowflake(),
        channel_id,
        guild_id,
        author: st.world.bot.clone(),
        content: String::new(),
        embeds: json!([]),
        components: json!([]),
        flags: 0,
        kind,
        interaction_id: None,
        webhook_id: webhook.then_some(st.world.application_id),
        timestamp: fixtures::iso8601(SystemTime::now()),
        edited_timestamp: None,
        deleted: false,
        edits: 0,
    }
}

fn invalid_body(st: &mut State, route: &str, what: &str, problems: &[String]) -> Answer {
    st.violation(format!("{what}: {problems:?}"));
    Answer::error(Some(route), 400, 50_035, "Invalid Form Body")
}

#[allow(clippy::too_many_lines)] // Discord's acknowledgement rules in order: known, once, on time, valid type, valid body.
fn callback(st: &mut State, iid: &str, token: &str, body: Option<&Value>) -> Answer {
    const ROUTE: &str = "POST /interactions/{id}/{token}/callback";
    let deadline = st.interaction_deadline;
    let Some(ix) = id(iid)
        .and_then(|i| st.interactions.get(&i))
        .filter(|ix| ix.token == token)
        .cloned()
    else {
        st.violation(format!("callback for unknown interaction {iid}"));
        return Answer::error(Some(ROUTE), 404, 10_062, "Unknown interaction");
    };
    let kind = body
        .and_then(|b| b.get("type"))
        .and_then(Value::as_u64)
        .unwrap_or(0) as u8;
    let data = body
        .and_then(|b| b.get("data"))
        .cloned()
        .unwrap_or(Value::Null);
    let latency = ix.dispatched_at.elapsed();
    let reject = |st: &mut State, kind: u8, status: u16, code: u32, msg: &str, why: String| {
        st.violation(why);
        if let Some(ix) = st.interactions.get_mut(&ix.id) {
            ix.rejected.push((kind, code));
        }
        Answer::error(Some(ROUTE), status, code, msg)
    };
    if let Some(prev) = &ix.callback {
        let why = format!(
            "interaction {iid} acknowledged twice (type {} then type {kind})",
            prev.kind
        );
        return reject(
            st,
            kind,
            400,
            40_060,
            "Interaction has already been acknowledged.",
            why,
        );
    }
    if latency > deadline {
        let why =
            format!("interaction {iid} answered after {latency:?}; Discord allows {deadline:?}");
        return reject(st, kind, 404, 10_062, "Unknown interaction", why);
    }
    let allowed: &[u8] = match ix.kind {
        2 => &[4, 5, 9],
        3 => &[4, 5, 6, 7, 9],
        4 => &[8],
        5 => &[4, 5, 6, 7],
        _ => &[],
    };
    if !allowed.contains(&kind) {
        let why = format!(
            "callback type {kind} is not valid for interaction type {} (valid: {allowed:?})",
            ix.kind
        );
        return reject(st, kind, 400, 50_035, "Invalid Form Body", why);
    }
    let mut problems = validate_message(&data);
    if kind == 8 {
        let choices = data
            .get("choices")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if choices.len() > 25 {
            problems.push(format!(
                "{} autocomplete choices; Discord allows 25",
                choices.len()
            ));
        }
        for c in &choices {
            let name = c.get("name").and_then(Value::as_str).unwrap_or("");
            if name.is_empty() || name.chars().count() > 100 {
                problems.push(format!("choice name {name:?} must be 1-100 characters"));
            }
            if c.get("value")
                .and_then(Value::as_str)
                .is_some_and(|v| v.chars().count() > 100)
            {
                problems.push(format!(
                    "choice value for {name:?} is longer than 100 characters"
                ));
            }
        }
    }
    if kind == 9 {
        let ok = data
            .get("custom_id")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
            && data
                .get("title")
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty() && s.chars().count() <= 45)
            && data
                .get("components")
                .and_then(Value::as_array)
                .is_some_and(|c| (1..=5).contains(&c.len()));
        if !ok {
            problems
                .push("a modal needs a custom_id, a 1-45 character title and 1-5 rows".to_owned());
        }
    }
    if !problems.is_empty() {
        let why = format!("interaction {iid} callback type {kind}: {problems:?}");
        return reject(st, kind, 400, 50_035, "Invalid Form Body", why);
    }
    let flags = data.get("flags").and_then(Value::as_u64).unwrap_or(0);
    let mut original = None;
    match kind {
        4 | 5 => {
            let mut m = new_message(
                st,
                ix.channel_id,
                Some(ix.guild_id),
                if ix.kind == 2 { 20 } else { 19 },
                true,
            );
            m.interaction_id = Some(ix.id);
            m.flags = flags & message_flags::EPHEMERAL;
            if kind == 4 {
                apply_message_fields(&mut m, &data);
            } else {
                m.flags |= message_flags::LOADING;
            }
            original = Some(m.id);
            st.messages.insert(m.id, m);
        }
        7 => {
            if let Some(m) = ix.source_message.and_then(|id| st.messages.get_mut(&id)) {
                apply_message_fields(m, &data);
                m.edits += 1;
                m.edited_timestamp = Some(fixtures::iso8601(SystemTime::now()));
            }
            original = ix.source_message;
        }
        6 => original = ix.source_message,
        _ => {}
    }
    if let Some(rec) = st.interactions.get_mut(&ix.id) {
        rec.callback = Some(Callback {
            kind,
            data,
            latency,
        });
        rec.original_message = original;
    }
    Answer::no_content(ROUTE)
}

fn interaction_by_token(st: &State, token: &str) -> Option<u64> {
    st.interactions
        .values()
        .find(|i| i.token == token)
        .map(|i| i.id)
}

fn followup(st: &mut State, token: &str, body: Option<&Value>) -> Answer {
    const ROUTE: &str = "POST /webhooks/{id}/{token}";
    let Some(ix) = interaction_by_token(st, token)
        .and_then(|i| st.interactions.get(&i))
        .cloned()
    else {
        st.violation("follow-up for an unknown interaction token");
        return Answer::error(Some(ROUTE), 404, 10_015, "Unknown Webhook");
    };
    if ix.callback.is_none() {
        st.violation(format!(
            "follow-up to interaction {} before its initial response",
            ix.id
        ));
        return Answer::error(Some(ROUTE), 404, 10_015, "Unknown Webhook");
    }
    let body = body.cloned().unwrap_or(Value::Null);
    let problems = validate_message(&body);
    if !problems.is_empty() {
        return invalid_body(st, ROUTE, "follow-up message", &problems);
    }
    let mut m = new_message(st, ix.channel_id, Some(ix.guild_id), 19, true);
    m.interaction_id = Some(ix.id);
    m.flags = body.get("flags").and_then(Value::as_u64).unwrap_or(0) & message_flags::EPHEMERAL;
    apply_message_fields(&mut m, &body);
    let json = m.json();
    if let Some(rec) = st.interactions.get_mut(&ix.id) {
        rec.followups.push(m.id);
    }
    st.messages.insert(m.id, m);
    Answer::ok(ROUTE, json)
}

fn webhook_message(
    st: &mut State,
    method: &str,
    token: &str,
    mid: &str,
    body: Option<&Value>,
) -> Answer {
    let route = format!(
        "{method} /webhooks/{{id}}/{{token}}/messages/{}",
        if mid == "@original" {
            "@original"
        } else {
            "{id}"
        }
    );
    let Some(ix) = interaction_by_token(st, token)
        .and_then(|i| st.interactions.get(&i))
        .cloned()
    else {
        st.violation(format!(
            "{method} on a webhook message of an unknown interaction token"
        ));
        return Answer::error(Some(&route), 404, 10_015, "Unknown Webhook");
    };
    let target = if mid == "@original" {
        ix.original_message
    } else {
        id(mid).filter(|m| ix.followups.contains(m) || ix.original_message == Some(*m))
    };
    let Some(target) = target.filter(|m| st.messages.get(m).is_some_and(|m| !m.deleted)) else {
        st.violation(format!(
            "{method} {mid} of interaction {}: no such response message",
            ix.id
        ));
        return Answer::error(Some(&route), 404, 10_008, "Unknown Message");
    };
    match method {
        "GET" => Answer::ok(&route, st.messages[&target].json()),
        "PATCH" => {
            let body = body.cloned().unwrap_or(Value::Null);
            let problems = validate_message(&body);
            if !problems.is_empty() {
                return invalid_body(st, &route, "message edit", &problems);
            }
            let Some(m) = st.messages.get_mut(&target) else {
                return Answer::error(Some(&route), 404, 10_008, "Unknown Message");
            };
            apply_message_fields(m, &body);
            m.flags &= !message_flags::LOADING;
            m.edits += 1;
            m.edited_timestamp = Some(fixtures::iso8601(SystemTime::now()));
            Answer::ok(&route, m.json())
        }
        "DELETE" => {
            if let Some(m) = st.messages.get_mut(&target) {
                m.deleted = true;
            }
            Answer::no_content(&route)
        }
        _ => Answer {
            status: 405,
            body: Some(json!({"message": "405: Method Not Allowed", "code": 0})),
            route: None,
            retry_after: None,
        },
    }
}

fn text_channel_guild(st: &State, channel: u64) -> Option<u64> {
    st.world
        .guilds
        .values()
        .find(|g| g.channel(channel).is_some())
        .map(|g| g.id)
}

fn channel_message_create(st: &mut State, c: &str, body: Option<&Value>) -> Answer {
    const ROUTE: &str = "POST /channels/{id}/messages";
    let Some((channel, guild)) = id(c).and_then(|c| text_channel_guild(st, c).map(|g| (c, g)))
    else {
        st.violation(format!("message to unknown channel {c}"));
        return Answer::error(Some(ROUTE), 404, 10_003, "Unknown Channel");
    };
    let body = body.cloned().unwrap_or(Value::Null);
    let problems = validate_message(&body);
    if !problems.is_empty() {
        return invalid_body(st, ROUTE, "channel message", &problems);
    }
    let mut m = new_message(st, channel, Some(guild), 0, false);
    apply_message_fields(&mut m, &body);
    let json = m.json();
    st.messages.insert(m.id, m);
    Answer::ok(ROUTE, json)
}

fn channel_message(
    st: &mut State,
    method: &str,
    c: &str,
    mid: &str,
    body: Option<&Value>,
) -> Answer {
    let route = format!("{method} /channels/{{id}}/messages/{{id}}");
    let target = id(mid).filter(|m| {
        st.messages
            .get(m)
            .is_some_and(|m| !m.deleted && Some(m.channel_id) == id(c))
    });
    let Some(target) = target else {
        return Answer::error(Some(&route), 404, 10_008, "Unknown Message");
    };
    match method {
        "GET" => Answer::ok(&route, st.messages[&target].json()),
        "PATCH" => {
            let body = body.cloned().unwrap_or(Value::Null);
            let problems = validate_message(&body);
            if !problems.is_empty() {
                return invalid_body(st, &route, "message edit", &problems);
            }
            let Some(m) = st.messages.get_mut(&target) else {
                return Answer::error(Some(&route), 404, 10_008, "Unknown Message");
            };
            apply_message_fields(m, &body);
            m.edits += 1;
            m.edited_timestamp = Some(fixtures::iso8601(SystemTime::now()));
            Answer::ok(&route, m.json())
        }
        "DELETE" => {
            if let Some(m) = st.messages.get_mut(&target) {
                m.deleted = true;
            }
            Answer::no_content(&route)
        }
        _ => Answer {
            status: 405,
            body: Some(json!({"message": "405: Method Not Allowed", "code": 0})),
            route: None,
            retry_after: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_accepts_serenity_leading_ampersand() {
        assert_eq!(
            parse_query("&wait=true&thread_id=5"),
            vec![
                ("wait".to_owned(), "true".to_owned()),
                ("thread_id".to_owned(), "5".to_owned())
            ]
        );
    }

    #[test]
    fn multipart_body_is_read_from_payload_json() {
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"payload_json\"\r\n\r\n{\"content\":\"hi\"}\r\n--XyZ\r\n\
                    Content-Disposition: form-data; name=\"files[0]\"; filename=\"a.txt\"\r\n\r\nraw\r\n--XyZ--\r\n";
        let v = parse_body("multipart/form-data; boundary=XyZ", body.as_bytes()).expect("parses");
        assert_eq!(v, Some(json!({"content": "hi"})));
    }

    #[test]
    fn route_names_hide_ids_and_tokens() {
        assert_eq!(
            route_name("POST", "/interactions/123/abc-tok/callback"),
            "POST /interactions/{id}/{token}/callback"
        );
        assert_eq!(
            route_name("PATCH", "/webhooks/9/tok/messages/@original"),
            "PATCH /webhooks/{id}/{token}/messages/@original"
        );
    }

    #[test]
    fn command_validation_catches_what_discord_rejects() {
        assert!(
            validate_command(&json!({"name": "play", "description": "Play", "type": 1})).is_empty()
        );
        let bad = validate_command(&json!({"name": "Play", "description": "", "options": [
            {"name": "a", "description": "x", "type": 3, "required": false},
            {"name": "b", "description": "y", "type": 3, "required": true},
        ]}));
        assert_eq!(bad.len(), 3, "{bad:?}");
        // Context-menu commands may have spaces and capitals.
        assert!(validate_command(&json!({"name": "Play This", "type": 3})).is_empty());
    }

    #[test]
    fn message_validation_enforces_discord_limits() {
        assert!(validate_message(&json!({"content": "x".repeat(2000)})).is_empty());
        assert_eq!(
            validate_message(&json!({"content": "x".repeat(2001)})).len(),
            1
        );
        let embed = json!({"title": "t", "description": "d".repeat(6000)});
        assert_eq!(validate_message(&json!({"embeds": [embed]})).len(), 1);
    }
}
