//! The OpenAPI 3.1 document, generated from the code: response types derive
//! `ToSchema` where they are defined, request bodies are described here,
//! each route has one annotated operation below, and [`CommonResponses`]
//! adds the answers every route can give (problems, and API Gateway's own
//! 401/403 on protected routes) from the route table itself.
//!
//! Served at `GET /openapi.json` (docs at `GET /docs`) and committed as
//! `openapi.json`; a test fails when the committed copy is out of date
//! (`UPDATE_OPENAPI=1 cargo test -p local --test openapi` rewrites it).

#![allow(dead_code)]

use serde::Deserialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, OpenApi as Document, Ref, RefOr, ResponseBuilder, Schema};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::routes::ROUTES;

// The constraints below are the validation's own, so that generated
// clients (and schemathesis) send what the API accepts. What a schema
// cannot say (password strength, a birth date in the past) is described.

/// The patterns of request-body properties (utoipa's attribute takes only
/// literals; [`Constraints`] applies these to the document).
const PATTERNS: &[(&str, &str, &str)] = &[
    ("SignupBody", "email", EMAIL),
    ("SignupBody", "name", LINE),
    ("SignupBody", "surname", LINE),
    ("SignupBody", "username", USERNAME),
    ("RefreshBody", "refresh_token", REFRESH_TOKEN),
    ("RefreshForm", "refresh_token", REFRESH_TOKEN),
    ("NewBookBody", "title", LINE),
    ("NewBookBody", "author", LINE),
    ("NewBookBody", "isbn", ISBN),
    ("BookPatchBody", "title", LINE),
    ("BookPatchBody", "author", LINE),
    ("BookPatchBody", "isbn", ISBN),
    ("NewTaskBody", "title", LINE),
    ("NewTaskBody", "description", TEXT),
    ("TaskPatchBody", "title", LINE),
    ("TaskPatchBody", "description", TEXT),
    ("ProfilePatchBody", "name", LINE),
    ("ProfilePatchBody", "surname", LINE),
    ("ProfilePatchBody", "username", USERNAME),
    ("ProfilePatchBody", "bio", BIO),
    ("OrderLineBody", "book_id", UUID),
    ("VerifyEmailBody", "token", REFRESH_TOKEN),
    ("EmailChangeConfirmBody", "token", REFRESH_TOKEN),
    ("EmailChangeRevertBody", "token", REFRESH_TOKEN),
    ("ResetConfirmBody", "token", REFRESH_TOKEN),
    ("ResetRequestBody", "email", EMAIL),
    ("EmailChangeBody", "new_email", EMAIL),
];

/// A UUID, as ids are.
const UUID: &str = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

/// One line of text: at least one visible character, no control characters.
const LINE: &str = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$";
/// Free text: no control characters but line feeds and tabs.
const TEXT: &str = r"^[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*$";
/// A bio: no control characters but line feeds.
const BIO: &str = r"^[^\u0000-\u0009\u000b-\u001f\u007f-\u009f]*$";
/// An email address as the API parses it (a dot in the domain, no spaces).
const EMAIL: &str = r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,63}$";
/// A username: 3 to 30 of letters, digits, `_`, `.`, `-`, starting with a letter or digit.
const USERNAME: &str = "^[A-Za-z0-9][A-Za-z0-9_.-]{2,29}$";
/// ISBN-10 or ISBN-13 characters (the check digit is verified too).
const ISBN: &str = "^[0-9Xx -]{10,17}$";
/// Our opaque tokens (refresh and one-time): 43 base64url characters.
const REFRESH_TOKEN: &str = "^[A-Za-z0-9_-]{43}$";

#[derive(ToSchema, Deserialize)]
#[schema(example = json!({"email": "ada@example.com", "password": "vivid tundra lantern 47", "name": "Ada"}))]
struct SignupBody {
    #[schema(format = Email, max_length = 254)]
    email: String,
    /// 8 to 128 characters that zxcvbn rates at least 3 of 4: a few
    /// unrelated words make one; a common or guessable password is refused.
    #[schema(min_length = 8, max_length = 128)]
    password: String,
    #[schema(min_length = 1, max_length = 100)]
    name: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    surname: Option<String>,
    username: Option<String>,
    /// In the past, not before 1900-01-01.
    #[schema(format = Date)]
    date_of_birth: Option<String>,
}

#[derive(ToSchema, Deserialize)]
#[schema(example = json!({"email": "ada@example.com", "password": "vivid tundra lantern 47"}))]
struct LoginBody {
    #[schema(min_length = 1, max_length = 254)]
    email: String,
    #[schema(min_length = 1, max_length = 1024)]
    password: String,
    /// The `device_token` of an earlier sign-in on this device: strangers'
    /// failures never lock a trusted device out.
    #[schema(max_length = 64)]
    device_token: Option<String>,
}

/// A sign-in link's token (from the fragment, `#token=`).
#[derive(ToSchema, Deserialize)]
struct LoginLinkBody {
    /// 43 base64url characters.
    token: String,
}

/// The OAuth2 password grant form.
#[derive(ToSchema, Deserialize)]
struct LoginForm {
    /// The email.
    username: String,
    password: String,
    /// `password` when given.
    grant_type: Option<String>,
    /// As in the JSON body.
    device_token: Option<String>,
}

#[derive(ToSchema, Deserialize)]
struct ValidateBody {
    token: String,
}

#[derive(ToSchema, Deserialize)]
struct RefreshBody {
    refresh_token: String,
}

/// The OAuth2 refresh-token grant form.
#[derive(ToSchema, Deserialize)]
struct RefreshForm {
    /// Must be `refresh_token`.
    #[schema(pattern = "^refresh_token$")]
    grant_type: String,
    refresh_token: String,
}

#[derive(ToSchema, Deserialize)]
struct PasswordChangeBody {
    #[schema(min_length = 1, max_length = 1024)]
    current_password: String,
    /// As at signup: 8 to 128 characters that zxcvbn rates at least 3 of 4.
    #[schema(min_length = 8, max_length = 128)]
    new_password: String,
}

#[derive(ToSchema, Deserialize)]
#[schema(example = json!({"title": "Structure and Interpretation of Computer Programs", "author": "Abelson, Sussman", "price_cents": 4500, "stock": 10}))]
struct NewBookBody {
    #[schema(min_length = 1, max_length = 300)]
    title: String,
    #[schema(min_length = 1, max_length = 200)]
    author: String,
    /// ISBN-10 or ISBN-13 (check digit verified; hyphens allowed).
    isbn: Option<String>,
    #[schema(minimum = 0, maximum = 1000000)]
    price_cents: i64,
    /// Copies in stock (default 0).
    #[schema(minimum = 0, maximum = 1000000)]
    stock: Option<i64>,
}

