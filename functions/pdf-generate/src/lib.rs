//! The caller's profile as a PDF (protected):
//! - `POST /users/me/pdf`: draws the current profile, stores it in the blob
//!   store (S3) and answers a short-lived download link (201). When the
//!   stored PDF already shows the current profile version it is not drawn
//!   again: the answer is a fresh link to it (200);
//! - `GET /users/me/pdf`: a fresh link to the stored PDF, with `current`
//!   telling whether it shows the current profile (404 before the first).
//!
//! - `GET /pdf/generate` (the call of the PDF service we replace): the PDF
//!   itself, `application/pdf`, drawn or reused by the same rule as `POST`.
//!
//! Drawing is CPU work, so it runs on the blocking pool.

pub mod render;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use edge::ApiError;
use edge::http::{json, respond, route_key};
use http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use shared::AppState;
use shared::domain::User;
use shared::ports::Served;
use shared::profile_pdf::{self, PdfRecord};
use time::OffsetDateTime;

/// How long a download link works.
pub const LINK_TTL: Duration = Duration::from_secs(300);

pub async fn handle(state: Arc<AppState>, req: Request) -> Response<Body> {
    edge::idempotency::once(state, req, serve).await
}

async fn serve(state: Arc<AppState>, req: Request) -> Response<Body> {
    respond(dispatch(&state, &req).await)
}

async fn dispatch(state: &AppState, req: &Request) -> Result<Response<Body>, ApiError> {
    let user = edge::auth::caller_account(state, req).await?;
    match route_key(req).as_str() {
        "POST /users/me/pdf" => {
            if let Some(record) = reusable(state, &user).await? {
                return link(state, &user, record, false, StatusCode::OK).await;
            }
            let (record, _) = draw(state, &user).await?;
            // Signing is local work: the answer is made before the record
            // is committed, so that a retry's key replays this link.
            let answer = link(state, &user, record.clone(), true, StatusCode::CREATED).await?;
            let keyed = edge::idempotency::answer_writes(req, &answer);
            state
                .pdfs
                .save_record_with(&user.id, &record, keyed)
                .await?;
            Ok(answer)
        }
        "GET /pdf/generate" => download(state, &user).await,
        "GET /users/me/pdf" => {
            let record = state
                .pdfs
                .record(&user.id)
                .await?
                .ok_or(ApiError::NotFound)?;
            link(state, &user, record, false, StatusCode::OK).await
        }
        _ => Err(ApiError::NoRoute),
    }
}

/// The answer: where to download the PDF, until when, and what it shows.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PdfLink {
    /// A presigned GET URL, valid until `expires_at`.
    pub url: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The profile version the PDF shows.
    pub profile_version: u64,
    /// Whether the PDF shows the profile as it is now.
    pub current: bool,
    /// Whether this request drew it.
    pub generated: bool,
    pub size_bytes: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
}

/// The stored PDF when it shows the current profile version (and `reuse`
/// allows it); otherwise a new one, drawn and stored (its bytes come back).
async fn current(
    state: &AppState,
    user: &User,
    reuse: bool,
) -> Result<(PdfRecord, Option<Bytes>), ApiError> {
    if reuse && let Some(record) = reusable(state, user).await? {
        return Ok((record, None));
    }
    let (record, bytes) = draw(state, user).await?;
    state.pdfs.save_record(&user.id, &record).await?;
    Ok((record, Some(bytes)))
}

/// The stored PDF's record when it shows the current profile version.
async fn reusable(state: &AppState, user: &User) -> Result<Option<PdfRecord>, ApiError> {
    Ok(state
        .pdfs
        .record(&user.id)
        .await?
        .filter(|record| record.profile_version == user.version))
}

