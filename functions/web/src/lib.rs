//! The hosted pages: sign-up, sign-in, the pages the mailed links open
//! (`/verify-email`, `/reset-password`, `/confirm-email`, `/revert-email`,
//! `/sign-in`), and the account page, with their one script and style sheet.
//!
//! Server-rendered by askama at build time into whole documents (the layout
//! and each page checked by the compiler; nothing a user typed ever reaches
//! this function, so there is nothing to escape here), then made to work by
//! `assets/app.js`, which calls the API the pages sit beside. The pages refer
//! to everything by relative URLs, so they work under any API base path, and
//! every answer carries a strict Content-Security-Policy: scripts and styles
//! from this origin only, no inline script, no framing.
//!
//! Like `api-docs`, this function links nothing of the workspace's: no state,
//! no configuration, no permissions.

use askama::Template;
use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};

/// What every page may load: this origin's script, style sheet and API;
/// images from here or a `data:`/`blob:` URL; the blob store's presigned
/// links (the picture upload's PUT, the pictures) where they are another
/// origin. Nothing inline, no plugins, no framing, forms post nowhere else.
pub fn content_security_policy(blob_origins: &[String]) -> String {
    let extra: String = blob_origins.iter().map(|o| format!(" {o}")).collect();
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:{extra}; \
         connect-src 'self'{extra}; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
}

/// The origins of the blob store's presigned links, from the environment
/// every function has: none on the embedded store (its links are this
/// origin's `/_blobs/`); on the AWS adapters, the endpoint of `AWS_ENDPOINT_URL`
/// (moto, path-style) or else the bucket's own S3 hosts (`BUCKET_NAME`,
/// `AWS_REGION`; virtual-hosted, as the SDK presigns).
pub fn blob_origins(env: impl Fn(&str) -> Option<String>) -> Vec<String> {
    // The backend as `shared::Config` chooses it.
    let aws = match env("STORE").as_deref() {
        Some(store) => store == "aws",
        None => env("AWS_ENDPOINT_URL").is_some() || env("TABLE_NAME").is_some(),
    };
    if !aws {
        return Vec::new();
    }
    let tame = |s: &str, extra: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
    };
    if let Some(endpoint) = env("AWS_ENDPOINT_URL") {
        let origin = endpoint
            .split_once("://")
            .map(|(scheme, rest)| (scheme, rest.split('/').next().unwrap_or_default()));
        return match origin {
            Some((scheme @ ("http" | "https"), host)) if tame(host, ".-:[]") => {
                vec![format!("{scheme}://{host}")]
            }
            _ => Vec::new(),
        };
    }
    match (env("BUCKET_NAME"), env("AWS_REGION")) {
        (Some(bucket), Some(region)) if tame(&bucket, ".-") && tame(&region, "-") => vec![
            format!("https://{bucket}.s3.{region}.amazonaws.com"),
            format!("https://{bucket}.s3.amazonaws.com"),
        ],
        _ => Vec::new(),
    }
}

/// This process's policy, worked out once.
fn policy() -> &'static HeaderValue {
    static POLICY: std::sync::OnceLock<HeaderValue> = std::sync::OnceLock::new();
    POLICY.get_or_init(|| {
        let origins = blob_origins(|name| std::env::var(name).ok());
        HeaderValue::from_str(&content_security_policy(&origins))
            .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"))
    })
}

/// The one script of the pages.
pub const APP_JS: &str = include_str!("../assets/app.js");
/// The one style sheet of the pages.
pub const APP_CSS: &str = include_str!("../assets/app.css");

macro_rules! page {
    ($name:ident, $path:literal) => {
        #[derive(Template)]
        #[template(path = $path)]
        struct $name;
    };
}

page!(Index, "index.html");
page!(Signup, "signup.html");
page!(Login, "login.html");
page!(ForgotPassword, "forgot-password.html");
page!(SignIn, "sign-in.html");
page!(Account, "account.html");
page!(Admin, "admin.html");

/// A page a mailed link opens: it reads the link's token from the fragment
/// and posts it with a password (`current`), a new one (`fresh`), or either
/// (`choice`).
#[derive(Template)]
#[template(path = "token-page.html")]
struct TokenPage {
    page: &'static str,
    heading: &'static str,
    intro: &'static str,
    action: &'static str,
    done: &'static str,
    current: bool,
    fresh: bool,
    choice: bool,
}