/// Absent fields are unchanged; `null` clears `isbn`. Stock changes only by `stock_delta`.
#[derive(ToSchema, Deserialize)]
struct BookPatchBody {
    #[schema(min_length = 1, max_length = 300)]
    title: Option<String>,
    #[schema(min_length = 1, max_length = 200)]
    author: Option<String>,
    isbn: Option<String>,
    #[schema(minimum = 0, maximum = 1000000)]
    price_cents: Option<i64>,
    /// Copies to add (positive) or remove (negative); the stock stays within 0 to 1000000.
    #[schema(minimum = -1000000, maximum = 1000000)]
    stock_delta: Option<i64>,
    /// The version the edit is based on (a stale one is 409).
    #[schema(minimum = 1)]
    version: Option<u64>,
}

#[derive(ToSchema)]
struct BookPage {
    items: Vec<shared::domain::Book>,
    /// Pass it back as `cursor` for the next page; null on the last.
    next_cursor: Option<String>,
}

#[derive(ToSchema, Deserialize)]
struct OrderLineBody {
    /// A book's id (a UUID).
    book_id: String,
    #[schema(minimum = 1, maximum = 100)]
    quantity: i64,
}

#[derive(ToSchema, Deserialize)]
struct NewOrderBody {
    /// 1 to 20 lines, each book once.
    #[schema(min_items = 1, max_items = 20)]
    items: Vec<OrderLineBody>,
}

#[derive(ToSchema)]
struct OrderPage {
    items: Vec<shared::domain::Order>,
    /// Pass it back as `cursor` for the next page; null on the last.
    next_cursor: Option<String>,
}

/// A new task.
#[derive(ToSchema, Deserialize)]
#[schema(example = json!({"title": "Write the report", "due_date": "2026-12-01"}))]
struct NewTaskBody {
    #[schema(min_length = 1, max_length = 200)]
    title: String,
    #[schema(max_length = 5000)]
    description: Option<String>,
    /// `todo` when left out.
    status: Option<shared::domain::TaskStatus>,
    /// From 2000-01-01 to 2999-12-31.
    #[schema(format = Date, pattern = "^2[0-9]{3}-")]
    due_date: Option<String>,
}

/// Absent fields are unchanged; `null` clears `description` or `due_date`.
#[derive(ToSchema, Deserialize)]
struct TaskPatchBody {
    #[schema(min_length = 1, max_length = 200)]
    title: Option<String>,
    #[schema(max_length = 5000)]
    description: Option<String>,
    status: Option<shared::domain::TaskStatus>,
    /// From 2000-01-01 to 2999-12-31.
    #[schema(format = Date, pattern = "^2[0-9]{3}-")]
    due_date: Option<String>,
    /// The version the edit is based on (a stale one is 409).
    #[schema(minimum = 1)]
    version: Option<u64>,
}

#[derive(ToSchema)]
struct TaskPage {
    items: Vec<shared::domain::Task>,
    /// Pass it back as `cursor` for the next page; null on the last.
    next_cursor: Option<String>,
}

/// Absent fields are unchanged; `null` clears a field.
#[derive(ToSchema, Deserialize)]
struct ProfilePatchBody {
    #[schema(min_length = 1, max_length = 100)]
    name: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    surname: Option<String>,
    username: Option<String>,
    /// In the past, not before 1900-01-01.
    #[schema(format = Date, pattern = "^(19|20)[0-9]{2}-")]
    date_of_birth: Option<String>,
    #[schema(max_length = 500)]
    bio: Option<String>,
    /// The version the edit is based on (a stale one is 409).
    #[schema(minimum = 1)]
    version: Option<u64>,
}

#[derive(ToSchema, Deserialize)]
struct PasswordBody {
    #[schema(min_length = 1, max_length = 1024)]
    password: String,
}

#[derive(ToSchema, Deserialize)]
struct RolePatchBody {
    role: shared::domain::Role,
}

/// API Gateway's own answers (401, 403, 404, 413): not problem documents.
#[derive(ToSchema)]
struct GatewayMessage {
    message: String,
}

#[derive(ToSchema)]
struct Jwk {
    kty: String,
    crv: String,
    x: String,
    kid: String,
    alg: String,
    #[schema(rename = "use")]
    r#use: String,
}

#[derive(ToSchema)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(ToSchema)]
struct OpenIdConfiguration {
    issuer: String,
    jwks_uri: String,
    token_endpoint: String,
    grant_types_supported: Vec<String>,
    response_types_supported: Vec<String>,
    subject_types_supported: Vec<String>,
    id_token_signing_alg_values_supported: Vec<String>,
    token_endpoint_auth_methods_supported: Vec<String>,
}

#[derive(ToSchema)]
struct Check {
    status: String,
    latency_ms: f64,
}

#[derive(ToSchema)]
struct Health {
    /// `ok` or `degraded`.
    status: String,
    /// `embedded` or `aws`.
    backend: String,
    version: String,
    checks: std::collections::BTreeMap<String, Check>,
}

#[derive(ToSchema)]
struct SessionView {
    id: String,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    last_used_at: String,
    ip: Option<String>,
    user_agent: Option<String>,
    current: bool,
    active: bool,
}

#[derive(ToSchema)]
struct SessionList {
    items: Vec<SessionView>,
}

#[derive(ToSchema)]
struct UserPage {
    items: Vec<shared::domain::PublicUser>,
    /// Pass it back as `cursor` for the next page; null on the last.
    next_cursor: Option<String>,
}

#[derive(ToSchema)]
struct AuditEntryView {
    id: String,
    #[schema(format = DateTime)]
    at: String,
    action: String,
    actor_id: Option<String>,
    user_id: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    detail: serde_json::Value,
}

#[derive(ToSchema)]
struct AuditPage {
    items: Vec<AuditEntryView>,
    next_cursor: Option<String>,
}

/// Everything kept about the caller.
#[derive(ToSchema)]
struct Export {
    exported_at: i64,
    user: shared::domain::PublicUser,
    sessions: Vec<serde_json::Value>,
    settings: Option<serde_json::Value>,
    audit: Vec<AuditEntryView>,
    tasks: Vec<shared::domain::Task>,
    orders: Vec<shared::domain::Order>,
}

#[derive(ToSchema)]
struct Redriven {
    moved: u32,
}

#[derive(ToSchema)]
struct DeadLetters {
    count: u32,
}

