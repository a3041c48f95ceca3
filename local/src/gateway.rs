//! API Gateway (HTTP API, payload 2.0) emulation: an HTTP request becomes
//! the JSON event Lambda would receive, protected routes first go through
//! the authorizer exactly as API Gateway calls it, and the handler's answer
//! goes back as HTTP.
//!
//! API Gateway's own answers are kept as they are on AWS: 401
//! `{"message":"Unauthorized"}` when the `Authorization` header is missing,
//! 403 `{"message":"Forbidden"}` when the authorizer denies, 404
//! `{"message":"Not Found"}` for an unknown route, 413 for bodies over 10 MB.
//!
//! The events are built as JSON, not as `aws_lambda_events` structs, on
//! purpose: they are what `--lambda` hands each binary, and they must be
//! what API Gateway sends. `ApiGatewayV2httpRequest` serialises fields that
//! payload 2.0 does not have (the deprecated authorizer-v1 `type`,
//! `methodArn`, `identitySource`, `authorizationToken`, and `httpMethod`,
//! which defaults to `GET`), and `stageVariables` as `{}` where API Gateway
//! leaves it out. Reading goes through the structs: the in-process path
//! deserialises each event into lambda_http's request or the authorizer's
//! request type, so an event those types cannot read fails every test.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use aws_lambda_events::apigw::ApiGatewayV2CustomAuthorizerV2Request;
use axum::body::Body as AxumBody;
use axum::response::IntoResponse;
use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, StatusCode, header};
use lambda_http::request::LambdaRequest;
use serde_json::{Map, Value, json};
use shared::AppState;

use crate::routes::{Route, handler};

/// API Gateway's payload limit.
pub const MAX_PAYLOAD_BYTES: usize = 10 * 1024 * 1024;

/// What the gateway knows about one incoming request.
pub struct Incoming {
    pub method: http::Method,
    pub uri: http::Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub path_params: BTreeMap<String, String>,
    pub peer: SocketAddr,
}

/// API Gateway's own plain answers.
pub fn gateway_message(status: StatusCode, message: &str) -> axum::response::Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "message": message }).to_string(),
    )
        .into_response()
}

fn is_textual(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else { return true };
    let ct = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    ct.starts_with("text/")
        || ct.ends_with("json")
        || ct.ends_with("xml")
        || ct == "application/x-www-form-urlencoded"
        || ct == "application/javascript"
}

/// The event fields shared by the integration and the authorizer payloads.
fn common_fields(route: &Route, inc: &Incoming, request_id: &str) -> Map<String, Value> {
    let mut headers = Map::new();
    let mut cookies = Vec::new();
    for name in inc.headers.keys() {
        let values: Vec<&str> = inc
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if name == header::COOKIE {
            cookies.extend(
                values
                    .iter()
                    .flat_map(|v| v.split(';'))
                    .map(|c| c.trim().to_owned())
                    .filter(|c| !c.is_empty()),
            );
            continue;
        }
        headers.insert(name.as_str().to_owned(), Value::String(values.join(",")));
    }
    // API Gateway appends the caller's address to X-Forwarded-For and says
    // which port and protocol it was reached on.
    let peer_ip = inc.peer.ip().to_string();
    let forwarded = match headers.get("x-forwarded-for").and_then(Value::as_str) {
        Some(earlier) if !earlier.trim().is_empty() => format!("{earlier}, {peer_ip}"),
        _ => peer_ip,
    };
    headers.insert("x-forwarded-for".into(), Value::String(forwarded));
    let port = inc
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.rsplit_once(':'))
        .map_or("80", |(_, port)| port)
        .to_owned();
    headers.insert("x-forwarded-port".into(), Value::String(port));
    headers.insert("x-forwarded-proto".into(), Value::String("http".into()));
    let raw_query = inc.uri.query().unwrap_or_default().to_owned();
    let mut query = Map::new();
    for (k, v) in form_urlencoded::parse(raw_query.as_bytes()) {
        match query.get_mut(k.as_ref()) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&v);
            }
            _ => {
                query.insert(k.into_owned(), Value::String(v.into_owned()));
            }
        }
    }
    let now = time::OffsetDateTime::now_utc();
    let route_key = format!("{} {}", route.method, route.path);
    let host = inc
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_owned();
    let mut fields = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": inc.uri.path(),
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": host,
            "domainPrefix": host.split('.').next().unwrap_or("local"),
            "http": {
                "method": inc.method.as_str(),
                "path": inc.uri.path(),
                "protocol": "HTTP/1.1",
                "sourceIp": inc.peer.ip().to_string(),
                "userAgent": inc.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default(),
            },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": now.format(time::macros::format_description!(
                "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
            )).unwrap_or_default(),
            "timeEpoch": (now.unix_timestamp_nanos() / 1_000_000) as i64,
        },
    });
    let mut fields = fields
        .as_object_mut()
        .map(std::mem::take)
        .unwrap_or_default();
    // API Gateway leaves these out rather than sending them empty.
    if !cookies.is_empty() {
        fields.insert("cookies".into(), json!(cookies));
    }
    if !query.is_empty() {
        fields.insert("queryStringParameters".into(), Value::Object(query));
    }
    if !inc.path_params.is_empty() {
        fields.insert("pathParameters".into(), json!(inc.path_params));
    }
    fields
}