const VERIFY_EMAIL: TokenPage = TokenPage {
    page: "verify-email",
    heading: "Confirm your address",
    intro: "The link proves the mailbox is yours; the password proves the account is. \
            If someone else signed up with your address, set a new password: that ends their sessions.",
    action: "Confirm the address",
    done: "Your address is confirmed",
    current: true,
    fresh: true,
    choice: true,
};

const RESET_PASSWORD: TokenPage = TokenPage {
    page: "reset-password",
    heading: "Set a new password",
    intro: "Choose the new password. Every session of the account is signed out.",
    action: "Set the password",
    done: "Your password is changed",
    current: false,
    fresh: true,
    choice: false,
};

const CONFIRM_EMAIL: TokenPage = TokenPage {
    page: "confirm-email",
    heading: "Confirm your new address",
    intro: "Give the account's password to move it to this address. Every session is signed out.",
    action: "Move the account here",
    done: "Your account has its new address",
    current: true,
    fresh: false,
    choice: false,
};

const REVERT_EMAIL: TokenPage = TokenPage {
    page: "revert-email",
    heading: "Take your account back",
    intro: "The account's address was changed. Choose a new password to move it back to this address; \
            everyone signed in is signed out.",
    action: "Take the account back",
    done: "Your account is back at this address",
    current: false,
    fresh: true,
    choice: false,
};

/// The routes this function serves (the local route table and the template
/// hold the same list; a test compares them).
pub const PAGES: &[&str] = &[
    "/",
    "/signup",
    "/login",
    "/forgot-password",
    "/reset-password",
    "/verify-email",
    "/confirm-email",
    "/revert-email",
    "/sign-in",
    "/account",
    "/admin",
];

/// The pages' files: `(route path, media type, what it is)`.
pub const ASSETS: &[(&str, &str, &str)] = &[
    ("/assets/app.js", "text/javascript", "The pages' one script"),
    ("/assets/app.css", "text/css", "The pages' one style sheet"),
];

/// The document of a page path, or `None` for a path that is not a page.
pub fn render(path: &str) -> Option<String> {
    let rendered = match path {
        "/" => Index.render(),
        "/signup" => Signup.render(),
        "/login" => Login.render(),
        "/forgot-password" => ForgotPassword.render(),
        "/reset-password" => RESET_PASSWORD.render(),
        "/verify-email" => VERIFY_EMAIL.render(),
        "/confirm-email" => CONFIRM_EMAIL.render(),
        "/revert-email" => REVERT_EMAIL.render(),
        "/sign-in" => SignIn.render(),
        "/account" => Account.render(),
        "/admin" => Admin.render(),
        _ => return None,
    };
    // The templates take no input: rendering cannot fail at run time
    // (a test renders every page).
    rendered.ok()
}

fn document(
    status: StatusCode,
    content_type: &'static str,
    cache: &'static str,
    body: Body,
) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::CONTENT_SECURITY_POLICY, policy().clone());
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    response
}

fn route_key(req: &Request) -> String {
    req.request_context_ref()
        .and_then(|c| match c {
            lambda_http::request::RequestContext::ApiGatewayV2(c) => c.route_key.clone(),
            _ => None,
        })
        .unwrap_or_default()
}

/// The answer to one request, chosen by its route.
pub fn answer(req: &Request) -> Response<Body> {
    let route = route_key(req);
    let path = route.strip_prefix("GET ").unwrap_or_default();
    match path {
        "/assets/app.js" => document(
            StatusCode::OK,
            "text/javascript; charset=utf-8",
            "public, max-age=300",
            Body::Text(APP_JS.to_owned()),
        ),
        "/assets/app.css" => document(
            StatusCode::OK,
            "text/css; charset=utf-8",
            "public, max-age=300",
            Body::Text(APP_CSS.to_owned()),
        ),
        _ => match render(path) {
            Some(html) => document(
                StatusCode::OK,
                "text/html; charset=utf-8",
                "no-cache",
                Body::Text(html),
            ),
            // edge's answer for a route key a function does not serve (this
            // function links nothing of the workspace's).
            None => document(
                StatusCode::NOT_FOUND,
                "application/problem+json",
                "no-store",
                Body::Text(
                    r#"{"type":"/problems/no-route","title":"Not found","status":404,"detail":"No such route."}"#
                        .to_owned(),
                ),
            ),
        },
    }
}