const PROBLEM: &str = "application/problem+json";

#[utoipa::path(post, path = "/auth/signup", tag = "auth", request_body = SignupBody,
    responses((status = 201, description = "The new user", body = shared::domain::PublicUser),
              (status = 202, description = "With SIGNUP_CONCEALS_EXISTING=true, for a free and a taken address alike: check your mail", body = Accepted),
              (status = 409, description = "Email (unless concealed) or username taken", body = edge::error::Problem, content_type = PROBLEM)))]
fn signup() {}

/// A verification link's token, with the password half: the account's
/// current password, or a new one (exactly one of the two). The link proves
/// the mailbox; the password, that no one else set the account up.
#[derive(ToSchema, Deserialize)]
struct VerifyEmailBody {
    /// 43 base64url characters, from the link's fragment (`#token=`).
    token: String,
    /// The account's current password.
    #[schema(min_length = 1, max_length = 1024)]
    password: Option<String>,
    /// A new password replacing the one set before the address was proven
    /// (signup's rules).
    #[schema(min_length = 8, max_length = 128)]
    new_password: Option<String>,
}

/// An address-change link's token and the account's password: the click
/// alone proves the new mailbox, not the account.
#[derive(ToSchema, Deserialize)]
struct EmailChangeConfirmBody {
    /// 43 base64url characters, from the link's fragment (`#token=`).
    token: String,
    #[schema(min_length = 1, max_length = 1024)]
    password: String,
}

#[derive(ToSchema, Deserialize)]
struct ResetRequestBody {
    #[schema(format = Email, max_length = 254)]
    email: String,
    /// The `device_token` of an earlier sign-in: a trusted device has its
    /// own allowance of reset mails, out of strangers' reach.
    #[schema(max_length = 64)]
    device_token: Option<String>,
}

#[derive(ToSchema, Deserialize)]
struct ResetConfirmBody {
    /// 43 base64url characters.
    token: String,
    /// As at signup: 8 to 128 characters that zxcvbn rates at least 3 of 4.
    #[schema(min_length = 8, max_length = 128)]
    new_password: String,
}

#[derive(ToSchema, Deserialize)]
struct EmailChangeBody {
    #[schema(format = Email, max_length = 254)]
    new_email: String,
    #[schema(min_length = 1, max_length = 1024)]
    password: String,
}

/// A 202's body.
#[derive(ToSchema)]
struct Accepted {
    message: String,
}

#[utoipa::path(post, path = "/auth/verify-email", tag = "auth", request_body = VerifyEmailBody,
    responses((status = 204, description = "The address is verified; every session and every other pending link ends (an address in ADMIN_EMAILS becomes admin now)"),
              (status = 400, description = "The token is unknown, used, superseded, expired, or ended by a change of the account (one answer)", body = edge::error::Problem, content_type = PROBLEM),
              (status = 422, description = "No password or new password, both, a wrong password or a weak new one", body = edge::error::Problem, content_type = PROBLEM),
              (status = 409, description = "The account changed meanwhile", body = edge::error::Problem, content_type = PROBLEM)))]
fn verify_email_op() {}

#[utoipa::path(post, path = "/auth/verify-email/resend", tag = "auth", security(("bearer" = [])),
    responses((status = 202, description = "A new link is mailed; earlier ones stop working", body = Accepted),
              (status = 409, description = "The address is already verified", body = edge::error::Problem, content_type = PROBLEM)))]
fn verify_email_resend_op() {}

#[utoipa::path(post, path = "/auth/password-reset", tag = "auth", request_body = ResetRequestBody,
    responses((status = 202, description = "The same answer whether or not an account has the address", body = Accepted)))]
fn password_reset_op() {}

#[utoipa::path(post, path = "/auth/password-reset/confirm", tag = "auth", request_body = ResetConfirmBody,
    responses((status = 204, description = "The password is changed; every session and every other pending link is over; the address counts as verified; the login lock is cleared"),
              (status = 400, description = "The token is unknown, used, superseded or expired (one answer)", body = edge::error::Problem, content_type = PROBLEM),
              (status = 409, description = "The account changed meanwhile", body = edge::error::Problem, content_type = PROBLEM)))]
fn password_reset_confirm_op() {}

#[utoipa::path(post, path = "/users/me/email", tag = "users", request_body = EmailChangeBody, security(("bearer" = [])),
    responses((status = 202, description = "A link to the new address, a notice to the old one; nothing changes yet", body = Accepted)))]
fn email_change_op() {}

#[utoipa::path(post, path = "/auth/email-change/confirm", tag = "auth", request_body = EmailChangeConfirmBody,
    responses((status = 204, description = "The address is changed (and verified); every session and pending link ends"),
              (status = 422, description = "The password is missing or wrong", body = edge::error::Problem, content_type = PROBLEM),
              (status = 400, description = "The token is unknown, used, superseded or expired (one answer)", body = edge::error::Problem, content_type = PROBLEM),
              (status = 409, description = "Another account took the address meanwhile", body = edge::error::Problem, content_type = PROBLEM)))]
fn email_change_confirm_op() {}

/// The link mailed to the previous address after a confirmed change, and
/// the password that replaces whatever the account has now.
#[derive(ToSchema, Deserialize)]
struct EmailChangeRevertBody {
    /// 43 base64url characters, from the link's fragment (`#token=`).
    token: String,
    /// Signup's rules.
    #[schema(min_length = 8, max_length = 128)]
    new_password: String,
}

#[utoipa::path(post, path = "/auth/email-change/revert", tag = "auth", request_body = EmailChangeRevertBody,
    responses((status = 204, description = "The address is back, the new password set, every session and pending link ended"),
              (status = 400, description = "The token is unknown, used or expired (one answer)", body = edge::error::Problem, content_type = PROBLEM),
              (status = 409, description = "Another account took the previous address meanwhile", body = edge::error::Problem, content_type = PROBLEM),
              (status = 422, description = "A missing or weak new password", body = edge::error::Problem, content_type = PROBLEM)))]
fn email_change_revert_op() {}

#[utoipa::path(post, path = "/auth/register", tag = "auth", request_body = SignupBody,
    responses((status = 201, description = "The new user (alias of /auth/signup)", body = shared::domain::PublicUser),
              (status = 409, description = "Email or username taken", body = edge::error::Problem, content_type = PROBLEM)))]
fn register() {}

