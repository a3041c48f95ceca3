//! The HTTP edge shared by every function: body parsing with clear errors,
//! JSON answers, and who is calling (from the authorizer context API Gateway
//! passes in).

use headers::{ETag, HeaderMapExt, IfMatch};
use http::{HeaderValue, Method, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, FieldError};
use shared::domain::Role;

/// Bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The body's bytes, whatever way the event carried them.
pub fn body_bytes(req: &Request) -> &[u8] {
    match req.body() {
        Body::Text(s) => s.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    }
}

/// The media type of the body, lower-cased, without parameters.
pub fn media_type(req: &Request) -> Option<String> {
    let value = req.headers().get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(
        value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase(),
    )
}

fn is_json(media_type: &str) -> bool {
    media_type == "application/json"
        || (media_type.starts_with("application/") && media_type.ends_with("+json"))
}

/// Parses a JSON object body into `T`.
///
/// 415 for another media type, 413 when too large, 400 for malformed JSON
/// or a body that is not an object, 422 naming the field for a wrongly typed value.
pub fn json_body<T: DeserializeOwned>(req: &Request) -> Result<T, ApiError> {
    match media_type(req) {
        Some(m) if !is_json(&m) => return Err(ApiError::UnsupportedMediaType),
        _ => {}
    }
    parse_json(body_bytes(req))
}

/// A body that came as a form or as JSON (see [`form_or_json_body`]).
pub enum FormOrJson<F, J> {
    Form(F),
    Json(J),
}

/// Parses a body sent either as an HTML/OAuth2 form
/// (`application/x-www-form-urlencoded`, what OAuth2 password and refresh
/// grants post) or as JSON (as [`json_body`] accepts it, including no
/// `Content-Type` at all). 415 for another media type, 413 when too large,
/// 400 for a malformed form.
pub fn form_or_json_body<F: DeserializeOwned, J: DeserializeOwned>(
    req: &Request,
) -> Result<FormOrJson<F, J>, ApiError> {
    match media_type(req).as_deref() {
        Some("application/x-www-form-urlencoded") => {
            let bytes = body_bytes(req);
            if bytes.len() > MAX_BODY_BYTES {
                return Err(ApiError::PayloadTooLarge);
            }
            serde_urlencoded::from_bytes(bytes)
                .map(FormOrJson::Form)
                .map_err(|_| ApiError::BadRequest("The form body is malformed.".into()))
        }
        _ => json_body(req).map(FormOrJson::Json),
    }
}

/// Parses JSON bytes as [`json_body`] does, without the media-type check.
///
/// One reading per body type: the bytes become serde-value's tree (one
/// non-generic parser for every type), and the type is read from the tree
/// with its path tracked. serde-value's errors keep the kind of mistake as
/// data (a missing field, an unknown variant and its alternatives, the
/// expected type) where serde_json's is English text that echoes the input,
/// and a single instantiation per type keeps the binaries no larger than
/// when serde_json read each type directly (issue 27).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::BadRequest(
            "The body must be a JSON object.".into(),
        ));
    }
    let de = serde_value::ValueDeserializer::<serde_value::DeserializerError>::new(tree_of(bytes)?);
    serde_path_to_error::deserialize::<_, T>(de).map_err(data_error)
}

/// The body as serde-value's tree: 400 for JSON that does not parse, 422
/// naming a key that appears twice in one object (serde-value's own map
/// would keep the last silently; serde_json's struct reading refused them,
/// and so do we). Not generic: one copy serves every body type.
#[inline(never)]
fn tree_of(bytes: &[u8]) -> Result<serde_value::Value, ApiError> {
    let mut twice = None;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let read = serde::de::DeserializeSeed::deserialize(Tree { twice: &mut twice }, &mut de)
        .and_then(|tree| de.end().map(|()| tree));
    match (read, twice) {
        (Ok(tree), _) => Ok(tree),
        (Err(_), Some(mut steps)) => {
            steps.reverse();
            Err(ApiError::Validation(vec![FieldError::new(
                path_of(&steps),
                "appears more than once",
            )]))
        }
        (Err(e), None) => Err(ApiError::BadRequest(format!(
            "The body is not valid JSON (line {}, column {}).",
            e.line(),
            e.column()
        ))),
    }
}