/// Draws the profile and stores the PDF; its record is the caller's to
/// commit (a record must never name a PDF that is not stored).
async fn draw(state: &AppState, user: &User) -> Result<(PdfRecord, Bytes), ApiError> {
    let now = OffsetDateTime::now_utc();
    let drawn = user.clone();
    let avatar = match &user.avatar {
        Some(a) => state.blobs.get(&a.thumbnail_key).await?,
        None => None,
    };
    if user.avatar.is_some() && avatar.is_none() {
        tracing::warn!(user = %user.id, "pdf: the avatar's thumbnail is missing; drawing without it");
    }
    let bytes = tokio::task::spawn_blocking(move || {
        let pixels = avatar.and_then(|blob| decode_avatar(&blob.bytes));
        render::profile_pdf(&drawn, now, pixels.as_ref())
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    let record = PdfRecord {
        profile_version: user.version,
        size_bytes: bytes.len() as u64,
        generated_at: now,
    };
    let bytes = Bytes::from(bytes);
    state
        .blobs
        .put(
            &profile_pdf::blob_key(&user.id),
            bytes.clone(),
            // Redrawn under the same key whenever the profile changes: a
            // cached copy must be checked first.
            &Served::inline("application/pdf", "profile.pdf", "private, no-cache"),
        )
        .await?;
    Ok((record, bytes))
}

/// The PDF itself: what the old service's clients save or show.
async fn download(state: &AppState, user: &User) -> Result<Response<Body>, ApiError> {
    let stored = match current(state, user, true).await? {
        (_, Some(drawn)) => Some(drawn),
        (_, None) => state
            .blobs
            .get(&profile_pdf::blob_key(&user.id))
            .await?
            .map(|blob| blob.bytes),
    };
    let bytes = match stored {
        Some(bytes) => bytes,
        // The record names a PDF the store no longer has: draw it again.
        None => match current(state, user, false).await? {
            (_, Some(drawn)) => drawn,
            (_, None) => return Err(ApiError::internal("a forced drawing returned no PDF")),
        },
    };
    let mut response = Response::new(Body::Binary(bytes.to_vec()));
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/pdf"),
    );
    headers.insert(
        http::header::CONTENT_DISPOSITION,
        http::HeaderValue::from_static(r#"attachment; filename="profile.pdf""#),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    headers.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        http::HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}

/// The stored thumbnail (our own JPEG or PNG) ready to draw: an RGB JPEG
/// as is (only its header is read), anything else decoded to RGB with
/// transparency laid on white. A thumbnail that does not decode is left out
/// of the PDF rather than failing it.
pub fn decode_avatar(bytes: &[u8]) -> Option<render::AvatarPixels> {
    use image::ImageDecoder;
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .ok()?;
    if reader.format() == Some(image::ImageFormat::Jpeg)
        && let Ok(decoder) = reader.into_decoder()
        && decoder.color_type() == image::ColorType::Rgb8
    {
        let (width, height) = decoder.dimensions();
        return Some(render::AvatarPixels {
            width,
            height,
            data: render::AvatarData::Jpeg(bytes.to_vec()),
        });
    }
    let image = match image::load_from_memory(bytes) {
        Ok(image) => image,
        Err(e) => {
            tracing::warn!(error = %e, "pdf: the avatar does not decode; drawing without it");
            return None;
        }
    };
    let mut rgba = image.into_rgba8();
    for p in rgba.pixels_mut() {
        let a = u16::from(p.0[3]);
        for c in &mut p.0[..3] {
            *c = ((u16::from(*c) * a + 255 * (255 - a)) / 255) as u8;
        }
    }
    let rgb = image::DynamicImage::ImageRgba8(rgba).into_rgb8();
    Some(render::AvatarPixels {
        width: rgb.width(),
        height: rgb.height(),
        data: render::AvatarData::Rgb(rgb.into_raw()),
    })
}

async fn link(
    state: &AppState,
    user: &User,
    record: PdfRecord,
    generated: bool,
    status: StatusCode,
) -> Result<Response<Body>, ApiError> {
    let url = state
        .blobs
        .presign_get(
            &profile_pdf::blob_key(&user.id),
            LINK_TTL,
            Some("profile.pdf"),
        )
        .await?;
    let mut response = json(
        status,
        &PdfLink {
            url,
            expires_at: OffsetDateTime::now_utc() + LINK_TTL,
            profile_version: record.profile_version,
            current: record.profile_version == user.version,
            generated,
            size_bytes: record.size_bytes,
            generated_at: record.generated_at,
        },
    )?;
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_wraps_within_the_line() {
        let fonts = render::wrap_test_font();
        let text = "word ".repeat(200);
        let lines = render::wrap(fonts, &text, 11.0, 100.0);
        assert!(lines.len() > 5);
        assert!(lines.iter().all(|l| !l.is_empty()));
        let unbroken = "x".repeat(400);
        let lines = render::wrap(fonts, &unbroken, 11.0, 50.0);
        assert!(lines.len() > 3);
        assert_eq!(lines.concat(), unbroken, "nothing lost when a word is cut");
        assert_eq!(
            render::wrap(fonts, "one\ntwo", 11.0, 100.0),
            vec!["one", "two"]
        );
    }

    fn user() -> User {
        use shared::domain::{Bio, BirthDate, Email, PersonName, Role, Username};
        let today = time::macros::date!(2026 - 11 - 24);
        User {
            id: "u1".into(),
            email: Email::parse("zoe@example.com").unwrap(),
            name: Some(PersonName::parse("Zoë").unwrap()),
            surname: Some(PersonName::parse("Łukasiewicz-Ωμέγα").unwrap()),
            username: Some(Username::parse("zoe_l").unwrap()),
            date_of_birth: Some(BirthDate::parse("1990-05-17", today).unwrap()),
            bio: Some(Bio::parse(&"Logician and writer. ".repeat(23)).unwrap()),
            avatar: None,
            role: Role::User,
            active: true,
            email_verified: false,
            sessions_cutoff: None,
            password_hash: "never printed".into(),
            created_at: time::macros::datetime!(2026-01-02 03:04:05 UTC),
            updated_at: time::macros::datetime!(2026-01-02 03:04:05 UTC),
            version: 7,
        }
    }

    #[test]
    fn the_pdf_shows_every_field_as_written() {
        let now = time::macros::datetime!(2026-11-24 10:00 UTC);
        let bytes = render::profile_pdf(&user(), now, None).unwrap();
        assert!(bytes.starts_with(b"%PDF-"));
        // The fonts are subset: a few kilobytes, not the 1.4 MB of both faces.
        assert!(bytes.len() < 100_000, "{} bytes", bytes.len());
        let doc = lopdf::Document::load_mem(&bytes).unwrap();
        let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
        assert_eq!(pages, vec![1]);
        let text = doc.extract_text(&pages).unwrap();
        for expected in [
            "Zoë Łukasiewicz-Ωμέγα",
            "zoe@example.com",
            "zoe_l",
            "1990-05-17",
            "Member since",
            "2026-01-02",
            "Logician and writer.",
            "profile version 7",
        ] {
            assert!(
                text.contains(expected),
                "{expected:?} missing from {text:?}"
            );
        }
        assert!(!text.contains("never printed"));
    }
}