#[utoipa::path(post, path = "/auth/login", tag = "auth",
    request_body(content((LoginBody = "application/json"), (LoginForm = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "Tokens, and the device token to keep", body = login::TokenResponse),
              (status = 401, description = "Wrong email or password (one generic answer)", body = edge::error::Problem, content_type = PROBLEM),
              (status = 429, description = "Too many failures: this device's own, or (type locked-for-new-devices) strangers' on this account, in which case a sign-in link is mailed to it", body = edge::error::Problem, content_type = PROBLEM)))]
fn login_op() {}

#[utoipa::path(post, path = "/auth/login/link", tag = "auth", request_body = LoginLinkBody,
    responses((status = 200, description = "Tokens and a device token: the link is used up and this device trusted", body = login::TokenResponse),
              (status = 400, description = "The token is unknown, used, superseded, expired, or ended by a change of the account (one answer)", body = edge::error::Problem, content_type = PROBLEM)))]
fn login_link_op() {}

#[utoipa::path(post, path = "/auth/validate-token", tag = "auth", request_body = ValidateBody,
    responses((status = 200, description = "The token is valid", body = validate_token::ValidateResponse),
              (status = 401, description = "Invalid or expired", body = edge::error::Problem, content_type = PROBLEM)))]
fn validate() {}

#[utoipa::path(post, path = "/auth/refresh", tag = "auth",
    request_body(content((RefreshBody = "application/json"), (RefreshForm = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "A new token pair", body = login::TokenResponse),
              (status = 401, description = "Invalid, expired or reused refresh token", body = edge::error::Problem, content_type = PROBLEM)))]
fn refresh_op() {}

#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "keys", responses((status = 200, description = "The public keys", body = Jwks)))]
fn jwks_op() {}

#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "keys",
    responses((status = 200, description = "Issuer and key locations", body = OpenIdConfiguration)))]
fn oidc() {}

#[utoipa::path(get, path = "/health", tag = "ops",
    responses((status = 200, description = "Every dependency is up", body = Health),
              (status = 503, description = "A dependency is down", body = Health)))]
fn health_op() {}

#[utoipa::path(get, path = "/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, description = "The caller", body = edge::http::Caller)))]
fn me() {}

#[utoipa::path(post, path = "/auth/logout", tag = "sessions", security(("bearer" = [])),
    responses((status = 204, description = "The current session ended")))]
fn logout() {}

#[utoipa::path(post, path = "/auth/logout-all", tag = "sessions", security(("bearer" = [])),
    responses((status = 204, description = "Every session ended")))]
fn logout_all() {}

#[utoipa::path(get, path = "/auth/sessions", tag = "sessions", security(("bearer" = [])),
    responses((status = 200, description = "The caller's sessions", body = SessionList)))]
fn sessions_list() {}

#[utoipa::path(delete, path = "/auth/sessions/{id}", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path, description = "Session id")),
    responses((status = 204, description = "Ended"),
              (status = 404, description = "No such session of yours", body = edge::error::Problem, content_type = PROBLEM)))]
fn session_end() {}

#[utoipa::path(post, path = "/auth/password", tag = "sessions", security(("bearer" = [])), request_body = PasswordChangeBody,
    responses((status = 204, description = "Changed; other sessions ended"),
              (status = 409, description = "The account changed meanwhile", body = edge::error::Problem, content_type = PROBLEM)))]
fn password() {}

#[utoipa::path(get, path = "/users/me", tag = "profile", security(("bearer" = [])),
    responses((status = 200, description = "The caller's profile (ETag set)", body = shared::domain::PublicUser),
              (status = 404, description = "The account no longer exists", body = edge::error::Problem, content_type = PROBLEM)))]
fn me_get() {}

#[utoipa::path(patch, path = "/users/me", tag = "profile", security(("bearer" = [])), request_body = ProfilePatchBody,
    params(("If-Match" = Option<String>, Header, description = "The ETag the edit is based on (`\"v{version}\"` or `*`); a stale or weak (`W/`) one is 412", pattern = r#"^(\*|"v[0-9]+")$"#)),
    responses((status = 200, description = "The updated profile", body = shared::domain::PublicUser),
              (status = 404, description = "The account no longer exists", body = edge::error::Problem, content_type = PROBLEM),
              (status = 409, description = "Stale version, or username taken", body = edge::error::Problem, content_type = PROBLEM),
              (status = 412, description = "Stale If-Match", body = edge::error::Problem, content_type = PROBLEM)))]
fn me_patch() {}

#[utoipa::path(delete, path = "/users/me", tag = "profile", security(("bearer" = [])), request_body = PasswordBody,
    responses((status = 204, description = "The account and everything about it deleted"),
              (status = 404, description = "The account no longer exists", body = edge::error::Problem, content_type = PROBLEM),
              (status = 409, description = "The account changed meanwhile", body = edge::error::Problem, content_type = PROBLEM)))]
fn me_delete() {}

#[utoipa::path(get, path = "/users/me/export", tag = "profile", security(("bearer" = [])),
    responses((status = 200, description = "All of the caller's data", body = Export),
              (status = 404, description = "The account no longer exists", body = edge::error::Problem, content_type = PROBLEM)))]
fn me_export() {}

#[utoipa::path(get, path = "/admin/users", tag = "admin", security(("bearer" = [])),
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 100), ("cursor" = Option<String>, Query),
           ("q" = Option<String>, Query, description = "An email prefix, or @ and a username prefix"), ("active" = Option<bool>, Query)),
    responses((status = 200, description = "One page of users", body = UserPage)))]
fn admin_users() {}

#[utoipa::path(get, path = "/admin/users/{id}", tag = "admin", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, description = "The user", body = shared::domain::PublicUser),
              (status = 404, description = "No such user", body = edge::error::Problem, content_type = PROBLEM)))]
fn admin_user() {}

#[utoipa::path(patch, path = "/admin/users/{id}", tag = "admin", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = RolePatchBody,
    responses((status = 200, description = "The updated user", body = shared::domain::PublicUser),
              (status = 404, description = "No such user", body = edge::error::Problem, content_type = PROBLEM),
              (status = 409, description = "Changed meanwhile", body = edge::error::Problem, content_type = PROBLEM)))]
fn admin_patch() {}

#[utoipa::path(delete, path = "/admin/users/{id}", tag = "admin", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204, description = "Deleted"),
              (status = 404, description = "No such user", body = edge::error::Problem, content_type = PROBLEM),
              (status = 409, description = "Changed meanwhile", body = edge::error::Problem, content_type = PROBLEM)))]
fn admin_delete() {}

#[utoipa::path(post, path = "/admin/users/{id}/deactivate", tag = "admin", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, description = "Deactivated; their sessions ended", body = shared::domain::PublicUser),
              (status = 404, description = "No such user", body = edge::error::Problem, content_type = PROBLEM),
              (status = 409, description = "Changed meanwhile", body = edge::error::Problem, content_type = PROBLEM)))]