/// The integration event (what the function's Lambda receives).
pub fn integration_event(
    route: &Route,
    inc: &Incoming,
    request_id: &str,
    authorizer: Option<&Value>,
) -> Value {
    let mut event = common_fields(route, inc, request_id);
    if let (Some(ctx), Some(Value::Object(rc))) = (authorizer, event.get_mut("requestContext")) {
        rc.insert("authorizer".into(), json!({ "lambda": ctx }));
    }
    if !inc.body.is_empty() {
        let content_type = inc
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        match std::str::from_utf8(&inc.body) {
            Ok(text) if is_textual(content_type) => {
                event.insert("body".into(), Value::String(text.to_owned()));
                event.insert("isBase64Encoded".into(), Value::Bool(false));
            }
            _ => {
                let encoded = base64::engine::general_purpose::STANDARD.encode(&inc.body);
                event.insert("body".into(), Value::String(encoded));
                event.insert("isBase64Encoded".into(), Value::Bool(true));
            }
        }
    } else {
        event.insert("isBase64Encoded".into(), Value::Bool(false));
    }
    Value::Object(event)
}

/// The authorizer event (payload 2.0, identity source `Authorization`).
pub fn authorizer_event(route: &Route, inc: &Incoming, request_id: &str, identity: &str) -> Value {
    let mut event = common_fields(route, inc, request_id);
    event.insert("type".into(), json!("REQUEST"));
    event.insert(
        "routeArn".into(),
        json!(format!(
            "arn:aws:execute-api:local:000000000000:local/$default/{}{}",
            route.method, route.path
        )),
    );
    event.insert("identitySource".into(), json!([identity]));
    Value::Object(event)
}

/// How the gateway runs the functions.
#[derive(Clone, Default)]
pub enum Functions {
    /// Their handlers, called in this process (the default).
    #[default]
    InProcess,
    /// Their binaries, each in its own process (`--lambda`).
    Binaries(Arc<crate::lambda::Runner>),
}

/// API Gateway's answer when the integration or the authorizer fails.
fn lambda_failed(e: &dyn std::fmt::Display) -> axum::response::Response {
    tracing::error!(error = %e, "the Lambda invocation failed");
    gateway_message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
}

/// The authorizer's answer: `Err` is a failed invocation.
async fn authorize(
    state: &Arc<AppState>,
    functions: &Functions,
    event: Value,
) -> Result<validate_token::AuthorizerResponse, String> {
    match functions {
        Functions::InProcess => {
            let event: ApiGatewayV2CustomAuthorizerV2Request =
                serde_json::from_value(event).map_err(|e| e.to_string())?;
            // The authorizer binary is built from the validate-token crate.
            crate::ports::run_as(
                "authorizer",
                validate_token::authorize(&crate::ports::view(state, "validate-token"), &event),
            )
            .await
            .map_err(|e| e.to_string())
        }
        Functions::Binaries(runner) => {
            let answer = runner
                .invoke("authorizer", event.to_string())
                .await
                .map_err(|e| e.to_string())?;
            serde_json::from_slice(&answer).map_err(|e| e.to_string())
        }
    }
}