/// The handler in the shape of every function's (the local server's table).
pub async fn handle<S>(_state: S, req: Request) -> Response<Body> {
    answer(&req)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_renders_whole_with_its_script_and_no_inline_code() {
        for path in PAGES {
            let html = render(path).unwrap_or_else(|| panic!("{path} does not render"));
            assert!(html.starts_with("<!doctype html>"), "{path}");
            assert!(
                html.contains(r#"<script src="assets/app.js" defer></script>"#),
                "{path}"
            );
            assert!(html.contains(r#"<html lang="en">"#), "{path}");
            // The policy allows no inline script or style, so none may be written.
            assert_eq!(html.matches("<script").count(), 1, "{path}");
            for inline in [
                " style=",
                " onclick=",
                " onload=",
                " onsubmit=",
                "<style",
                "javascript:",
            ] {
                assert!(!html.contains(inline), "{path} has {inline}");
            }
            // A form the script has not taken over yet posts its fields
            // in a body, never as a query (a password in the URL).
            assert_eq!(
                html.matches("<form ").count(),
                html.matches(r#"method="post""#).count(),
                "{path}"
            );
            // Every input has a label.
            for id in html.split("<input id=\"").skip(1) {
                let id = id.split('"').next().unwrap_or_default();
                assert!(
                    html.contains(&format!(r#"for="{id}""#)),
                    "{path}: #{id} has no label"
                );
            }
        }
        assert_eq!(render("/nope"), None);
    }

    #[test]
    fn the_policy_names_the_blob_store_only_where_it_is_another_origin() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert!(
            blob_origins(env(&[("BUCKET_NAME", "b")])).is_empty(),
            "embedded"
        );
        assert_eq!(
            blob_origins(env(&[
                ("STORE", "aws"),
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:5055/"),
                ("BUCKET_NAME", "b"),
            ])),
            ["http://127.0.0.1:5055"]
        );
        assert_eq!(
            blob_origins(env(&[
                ("STORE", "aws"),
                ("BUCKET_NAME", "files-1-eu-west-1"),
                ("AWS_REGION", "eu-west-1"),
            ])),
            [
                "https://files-1-eu-west-1.s3.eu-west-1.amazonaws.com",
                "https://files-1-eu-west-1.s3.amazonaws.com"
            ]
        );
        // Nothing that could break out of the header's grammar.
        assert!(
            blob_origins(env(&[
                ("STORE", "aws"),
                ("BUCKET_NAME", "b; script-src *"),
                ("AWS_REGION", "eu-west-1"),
            ]))
            .is_empty()
        );
        let policy = content_security_policy(&["https://b.s3.amazonaws.com".to_owned()]);
        assert!(policy.contains("connect-src 'self' https://b.s3.amazonaws.com;"));
        assert!(policy.contains("img-src 'self' data: blob: https://b.s3.amazonaws.com;"));
    }

    /// A request as API Gateway hands it over: what matters here is its route key.
    fn request_for(route_key: &str) -> Request {
        let mut req = Request::default();
        let mut context =
            lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext::default();
        context.route_key = Some(route_key.into());
        req.extensions_mut()
            .insert(lambda_http::request::RequestContext::ApiGatewayV2(context));
        req
    }

    #[test]
    fn a_route_this_function_does_not_serve_is_a_404_problem() {
        let missing = answer(&request_for("GET /nope"));
        assert_eq!(missing.status(), 404);
        assert_eq!(
            missing.headers()["content-type"],
            "application/problem+json"
        );
        assert_eq!(answer(&request_for("GET /login")).status(), 200);
    }

    #[test]
    fn each_page_names_itself_for_the_script() {
        for path in PAGES {
            let html = render(path).unwrap_or_default();
            let name = if *path == "/" { "index" } else { &path[1..] };
            assert!(
                html.contains(&format!(r#"<body data-page="{name}">"#)),
                "{path}"
            );
            let part = [format!("'{name}'() {{"), format!("{name}() {{")];
            assert!(
                part.iter().any(|p| APP_JS.contains(p.as_str())),
                "app.js has no part for {path}"
            );
        }
    }
}