fn admin_deactivate() {}

#[utoipa::path(post, path = "/admin/users/{id}/activate", tag = "admin", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, description = "Activated", body = shared::domain::PublicUser),
              (status = 404, description = "No such user", body = edge::error::Problem, content_type = PROBLEM),
              (status = 409, description = "Changed meanwhile", body = edge::error::Problem, content_type = PROBLEM)))]
fn admin_activate() {}

#[utoipa::path(get, path = "/admin/audit", tag = "admin", security(("bearer" = [])),
    params(("user_id" = Option<String>, Query), ("limit" = Option<u32>, Query, minimum = 1, maximum = 100), ("cursor" = Option<String>, Query)),
    responses((status = 200, description = "Audit entries, newest first", body = AuditPage)))]
fn admin_audit() {}

#[utoipa::path(post, path = "/admin/events/redrive", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "Dead letters moved back", body = Redriven)))]
fn redrive() {}

#[utoipa::path(get, path = "/admin/events/dead-letters", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "How many user events wait in the dead-letter queue (SQS's approximate number)", body = DeadLetters)))]
fn dead_letters() {}

#[utoipa::path(get, path = "/tasks", tag = "tasks", security(("bearer" = [])),
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 100), ("cursor" = Option<String>, Query),
           ("status" = Option<shared::domain::TaskStatus>, Query, description = "Only tasks with this status")),
    responses((status = 200, description = "One page of the caller's tasks, newest first", body = TaskPage)))]
fn tasks_list() {}

#[utoipa::path(post, path = "/tasks", tag = "tasks", security(("bearer" = [])), request_body = NewTaskBody,
    responses((status = 201, description = "The new task (Location and ETag set)", body = shared::domain::Task)))]
fn tasks_create() {}

#[utoipa::path(get, path = "/tasks/{id}", tag = "tasks", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, description = "The task (ETag set)", body = shared::domain::Task),
              (status = 404, description = "No such task of the caller's", body = edge::error::Problem, content_type = PROBLEM)))]
fn task_get() {}

#[utoipa::path(patch, path = "/tasks/{id}", tag = "tasks", security(("bearer" = [])), params(("id" = String, Path),
    ("If-Match" = Option<String>, Header, description = "The ETag the edit is based on (`\"v{version}\"` or `*`); a stale or weak (`W/`) one is 412", pattern = r#"^(\*|"v[0-9]+")$"#)), request_body = TaskPatchBody,
    responses((status = 200, description = "The updated task", body = shared::domain::Task),
              (status = 404, description = "No such task of the caller's", body = edge::error::Problem, content_type = PROBLEM),
              (status = 409, description = "Stale version or a concurrent change", body = edge::error::Problem, content_type = PROBLEM),
              (status = 412, description = "Stale If-Match", body = edge::error::Problem, content_type = PROBLEM)))]
fn task_patch() {}

#[utoipa::path(delete, path = "/tasks/{id}", tag = "tasks", security(("bearer" = [])), params(("id" = String, Path),
    ("If-Match" = Option<String>, Header, description = "Delete only this version (`\"v{version}\"`)", pattern = r#"^(\*|"v[0-9]+")$"#)),
    responses((status = 204, description = "Deleted"),
              (status = 404, description = "No such task of the caller's", body = edge::error::Problem, content_type = PROBLEM),
              (status = 412, description = "Stale If-Match", body = edge::error::Problem, content_type = PROBLEM)))]
fn task_delete() {}

#[utoipa::path(post, path = "/users/me/pdf", tag = "profile", security(("bearer" = [])),
    responses((status = 201, description = "The profile PDF was drawn; a link to download it", body = pdf_generate::PdfLink),
              (status = 200, description = "The stored PDF already shows this profile version; a fresh link to it", body = pdf_generate::PdfLink),
              (status = 404, description = "The account no longer exists", body = edge::error::Problem, content_type = PROBLEM)))]
fn pdf_generate_op() {}

#[utoipa::path(get, path = "/users/me/pdf", tag = "profile", security(("bearer" = [])),
    responses((status = 200, description = "A fresh link to the stored PDF (`current` tells whether it shows the profile as it is now)", body = pdf_generate::PdfLink),
              (status = 404, description = "No PDF yet (POST makes one), or the account no longer exists", body = edge::error::Problem, content_type = PROBLEM)))]
fn pdf_get_op() {}

#[utoipa::path(get, path = "/books", tag = "shop",
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 100), ("cursor" = Option<String>, Query)),
    responses((status = 200, description = "One page of the catalog, in title order", body = BookPage)))]
fn books_list() {}

#[utoipa::path(get, path = "/books/{id}", tag = "shop", params(("id" = String, Path)),
    responses((status = 200, description = "The book (ETag set)", body = shared::domain::Book),
              (status = 404, description = "No such book", body = edge::error::Problem, content_type = PROBLEM)))]
fn book_get() {}

#[utoipa::path(post, path = "/books", tag = "shop", security(("bearer" = [])), request_body = NewBookBody,
    responses((status = 201, description = "The new book (Location and ETag set)", body = shared::domain::Book)))]
fn book_create() {}

#[utoipa::path(patch, path = "/books/{id}", tag = "shop", security(("bearer" = [])), params(("id" = String, Path),
    ("If-Match" = Option<String>, Header, description = "The ETag the edit is based on (`\"v{version}\"` or `*`); a stale or weak (`W/`) one is 412", pattern = r#"^(\*|"v[0-9]+")$"#)), request_body = BookPatchBody,
    responses((status = 200, description = "The updated book", body = shared::domain::Book),
              (status = 404, description = "No such book", body = edge::error::Problem, content_type = PROBLEM),
              (status = 409, description = "Stale version, or fewer copies than stock_delta removes", body = edge::error::Problem, content_type = PROBLEM),
              (status = 412, description = "Stale If-Match", body = edge::error::Problem, content_type = PROBLEM)))]
fn book_patch() {}

#[utoipa::path(post, path = "/orders", tag = "shop", security(("bearer" = [])), request_body = NewOrderBody,
    responses((status = 201, description = "The order, placed; its copies are taken from stock", body = shared::domain::Order),
              (status = 409, description = "Not enough copies (or a price changed): nothing was ordered", body = edge::error::Problem, content_type = PROBLEM)))]
fn order_place() {}