/// The function's answer, as the HTTP response API Gateway makes of it.
async fn integrate(
    state: Arc<AppState>,
    functions: &Functions,
    route: &Route,
    event: Value,
) -> Result<axum::response::Response, String> {
    match functions {
        Functions::InProcess => {
            let handle = handler(route.function).ok_or("no such function")?;
            let request: lambda_http::Request = serde_json::from_value::<LambdaRequest>(event)
                .map_err(|e| e.to_string())?
                .into();
            let response = crate::ports::run_as(
                route.function,
                handle(crate::ports::view(&state, route.function), request),
            )
            .await;
            let (parts, body) = response.into_parts();
            let bytes: Vec<u8> = match body {
                lambda_http::Body::Text(s) => s.into_bytes(),
                lambda_http::Body::Binary(b) => b,
                _ => Vec::new(),
            };
            let mut out = axum::response::Response::new(AxumBody::from(bytes));
            *out.status_mut() = parts.status;
            *out.headers_mut() = parts.headers;
            Ok(out)
        }
        Functions::Binaries(runner) => {
            let answer = runner
                .invoke(route.function, event.to_string())
                .await
                .map_err(|e| e.to_string())?;
            from_lambda_response(&answer)
        }
    }
}

/// A payload-2.0 response (`statusCode`, `headers`, `cookies`, `body`,
/// `isBase64Encoded`) as HTTP, as API Gateway turns it into one.
pub fn from_lambda_response(answer: &[u8]) -> Result<axum::response::Response, String> {
    let r: aws_lambda_events::apigw::ApiGatewayV2httpResponse =
        serde_json::from_slice(answer).map_err(|e| format!("not a payload 2.0 response: {e}"))?;
    let body = match r.body {
        Some(aws_lambda_events::encodings::Body::Text(t)) if r.is_base64_encoded => {
            base64::engine::general_purpose::STANDARD
                .decode(t.as_bytes())
                .map_err(|e| e.to_string())?
        }
        Some(aws_lambda_events::encodings::Body::Text(t)) => t.into_bytes(),
        Some(aws_lambda_events::encodings::Body::Binary(b)) => b,
        _ => Vec::new(),
    };
    let mut out = axum::response::Response::new(AxumBody::from(body));
    *out.status_mut() = StatusCode::from_u16(u16::try_from(r.status_code).unwrap_or(500))
        .map_err(|e| e.to_string())?;
    let headers = out.headers_mut();
    for (name, value) in r.headers.iter() {
        headers.append(name.clone(), value.clone());
    }
    for (name, value) in r.multi_value_headers.iter() {
        headers.append(name.clone(), value.clone());
    }
    for cookie in &r.cookies {
        if let Ok(v) = http::HeaderValue::from_str(cookie) {
            headers.append(header::SET_COOKIE, v);
        }
    }
    Ok(out)
}

/// Runs one request through the gateway: authorizer (when protected), then
/// the function, run as `functions` says.
pub async fn dispatch(
    state: Arc<AppState>,
    functions: &Functions,
    route: &Route,
    inc: Incoming,
) -> axum::response::Response {
    if inc.body.len() > MAX_PAYLOAD_BYTES {
        return gateway_message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
    }
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut authorizer_context = None;
    if route.protected {
        let identity = inc
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let Some(identity) = identity.filter(|v| !v.trim().is_empty()) else {
            return gateway_message(StatusCode::UNAUTHORIZED, "Unauthorized");
        };
        let event = authorizer_event(route, &inc, &request_id, &identity);
        // A failed authorizer invocation is API Gateway's 500, never cached.
        let answer = match authorize(&state, functions, event).await {
            Ok(answer) => answer,
            Err(e) => return lambda_failed(&e),
        };
        if !answer.is_authorized {
            return gateway_message(StatusCode::FORBIDDEN, "Forbidden");
        }
        authorizer_context = answer.context.and_then(|c| serde_json::to_value(c).ok());
    }
    let event = integration_event(route, &inc, &request_id, authorizer_context.as_ref());
    let mut out = match integrate(state, functions, route, event).await {
        Ok(out) => out,
        Err(e) => lambda_failed(&e),
    };
    out.headers_mut().insert(
        "apigw-requestid",
        request_id
            .parse()
            .unwrap_or(http::HeaderValue::from_static("")),
    );
    out
}
