//! API Gateway events for tests and benchmarks that call a handler
//! directly: built by the gateway's own [`integration_event`], so they have
//! exactly the shape the local server (and, by the gateway tests, API
//! Gateway) hands a function — one builder instead of one per caller.
//!
//! ```ignore
//! let req = ApiEvent::new("PATCH", "/tasks/{id}")
//!     .at("/tasks/0190-…")
//!     .json(&json!({"status": "done"}))
//!     .caller(&context)
//!     .request();
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::body::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, header};
use serde_json::Value;

use crate::gateway::{Incoming, integration_event};
use crate::routes::{ROUTES, Route};

/// One request to one route of `template.yaml`.
pub struct ApiEvent {
    route: &'static Route,
    path: String,
    query: String,
    headers: HeaderMap,
    body: Bytes,
    source_ip: String,
    caller: Option<Value>,
}

impl ApiEvent {
    /// A request to the route `method route` (API Gateway syntax,
    /// `/tasks/{id}`). Panics for a route the local route table does not
    /// have: a test or benchmark naming one is wrong.
    pub fn new(method: &str, route: &str) -> Self {
        let route = ROUTES
            .iter()
            .find(|r| r.method == method && r.path == route)
            .unwrap_or_else(|| panic!("no route {method} {route} in local::routes::ROUTES"));
        Self {
            route,
            path: route.path.to_owned(),
            query: String::new(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            source_ip: "10.0.0.1".to_owned(),
            caller: None,
        }
    }

    /// The concrete path (`/tasks/abc` for `/tasks/{id}`); the path
    /// parameters come from it.
    pub fn at(mut self, path: &str) -> Self {
        self.path = path.to_owned();
        self
    }

    /// The raw query string (`limit=5&status=done`).
    pub fn query(mut self, query: &str) -> Self {
        self.query = query.to_owned();
        self
    }

    /// A request header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.insert(
            HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
            HeaderValue::from_str(value).expect("a header value"),
        );
        self
    }

    /// A JSON body (`Content-Type: application/json`).
    pub fn json(mut self, body: &Value) -> Self {
        self.body = Bytes::from(body.to_string());
        self.header(header::CONTENT_TYPE.as_str(), "application/json")
    }

    /// The caller's address (`requestContext.http.sourceIp`).
    pub fn source_ip(mut self, ip: &str) -> Self {
        self.source_ip = ip.to_owned();
        self
    }

    /// The authorizer's context (`user_id`, `email`, `role`, `session_id`),
    /// as the gateway passes it on to a protected route's function.
    pub fn caller(mut self, context: &Value) -> Self {
        self.caller = Some(context.clone());
        self
    }

    /// The path parameters: each `{name}` of the route's path matched with
    /// the concrete path's segment at the same place.
    fn path_params(&self) -> BTreeMap<String, String> {
        let route: Vec<&str> = self.route.path.split('/').collect();
        let path: Vec<&str> = self.path.split('/').collect();
        assert_eq!(
            route.len(),
            path.len(),
            "{} is not a path of the route {}",
            self.path,
            self.route.path
        );
        route
            .iter()
            .zip(&path)
            .filter_map(|(r, p)| {
                let name = r.strip_prefix('{')?.strip_suffix('}')?;
                Some((name.to_owned(), (*p).to_owned()))
            })
            .collect()
    }

    /// The event, as JSON.
    pub fn to_value(&self) -> Value {
        let uri = if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        };
        let ip: std::net::IpAddr = self.source_ip.parse().expect("an IP address");
        let incoming = Incoming {
            method: self.route.method.parse().expect("a method"),
            uri: uri.parse().expect("a path and query"),
            headers: self.headers.clone(),
            body: self.body.clone(),
            path_params: self.path_params(),
            peer: SocketAddr::new(ip, 0),
        };
        integration_event(self.route, &incoming, "test-request", self.caller.as_ref())
    }

    /// The event as `lambda_http` hands it to a handler.
    pub fn request(&self) -> lambda_http::Request {
        lambda_http::request::from_str(&self.to_value().to_string()).expect("a valid event")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_event_has_the_gateway_shape_with_params_query_body_and_caller() {
        let context =
            json!({"user_id": "u1", "email": "a@example.com", "role": "user", "session_id": "s1"});
        let e = ApiEvent::new("PATCH", "/tasks/{id}")
            .at("/tasks/t9")
            .query("a=1&a=2")
            .json(&json!({"status": "done"}))
            .source_ip("10.1.2.3")
            .caller(&context)
            .to_value();
        assert_eq!(e["routeKey"], "PATCH /tasks/{id}");
        assert_eq!(e["rawPath"], "/tasks/t9");
        assert_eq!(e["pathParameters"], json!({"id": "t9"}));
        assert_eq!(e["queryStringParameters"], json!({"a": "1,2"}));
        assert_eq!(e["headers"]["content-type"], "application/json");
        assert_eq!(e["body"], r#"{"status":"done"}"#);
        assert_eq!(e["requestContext"]["http"]["sourceIp"], "10.1.2.3");
        assert_eq!(e["requestContext"]["authorizer"]["lambda"], context);
        let req = ApiEvent::new("GET", "/tasks").request();
        assert_eq!(req.uri().path(), "/tasks");
    }

    #[test]
    #[should_panic(expected = "no route")]
    fn a_route_the_template_lacks_is_refused() {
        ApiEvent::new("GET", "/nowhere");
    }
}