#[utoipa::path(get, path = "/orders", tag = "shop", security(("bearer" = [])),
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 100), ("cursor" = Option<String>, Query)),
    responses((status = 200, description = "One page of the caller's orders, newest first", body = OrderPage)))]
fn orders_list() {}

#[utoipa::path(get, path = "/orders/{id}", tag = "shop", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, description = "The order", body = shared::domain::Order),
              (status = 404, description = "No such order of the caller's", body = edge::error::Problem, content_type = PROBLEM)))]
fn order_get() {}

#[utoipa::path(get, path = "/posts", tag = "posts",
    params(("page" = Option<u64>, Query, minimum = 1, maximum = 1000000, description = "From 1 (default 1); a page past the end has no items"),
           ("per_page" = Option<u64>, Query, minimum = 1, maximum = 100, description = "Default 10"),
           ("search" = Option<String>, Query, max_length = 200, description = "Matches title or body, ignoring case (Unicode case folding)"),
           ("If-None-Match" = Option<String>, Header, description = "An ETag of this listing: 304 when still current")),
    responses((status = 200, description = "One page of posts, from the shared cache or the upstream",
                body = shared::posts::PostsPage,
                headers(("X-Cache" = String, description = "HIT (cached and fresh), MISS (this request fetched the upstream) or STALE (the upstream failed or is being refreshed)"),
                        ("Age" = u64, description = "Seconds since the upstream was fetched"),
                        ("ETag" = String, description = "Validator of this answer"),
                        ("Cache-Control" = String, description = "public, max-age= the remaining freshness"))),
              (status = 304, description = "Not modified (If-None-Match named the current ETag)"),
              (status = 502, description = "Nothing cached, and the upstream answered something that is not a list of posts", body = edge::error::Problem, content_type = PROBLEM),
              (status = 503, description = "Nothing cached, and the upstream is down or slow (see Retry-After)", body = edge::error::Problem, content_type = PROBLEM)))]
fn posts_list() {}

#[utoipa::path(get, path = "/posts/{id}", tag = "posts",
    params(("id" = u64, Path, description = "The post's id (a whole number; anything else is 404)", minimum = 1, maximum = 100000),
           ("If-None-Match" = Option<String>, Header, description = "An ETag of this post: 304 when still current")),
    responses((status = 200, description = "The post", body = shared::posts::Post,
                headers(("X-Cache" = String, description = "HIT, MISS or STALE"), ("Age" = u64), ("ETag" = String), ("Cache-Control" = String))),
              (status = 304, description = "Not modified"),
              (status = 404, description = "No such post", body = edge::error::Problem, content_type = PROBLEM),
              (status = 502, description = "Nothing cached, and the upstream answered something unusable", body = edge::error::Problem, content_type = PROBLEM),
              (status = 503, description = "Nothing cached, and the upstream is down or slow (see Retry-After)", body = edge::error::Problem, content_type = PROBLEM)))]
fn post_get() {}

#[utoipa::path(delete, path = "/admin/posts/cache", tag = "admin", security(("bearer" = [])),
    responses((status = 204, description = "The shared posts cache is dropped; the next request fetches the upstream (other warm processes keep their copy until it is no longer fresh)")))]
fn posts_cache_drop() {}

/// An image original (PNG, JPEG, WebP or GIF; at most 4 MiB in a request body).
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
struct ImageBytes(Vec<u8>);

/// A browser form upload.
#[derive(ToSchema)]
struct AvatarForm {
    /// The image (its part's Content-Type must be what the bytes are).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

#[derive(ToSchema, Deserialize)]
#[schema(example = json!({"content_type": "image/jpeg", "content_length": 2483211}))]
struct UploadUrlBody {
    /// The type of the file to upload (signed: the upload must send it).
    #[schema(pattern = "^image/(png|jpeg|webp|gif)$")]
    content_type: String,
    /// Its exact size in bytes (signed: another size is refused), at most 15 MiB.
    #[schema(minimum = 1, maximum = 15728640)]
    content_length: u64,
}

#[utoipa::path(put, path = "/users/me/avatar", tag = "profile", security(("bearer" = [])),
    request_body(description = "The image itself (at most 4 MiB: API Gateway carries binary bodies base64-encoded within Lambda's 6 MB payload; use an upload URL for up to 15 MiB), or a form with a `file` part",
        content((ImageBytes = "image/png"), (ImageBytes = "image/jpeg"), (ImageBytes = "image/webp"), (ImageBytes = "image/gif"), (AvatarForm = "multipart/form-data"))),
    responses((status = 200, description = "The new avatar: 512 and 128 pixel squares, upright, without metadata", body = media_upload::AvatarView),
              (status = 413, description = "Over 4 MiB", body = edge::error::Problem, content_type = PROBLEM),
              (status = 415, description = "Not a PNG, JPEG, WebP or GIF image (SVG is refused), or not the type declared", body = edge::error::Problem, content_type = PROBLEM),
              (status = 422, description = "Truncated or corrupt, or more than 12,000 pixels a side (`errors` names `file`)", body = edge::error::Problem, content_type = PROBLEM)))]
fn avatar_put() {}

#[utoipa::path(post, path = "/users/me/avatar/upload-url", tag = "profile", security(("bearer" = [])), request_body = UploadUrlBody,
    responses((status = 201, description = "A presigned PUT, valid 5 minutes, for exactly this type and size; the avatar is processed when the upload lands (see GET /users/me/avatar)", body = media_upload::UploadUrl),
              (status = 413, description = "content_length over 15 MiB", body = edge::error::Problem, content_type = PROBLEM),
              (status = 415, description = "content_type is not an accepted image type", body = edge::error::Problem, content_type = PROBLEM),
              (status = 429, description = "More than 20 upload URLs in this hour (see Retry-After)", body = edge::error::Problem, content_type = PROBLEM)))]
fn avatar_upload_url() {}

#[utoipa::path(get, path = "/users/me/avatar", tag = "profile", security(("bearer" = [])),
    responses((status = 200, description = "Links to the avatar (10 minutes) and the state of the latest upload", body = media_upload::AvatarView),
              (status = 404, description = "No avatar and no upload", body = edge::error::Problem, content_type = PROBLEM)))]
fn avatar_get() {}

#[utoipa::path(delete, path = "/users/me/avatar", tag = "profile", security(("bearer" = [])),
    responses((status = 204, description = "The avatar is gone, images included (also when there was none)")))]
fn avatar_delete() {}

// The calls of the systems we replace, kept for their clients (README:
// "Coming from the old services"). Each is the operation it aliases.