/// One step of the way to a value: an object's key or a list's index.
enum Step {
    Key(String),
    Index(usize),
}

/// Steps as serde_path_to_error writes a path (`items[0].quantity`).
fn path_of(steps: &[Step]) -> String {
    let mut path = String::new();
    for step in steps {
        match step {
            Step::Key(key) if path.is_empty() => path.push_str(key),
            Step::Key(key) => {
                path.push('.');
                path.push_str(key);
            }
            Step::Index(i) => path.push_str(&format!("[{i}]")),
        }
    }
    location(&path)
}

/// Reads any JSON value into serde-value's tree, refusing a key repeated in
/// one object. On that refusal `twice` holds the way to the key, innermost
/// first: each enclosing object or list adds its step as the error passes
/// out through it, so the common path builds no paths at all.
struct Tree<'a> {
    twice: &'a mut Option<Vec<Step>>,
}

impl<'de> serde::de::DeserializeSeed<'de> for Tree<'_> {
    type Value = serde_value::Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Tree<'_> {
    type Value = serde_value::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(serde_value::Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(serde_value::Value::I64(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(serde_value::Value::U64(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(serde_value::Value::F64(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(serde_value::Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(serde_value::Value::String(v))
    }

    /// `null` is serde-value's "none", so that an `Option` (and a field
    /// that tells a `null` from a missing key) reads it as serde_json would.
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(serde_value::Value::Option(None))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        loop {
            match seq.next_element_seed(Tree { twice: self.twice }) {
                Ok(Some(item)) => items.push(item),
                Ok(None) => return Ok(serde_value::Value::Seq(items)),
                Err(e) => {
                    if let Some(steps) = self.twice.as_mut() {
                        steps.push(Step::Index(items.len()));
                    }
                    return Err(e);
                }
            }
        }
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        use std::collections::btree_map::Entry;
        let mut entries = std::collections::BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = match map.next_value_seed(Tree { twice: self.twice }) {
                Ok(value) => value,
                Err(e) => {
                    if let Some(steps) = self.twice.as_mut() {
                        steps.push(Step::Key(key));
                    }
                    return Err(e);
                }
            };
            match entries.entry(serde_value::Value::String(key)) {
                Entry::Vacant(slot) => {
                    slot.insert(value);
                }
                Entry::Occupied(slot) => {
                    let key = match slot.key() {
                        serde_value::Value::String(key) => key.clone(),
                        _ => String::new(),
                    };
                    *self.twice = Some(vec![Step::Key(key)]);
                    return Err(serde::de::Error::custom("a key appears twice"));
                }
            }
        }
        Ok(serde_value::Value::Map(entries))
    }
}

/// The 422 for a body that is JSON but the wrong data (not generic).
#[inline(never)]
fn data_error(e: serde_path_to_error::Error<serde_value::DeserializerError>) -> ApiError {
    let (field, message) = field_and_words(e);
    ApiError::Validation(vec![FieldError::new(field, message)])
}

/// A JSON path as a field name: the body itself is `body`.
fn location(path: &str) -> String {
    if path == "." || path.is_empty() {
        "body".to_owned()
    } else {
        path.to_owned()
    }
}

/// Our words for a mistake serde-value found, and where (not generic: one
/// copy for every body type).
#[inline(never)]
fn field_and_words(
    e: serde_path_to_error::Error<serde_value::DeserializerError>,
) -> (String, String) {
    use serde_value::DeserializerError as Kind;
    let path = e.path().to_string();
    let at = |name: &str| match path.as_str() {
        "." | "" => name.to_owned(),
        p => format!("{p}.{name}"),
    };
    let here = location(&path);
    match e.into_inner() {
        // A missing field's path is its parent's.
        Kind::MissingField(name) => (at(name), "is required".into()),
        // The path already ends at the unknown field.
        Kind::UnknownField(..) => (here, "is not a field of this request".into()),
        Kind::UnknownVariant(_, allowed) if !allowed.is_empty() => {
            (here, format!("must be one of: {}", allowed.join(", ")))
        }
        Kind::UnknownVariant(..) => (here, "is not one of the allowed values".into()),
        Kind::InvalidType(_, expected) => (here, wrong_type(&expected).into()),
        Kind::InvalidValue(..) => (here, "is out of range or not allowed".into()),
        Kind::InvalidLength(..) => (here, "has the wrong number of items".into()),
        Kind::DuplicateField(_) | Kind::Custom(_) => (here, "is not valid".into()),
    }
}

/// What a value of the wrong type should have been, from serde's
/// description of what the target type expects ("a string", "u32", "struct
/// Task", "a sequence" ...).
fn wrong_type(expected: &str) -> &'static str {
    let integers = [
        "u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "integer",
    ];
    if expected.contains("string") || expected.contains("char") {
        "must be a string"
    } else if integers.iter().any(|t| expected.contains(t)) {
        "must be a whole number"
    } else if expected.contains("f32") || expected.contains("f64") {
        "must be a number"
    } else if expected.contains("bool") {
        "must be true or false"
    } else if expected.contains("sequence") {
        "must be a list"
    } else if expected.contains("struct") || expected.contains("map") {
        "must be an object"
    } else {
        "has the wrong type"
    }
}

/// A JSON answer.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Result<Response<Body>, ApiError> {
    let body = serde_json::to_string(value).map_err(ApiError::internal)?;
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

/// Refuses methods a function does not serve (405).
pub fn allow(req: &Request, methods: &[Method]) -> Result<(), ApiError> {
    if methods.contains(req.method()) {
        Ok(())
    } else {
        Err(ApiError::MethodNotAllowed)
    }
}

// One type on both sides of the gateway: the authorizer's `context`
// (`validate_token::AuthorizerResponse`) and what every protected handler
// reads back from `requestContext.authorizer.lambda`. (A `//` comment: the
// doc comment below is the API document's description.)
/// The caller, as the authorizer established it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Caller {
    pub user_id: String,
    pub email: String,
    pub role: Role,
    /// The session of the access token.
    pub session_id: String,
}

impl Caller {
    /// Reads `requestContext.authorizer.lambda` (the authorizer's `context`).
    /// A request without it never passed the authorizer: 401.
    pub fn from_request(req: &Request) -> Result<Caller, ApiError> {
        let ctx = req
            .request_context_ref()
            .and_then(RequestContext::authorizer);
        let field = |name: &str| {
            ctx.and_then(|a| a.fields.get(name))
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
        };
        let (Some(user_id), Some(email), Some(role), Some(session_id)) = (
            field("user_id"),
            field("email"),
            field("role"),
            field("session_id"),
        ) else {
            return Err(ApiError::Unauthorized("Authentication is required."));
        };
        let role = match role {
            "admin" => Role::Admin,
            "user" => Role::User,
            _ => return Err(ApiError::Unauthorized("Authentication is required.")),
        };
        Ok(Caller {
            user_id: user_id.into(),
            email: email.into(),
            role,
            session_id: session_id.into(),
        })
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.role == Role::Admin {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

pub use shared::domain::ClientInfo;

/// Where `req` came from (API Gateway's view of the caller).
pub fn client_info(req: &Request) -> ClientInfo {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ClientInfo {
            ip: ctx.http.source_ip.clone(),
            user_agent: ctx.http.user_agent.clone(),
        },
        _ => ClientInfo::default(),
    }
}

/// Turns a handler's result into the answer: errors become problems.
pub fn respond(result: Result<Response<Body>, ApiError>) -> Response<Body> {
    result.unwrap_or_else(ApiError::into_response)
}

/// Paging parameters from the query string: `limit` (1..=100, default 20)
/// and an opaque `cursor`.
pub fn paging(req: &Request) -> Result<(u32, Option<String>), ApiError> {
    let params = req.query_string_parameters_ref();
    let limit = match params.and_then(|p| p.first("limit")) {
        None => 20,
        Some(raw) => match raw.parse::<u32>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => {
                return Err(ApiError::field(
                    "limit",
                    "must be a whole number from 1 to 100",
                ));
            }
        },
    };
    let cursor = params
        .and_then(|p| p.first("cursor"))
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    if cursor.as_ref().is_some_and(|c| c.len() > 2048) {
        return Err(ApiError::BadRequest("The cursor is not valid.".into()));
    }
    Ok((limit, cursor))
}

/// A query-string parameter.
pub fn query_param<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.query_string_parameters_ref()
        .and_then(|p| p.first(name))
}

/// A path parameter (`/admin/users/{id}`).
pub fn path_param(req: &Request, name: &str) -> Result<String, ApiError> {
    req.path_parameters_ref()
        .and_then(|p| p.first(name))
        .filter(|v| !v.is_empty() && v.len() <= 200)
        .map(str::to_owned)
        .ok_or(ApiError::NotFound)
}

/// A path parameter that must be a UUID (our record ids), in its canonical
/// hyphenated form. Anything else cannot name a record: 404, like an id
/// that does not exist.
pub fn path_id(req: &Request, name: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(&path_param(req, name)?)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| ApiError::NotFound)
}

/// The `ETag` of a versioned record: `"v{version}"`.
pub fn etag(version: u64) -> ETag {
    format!("\"v{version}\"")
        .parse()
        .expect("a quoted tag of digits is a valid ETag")
}

/// Sets `ETag` (and `Cache-Control: private, no-cache`, so caches revalidate)
/// on the answer for a versioned record.
pub fn with_etag(mut response: Response<Body>, version: u64) -> Response<Body> {
    response.headers_mut().typed_insert(etag(version));
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    response
}

/// The API mapping the request came through (`/api/v1` for
/// `https://api.example.com/api/v1/tasks`), or `""` at the root. API Gateway
/// keeps the mapping in the raw path but not in the route key, so it is
/// what the raw path has before the route's own segments.
pub fn base_path(req: &Request) -> String {
    let route = route_key(req);
    let depth = route
        .split_once(' ')
        .map(|(_, path)| path.split('/').filter(|s| !s.is_empty()).count())
        .unwrap_or(0);
    let segments: Vec<&str> = req
        .uri()
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let keep = segments.len().saturating_sub(depth);
    segments[..keep].iter().map(|s| format!("/{s}")).collect()
}

/// 201 Created: the new resource as JSON, where it lives (`Location`, the
/// API path under the mapping the request came through) and, for a
/// versioned one, its `ETag`.
pub fn created<T: Serialize>(
    req: &Request,
    value: &T,
    location: &str,
    version: Option<u64>,
) -> Result<Response<Body>, ApiError> {
    let mut response = json(StatusCode::CREATED, value)?;
    if let Some(v) = version {
        response = with_etag(response, v);
    }
    let location = HeaderValue::from_str(&format!("{}{location}", base_path(req)))
        .map_err(ApiError::internal)?;
    response.headers_mut().insert(header::LOCATION, location);
    Ok(response)
}

/// `If-Match` (RFC 9110 §13.1.1): Ok when absent, `*`, or listing this
/// version's tag; else 412. The comparison is the strong one the RFC requires
/// for a write, so a weak tag (`W/"v3"`) never matches, and a header that is
/// not a list of tags matches nothing.
pub fn check_if_match(req: &Request, version: u64) -> Result<(), ApiError> {
    match req.headers().typed_try_get::<IfMatch>() {
        Ok(None) => Ok(()),
        Ok(Some(tags)) if tags.precondition_passes(&etag(version)) => Ok(()),
        _ => Err(ApiError::PreconditionFailed),
    }
}

/// 204 No Content.
pub fn no_content() -> Response<Body> {
    let mut r = Response::new(Body::Empty);
    *r.status_mut() = StatusCode::NO_CONTENT;
    r
}

/// The API Gateway route key (`"DELETE /auth/sessions/{id}"`), so a function
/// serving several routes dispatches exactly as the gateway routed.
pub fn route_key(req: &Request) -> String {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.route_key.clone().unwrap_or_default(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod json_error_tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        count: u32,
        items: Option<Vec<Line>>,
        mode: Option<Mode>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Line {
        quantity: i64,
    }
    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Mode {
        Fast,
        Slow,
    }

    fn problem(body: &str) -> ApiError {
        parse_json::<Body>(body.as_bytes()).unwrap_err()
    }

    fn field_error(body: &str) -> (String, String) {
        match problem(body) {
            ApiError::Validation(mut v) => {
                let e = v.remove(0);
                (e.field, e.message)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn messages_are_ours_with_the_json_path() {
        let cases = [
            (r#"{"name": 5, "count": 1}"#, "name", "must be a string"),
            (
                r#"{"name": "a", "count": "x"}"#,
                "count",
                "must be a whole number",
            ),
            (
                r#"{"name": "a", "count": -1}"#,
                "count",
                "is out of range or not allowed",
            ),
            (r#"{"name": "a"}"#, "count", "is required"),
            (
                r#"{"name": "a", "count": 1, "extra": 1}"#,
                "extra",
                "is not a field of this request",
            ),
            (
                r#"{"name": "a", "count": 1, "items": [{"quantity": "2"}]}"#,
                "items[0].quantity",
                "must be a whole number",
            ),
            (
                r#"{"name": "a", "count": 1, "items": [{}]}"#,
                "items[0].quantity",
                "is required",
            ),
            (
                r#"{"name": "a", "count": 1, "items": 3}"#,
                "items",
                "must be a list",
            ),
            (
                r#"{"name": "a", "count": 1, "mode": "warp"}"#,
                "mode",
                "must be one of: fast, slow",
            ),
            (r#"{"name": null, "count": 1}"#, "name", "must be a string"),
            (
                r#"{"name": "a", "count": 99999999999}"#,
                "count",
                "is out of range or not allowed",
            ),
            (
                r#"{"name": "a", "count": 1.5}"#,
                "count",
                "must be a whole number",
            ),
            (
                r#"{"name": "a", "name": "b", "count": 1}"#,
                "name",
                "appears more than once",
            ),
            (
                r#"{"name": "a", "count": 1, "items": [{}, {"quantity": 1, "quantity": 2}]}"#,
                "items[1].quantity",
                "appears more than once",
            ),
            // The tree reader refuses a repeated key at any depth, also
            // where the type would ignore the value.
            (
                r#"{"name": "a", "count": 1, "items": [{"quantity": 1, "x": {"y": 1, "y": 2}}]}"#,
                "items[0].x.y",
                "appears more than once",
            ),
        ];
        for (body, field, message) in cases {
            assert_eq!(
                field_error(body),
                (field.to_owned(), message.to_owned()),
                "{body}"
            );
        }
    }

    #[test]
    fn no_serde_wording_reaches_the_client() {
        for body in [
            r#"{"name": 5, "count": 1}"#,
            r#"{"name": "a", "count": 1, "mode": "warp"}"#,
            r#"{"name": "a", "count": 1"#,
            r#"{"name": "a" "count": 1}"#,
        ] {
            let text = format!("{:?}", problem(body));
            for serde_words in [
                "invalid type",
                "expected",
                "line 1 column",
                "EOF",
                "u32",
                "`",
            ] {
                assert!(!text.contains(serde_words), "{body}: {text}");
            }
        }
        assert!(matches!(
            problem(r#"{"name": "a" "count": 1}"#),
            ApiError::BadRequest(m) if m == "The body is not valid JSON (line 1, column 14)."
        ));
    }
}

#[cfg(test)]
mod precondition_tests {
    use super::*;

    fn with_if_match(value: Option<&str>) -> Request {
        let mut req = http::Request::builder().uri("/tasks/1");
        if let Some(v) = value {
            req = req.header(header::IF_MATCH, v);
        }
        req.body(Body::Empty).unwrap()
    }

    #[test]
    fn if_match_passes_for_no_header_any_tag_or_the_current_tag() {
        for value in [None, Some("*"), Some("\"v3\""), Some("\"v1\", \"v3\"")] {
            assert!(
                check_if_match(&with_if_match(value), 3).is_ok(),
                "{value:?}"
            );
        }
    }

    #[test]
    fn if_match_compares_strongly_and_refuses_what_is_not_a_tag() {
        for value in ["\"v2\"", "W/\"v3\"", "v3", "\"v3", ""] {
            assert!(
                matches!(
                    check_if_match(&with_if_match(Some(value)), 3),
                    Err(ApiError::PreconditionFailed)
                ),
                "{value:?}"
            );
        }
    }

    #[test]
    fn etags_name_the_version() {
        let response = with_etag(Response::new(Body::Empty), 7);
        assert_eq!(response.headers()[header::ETAG], "\"v7\"");
        assert_eq!(
            response.headers()[header::CACHE_CONTROL],
            "private, no-cache"
        );
    }
}