#[utoipa::path(get, path = "/profile/me", tag = "compatibility", security(("bearer" = [])),
    responses((status = 200, description = "The caller's profile, as `GET /users/me` (the assessment API's call)", body = shared::domain::PublicUser),
              (status = 404, description = "The account no longer exists", body = edge::error::Problem, content_type = PROBLEM)))]
fn profile_me() {}

#[utoipa::path(put, path = "/users/me", tag = "compatibility", security(("bearer" = [])), request_body = ProfilePatchBody,
    params(("If-Match" = Option<String>, Header, description = "The ETag the edit is based on; a stale one is 412", pattern = r#"^(\*|"v[0-9]+")$"#)),
    responses((status = 200, description = "The whole editable profile replaced: a field left out is cleared (the users service's call; `PATCH` changes only what is given)", body = shared::domain::PublicUser),
              (status = 404, description = "The account no longer exists", body = edge::error::Problem, content_type = PROBLEM),
              (status = 409, description = "Stale version, or username taken", body = edge::error::Problem, content_type = PROBLEM),
              (status = 412, description = "Stale If-Match", body = edge::error::Problem, content_type = PROBLEM)))]
fn me_put() {}

#[utoipa::path(post, path = "/users/createprofile", tag = "compatibility", security(("bearer" = [])), request_body = ProfilePatchBody,
    responses((status = 200, description = "The profile fields given are set, as `PATCH /users/me` does (the users service's call)", body = shared::domain::PublicUser),
              (status = 404, description = "The account no longer exists", body = edge::error::Problem, content_type = PROBLEM),
              (status = 409, description = "Stale version, or username taken", body = edge::error::Problem, content_type = PROBLEM)))]
fn create_profile() {}

#[utoipa::path(delete, path = "/users/deleteprofile", tag = "compatibility", security(("bearer" = [])),
    responses((status = 200, description = "Every editable profile field cleared; the account stays (the users service's call; `DELETE /users/me` deletes the account)", body = shared::domain::PublicUser),
              (status = 404, description = "The account no longer exists", body = edge::error::Problem, content_type = PROBLEM),
              (status = 409, description = "The profile changed meanwhile", body = edge::error::Problem, content_type = PROBLEM)))]
fn delete_profile() {}

/// A PDF document.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
struct PdfBytes(Vec<u8>);

#[utoipa::path(get, path = "/pdf/generate", tag = "compatibility", security(("bearer" = [])),
    responses((status = 200, description = "The profile PDF itself (the PDF service's call): drawn when the stored one does not show the current profile", body = PdfBytes, content_type = "application/pdf"),
              (status = 404, description = "The account no longer exists", body = edge::error::Problem, content_type = PROBLEM)))]
fn pdf_download() {}

#[utoipa::path(post, path = "/media/avatar", tag = "compatibility", security(("bearer" = [])),
    request_body(description = "As `PUT /users/me/avatar` (the media service's call): a form with a `file` part, or the image itself, at most 4 MiB",
        content((AvatarForm = "multipart/form-data"), (ImageBytes = "image/png"), (ImageBytes = "image/jpeg"), (ImageBytes = "image/webp"), (ImageBytes = "image/gif"))),
    responses((status = 200, description = "The new avatar's links", body = media_upload::AvatarView),
              (status = 413, description = "Over 4 MiB", body = edge::error::Problem, content_type = PROBLEM),
              (status = 415, description = "Not a PNG, JPEG, WebP or GIF image, or not the type declared", body = edge::error::Problem, content_type = PROBLEM),
              (status = 422, description = "Truncated or corrupt, or too many pixels", body = edge::error::Problem, content_type = PROBLEM)))]
fn media_upload_op() {}

#[utoipa::path(get, path = "/media/avatar", tag = "compatibility", security(("bearer" = [])),
    responses((status = 200, description = "The avatar's links, as `GET /users/me/avatar` (the media service's call)", body = media_upload::AvatarView),
              (status = 404, description = "No avatar and no upload", body = edge::error::Problem, content_type = PROBLEM)))]
fn media_get_op() {}

#[utoipa::path(delete, path = "/media/avatar", tag = "compatibility", security(("bearer" = [])),
    responses((status = 204, description = "The avatar is gone, as `DELETE /users/me/avatar` (the media service's call)")))]
fn media_delete_op() {}

#[utoipa::path(get, path = "/openapi.json", tag = "ops",
    responses((status = 200, description = "This document", content_type = "application/json")))]
fn openapi_op() {}

#[utoipa::path(get, path = "/docs", tag = "ops",
    responses((status = 200, description = "The reference page (Redoc), served from here", content_type = "text/html")))]
fn docs_op() {}

#[utoipa::path(get, path = "/redoc", tag = "ops",
    responses((status = 200, description = "The reference page, where FastAPI serves Redoc", content_type = "text/html")))]
fn redoc_op() {}

#[utoipa::path(get, path = "/docs/redoc.standalone.js", tag = "ops",
    responses((status = 200, description = "Redoc itself (MIT), so the page needs no CDN", content_type = "application/javascript")))]
fn redoc_js_op() {}

#[derive(OpenApi)]
#[openapi(
    info(title = "User platform", version = "0.1.0",
         description = "Sign-up, login, tokens, sessions, profiles, administration, tasks, profile PDFs and a book shop, as AWS Lambda functions behind API Gateway."),
    paths(signup, register, login_op, login_link_op, validate, refresh_op, jwks_op, oidc, health_op, me, logout, logout_all, sessions_list,
          session_end, password, me_get, me_patch, me_delete, me_export, admin_users, admin_user, admin_patch, admin_delete,
          admin_deactivate, admin_activate, admin_audit, redrive, dead_letters, tasks_list, tasks_create, task_get,
          task_patch, task_delete, pdf_generate_op, pdf_get_op, books_list, book_get, book_create, book_patch,
          order_place, orders_list, order_get, posts_list, post_get, posts_cache_drop, avatar_put, avatar_upload_url, avatar_get, avatar_delete,
          verify_email_op, verify_email_resend_op, password_reset_op, password_reset_confirm_op, email_change_op, email_change_revert_op,
          email_change_confirm_op, profile_me, me_put, create_profile, delete_profile, pdf_download, media_upload_op,
          media_get_op, media_delete_op, openapi_op, docs_op, redoc_op, redoc_js_op),
    components(schemas(edge::error::Problem, edge::error::FieldError, GatewayMessage)),
    modifiers(&Pages, &CommonResponses, &Constraints, &IdempotencyKeys),
)]
struct ApiDoc;

/// Adds what every operation can answer, from the route table: problems
/// for bad input and failures, and API Gateway's answers on protected routes.
struct CommonResponses;

/// Applies [`PATTERNS`] to the request-body schemas.
struct Constraints;

/// Documents `Idempotency-Key` on the routes that honour it
/// (`edge::idempotency::KEYED_ROUTES`): the header, the replay header and
/// the 409 of a key still in use.
struct IdempotencyKeys;

/// The hosted pages (`functions/web`), from that function's own lists.
struct Pages;

impl Modify for Pages {
    fn modify(&self, doc: &mut Document) {
        use utoipa::openapi::HttpMethod;
        use utoipa::openapi::path::OperationBuilder;
        let pages = web::PAGES.iter().map(|path| {
            (
                *path,
                "text/html",
                "A hosted page: HTML whose script calls this API (README, \"Pages\")",
            )
        });
        for (path, media_type, what) in pages.chain(web::ASSETS.iter().copied()) {
            let operation = OperationBuilder::new()
                .tag("pages")
                .operation_id(Some(format!("page {path}")))
                .response(
                    "200",
                    ResponseBuilder::new()
                        .description(what)
                        .content(media_type, Content::new::<RefOr<Schema>>(None))
                        .build(),
                );
            doc.paths
                .add_path_operation(path, vec![HttpMethod::Get], operation);
        }
    }
}

impl Modify for IdempotencyKeys {
    fn modify(&self, doc: &mut Document) {
        use utoipa::openapi::header::HeaderBuilder;
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        use utoipa::openapi::{Required, ResponseBuilder};
        for route in edge::idempotency::KEYED_ROUTES {
            let (method, path) = route.split_once(' ').expect("a route key");
            let op = doc
                .paths
                .paths
                .get_mut(path)
                .and_then(|item| match method {
                    "POST" => item.post.as_mut(),
                    "PATCH" => item.patch.as_mut(),
                    "DELETE" => item.delete.as_mut(),
                    _ => None,
                })
                .unwrap_or_else(|| panic!("KEYED_ROUTES names {route}, which is not documented"));
            let key = ParameterBuilder::new()
                .name("Idempotency-Key")
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some(
                    "Makes a retry safe: the same key with the same request within 24 hours \
                     returns the first answer (with `Idempotent-Replayed: true`) instead of \
                     writing again; with another request it is a 422. 1 to 255 visible ASCII \
                     characters, e.g. a UUID.",
                ))
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .min_length(Some(1))
                        .max_length(Some(edge::idempotency::MAX_KEY_LEN))
                        .pattern(Some("^[!-~]+$")),
                ))
                .build();
            op.parameters.get_or_insert_with(Vec::new).push(key.into());
            let replayed = HeaderBuilder::new()
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                .description(Some(
                    "`true` when this is the stored answer of an earlier request with the same Idempotency-Key",
                ))
                .build();
            for (status, response) in op.responses.responses.iter_mut() {
                if let (true, RefOr::T(response)) = (status.starts_with('2'), response) {
                    response
                        .headers
                        .insert("Idempotent-Replayed".into(), replayed.clone().into());
                }
            }
            let in_use = "A request with this Idempotency-Key is still running \
                          (`/problems/idempotency-key-in-use`); retry after Retry-After";
            match op.responses.responses.get_mut("409") {
                Some(RefOr::T(conflict)) => {
                    conflict.description = format!("{}; or: {in_use}", conflict.description);
                }
                _ => {
                    op.responses.responses.insert(
                        "409".into(),
                        ResponseBuilder::new()
                            .description(in_use)
                            .content(
                                PROBLEM,
                                Content::new(Some(Ref::from_schema_name("Problem"))),
                            )
                            .build()
                            .into(),
                    );
                }
            }
        }
    }
}

impl Modify for Constraints {
    fn modify(&self, doc: &mut Document) {
        let schemas = &mut doc.components.get_or_insert_with(Default::default).schemas;
        for (schema, property, pattern) in PATTERNS {
            let Some(RefOr::T(Schema::Object(object))) = schemas.get_mut(*schema) else {
                panic!("PATTERNS names {schema}, which is not an object schema");
            };
            let Some(RefOr::T(Schema::Object(field))) = object.properties.get_mut(*property) else {
                panic!("PATTERNS names {schema}.{property}, which is not a property");
            };
            field.pattern = Some((*pattern).to_owned());
        }
    }
}

impl Modify for CommonResponses {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        let problem = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    PROBLEM,
                    Content::new(Some(Ref::from_schema_name("Problem"))),
                )
                .build()
        };
        let gateway = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    Content::new(Some(Ref::from_schema_name("GatewayMessage"))),
                )
                .build()
        };
        for route in ROUTES {
            let Some(item) = doc.paths.paths.get_mut(route.path) else {
                continue;
            };
            let operation = match route.method {
                "GET" => item.get.as_mut(),
                "POST" => item.post.as_mut(),
                "PATCH" => item.patch.as_mut(),
                "DELETE" => item.delete.as_mut(),
                "PUT" => item.put.as_mut(),
                _ => None,
            };
            let Some(op) = operation else { continue };
            let responses = &mut op.responses.responses;
            let mut add = |status: &str, response| {
                responses.entry(status.into()).or_insert(response);
            };
            add("400", problem("Malformed body or parameters").into());
            add("413", problem("Body too large").into());
            add("415", problem("Unsupported media type").into());
            add("422", problem("Invalid fields, listed in `errors`").into());
            add(
                "429",
                problem("Too many failed attempts; see Retry-After").into(),
            );
            add(
                "500",
                problem("A bug on our side (details are logged, never sent)").into(),
            );
            add("503", problem("A dependency is unavailable").into());
            if route.protected {
                add(
                    "401",
                    gateway("No Authorization header (API Gateway)").into(),
                );
                // 403 is API Gateway's when the authorizer refuses, a problem
                // when an authenticated caller lacks the role.
                let forbidden = ResponseBuilder::new()
                    .description("Token refused by the authorizer (API Gateway), or not allowed")
                    .content(
                        "application/json",
                        Content::new(Some(Ref::from_schema_name("GatewayMessage"))),
                    )
                    .content(
                        PROBLEM,
                        Content::new(Some(Ref::from_schema_name("Problem"))),
                    )
                    .build();
                responses.insert("403".into(), forbidden.into());
            }
        }
    }
}

/// The document, as served and committed.
pub fn document() -> Document {
    ApiDoc::openapi()
}

/// Pretty JSON of the document, ending with a newline.
pub fn json() -> String {
    let mut text = document()
        .to_pretty_json()
        .expect("the document serializes");
    text.push('\n');
    text
}
