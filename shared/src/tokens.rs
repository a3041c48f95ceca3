//! Access tokens: EdDSA (Ed25519) JWTs with `kid` and `typ: at+jwt`, and the
//! JWKS that lets anyone verify them.
//!
//! Verification pins the algorithm, requires `exp nbf iss aud sub`, checks
//! `typ` and `kid`, and allows 30 s of clock skew. Keys rotate by publishing
//! the previous public key in `JWT_PREVIOUS_JWKS` while signing with the new
//! one.
//!
//! Only the functions that sign (login, refresh) hold the private key; every
//! other function verifies with the public keys alone (`JWT_PUBLIC_JWKS`),
//! so no other function's configuration reveals what mints tokens.

use std::collections::HashMap;
use std::time::Duration;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm,
    OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse, ThumbprintHash,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::{Backend, Config};

/// The JWT `typ` of access tokens (RFC 9068).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
/// Clock skew allowed on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 30;

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub exp: u64,
    pub nbf: u64,
    pub iat: u64,
    pub jti: String,
    pub email: String,
    /// OpenID Connect's standard claim: the owner confirmed the address.
    #[serde(default)]
    pub email_verified: bool,
    pub role: String,
    /// The session this token belongs to; revoking it revokes the token.
    pub sid: String,
}

/// Why a token was refused (logged; clients get one generic message).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("wrong token type")]
    WrongType,
    #[error("unknown signing key")]
    UnknownKey,
    #[error("rejected: {0}")]
    Rejected(jsonwebtoken::errors::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("JWT_PRIVATE_KEY_SECRET (or JWT_PRIVATE_KEY) or JWT_PUBLIC_JWKS is required on AWS")]
    Missing,
    #[error("the JWT private key is not a PKCS#8 Ed25519 key")]
    Invalid,
    #[error("JWT_PREVIOUS_JWKS is not a valid JWKS: {0}")]
    BadPreviousJwks(String),
    #[error("JWT_PUBLIC_JWKS is not a valid JWKS: {0}")]
    BadPublicJwks(String),
    #[error(
        "the signing key (kid {0}) is not in JWT_PUBLIC_JWKS: the other functions would refuse its tokens; publish its public key first"
    )]
    NotPublished(String),
    #[error("cannot keep the local key: {0}")]
    Io(#[from] std::io::Error),
}

/// Why a token could not be issued.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// This function verifies only: it was given the public keys, not the
    /// private one (a deployment mistake, not the caller's).
    #[error("this function holds no signing key")]
    NoSigningKey,
    #[error("signing failed: {0}")]
    Signing(#[from] jsonwebtoken::errors::Error),
}

/// The signing key (in the functions that sign), the accepted public keys
/// and the validation rules, built once per cold start.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: Option<EncodingKey>,
    kid: String,
    jwks: JwkSet,
    decoding: HashMap<String, DecodingKey>,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl: Duration,
}

/// Generates a new Ed25519 private key as PKCS#8 PEM (used for the local key
/// and by `cargo run -p local -- gen-key` for deployments).
pub fn generate_private_key_pem() -> String {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let der = Ed25519KeyPair::generate_pkcs8v1(&rng).expect("Ed25519 key generation");
    pem::encode(&pem::Pem::new("PRIVATE KEY", der.as_ref().to_vec()))
}

fn public_jwk(x: &[u8]) -> Result<Jwk, KeyError> {
    let mut jwk = Jwk {
        common: CommonParameters {
            public_key_use: Some(PublicKeyUse::Signature),
            key_algorithm: Some(KeyAlgorithm::EdDSA),
            ..Default::default()
        },
        algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
            key_type: OctetKeyPairType::OctetKeyPair,
            curve: EllipticCurve::Ed25519,
            x: URL_SAFE_NO_PAD.encode(x),
        }),
    };
    // The kid is the RFC 7638 thumbprint: stable for a key, different across keys.
    jwk.common.key_id = Some(
        jwk.thumbprint(ThumbprintHash::SHA256)
            .map_err(|_| KeyError::Invalid)?,
    );
    Ok(jwk)
}

/// Where the embedded backend keeps its signing key when none is configured.
pub fn local_key_path(config: &Config) -> std::path::PathBuf {
    config.data_dir.join("keys").join("jwt-ed25519.pem")
}

/// Adds the Ed25519 keys of a JWKS (each with a `kid`) to `keys`, skipping
/// ones already there.
fn add_keys(keys: &mut Vec<Jwk>, jwks: &str) -> Result<(), String> {
    let set: JwkSet = serde_json::from_str(jwks).map_err(|e| e.to_string())?;
    for jwk in set.keys {
        let is_ed = matches!(&jwk.algorithm, AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519);
        if !is_ed || jwk.common.key_id.is_none() {
            return Err("every key must be an Ed25519 key with a kid".into());
        }
        if !keys.iter().any(|k| k.common.key_id == jwk.common.key_id) {
            keys.push(jwk);
        }
    }
    Ok(())
}

impl TokenKeys {
    /// Whether these keys can sign (login and refresh hold the private key).
    pub fn can_sign(&self) -> bool {
        self.encoding.is_some()
    }

    /// Loads the key from configuration, or (embedded only) from
    /// `data_dir/keys/jwt-ed25519.pem`, generating it on first use.
    pub fn from_config(config: &Config) -> Result<Self, KeyError> {
        let pem = match (&config.jwt_private_key_pem, config.backend) {
            (Some(pem), _) => pem.replace("\\n", "\n"),
            // A function that only verifies gets the public keys alone.
            (None, _) if config.jwt_public_jwks.is_some() => {
                return Self::verify_only(
                    config.jwt_public_jwks.as_deref().unwrap_or_default(),
                    config.jwt_previous_jwks.as_deref(),
                    &config.jwt_issuer,
                    &config.jwt_audience,
                    *config.access_token_ttl,
                );
            }
            (None, Backend::Aws) => return Err(KeyError::Missing),
            (None, Backend::Embedded) => {
                let path = local_key_path(config);
                match std::fs::read_to_string(&path) {
                    Ok(pem) => pem,
                    Err(_) => {
                        std::fs::create_dir_all(path.parent().unwrap_or(&config.data_dir))?;
                        crate::files::write_private_file(
                            &path,
                            generate_private_key_pem().as_bytes(),
                        )?;
                        std::fs::read_to_string(&path)?
                    }
                }
            }
        };
        let keys = Self::new(
            &pem,
            config.jwt_previous_jwks.as_deref(),
            &config.jwt_issuer,
            &config.jwt_audience,
            *config.access_token_ttl,
        )?;
        // Where the verifiers' keys are configured too (on AWS, every
        // function gets them), a signing key they do not list would mint
        // tokens every other function refuses: during a rotation, the new
        // key is published first, then signed with (README, "Rotating the
        // signing key").
        if let Some(public) = &config.jwt_public_jwks {
            let mut published = Vec::new();
            add_keys(&mut published, public).map_err(KeyError::BadPublicJwks)?;
            if !published
                .iter()
                .any(|k| k.common.key_id.as_deref() == Some(keys.kid.as_str()))
            {
                return Err(KeyError::NotPublished(keys.kid));
            }
        }
        Ok(keys)
    }

    pub fn new(
        private_key_pem: &str,
        previous_jwks: Option<&str>,
        issuer: &str,
        audience: &str,
        ttl: Duration,
    ) -> Result<Self, KeyError> {
        let der = pem::parse(private_key_pem.trim()).map_err(|_| KeyError::Invalid)?;
        let pair = Ed25519KeyPair::from_pkcs8(der.contents()).map_err(|_| KeyError::Invalid)?;
        let current = public_jwk(pair.public_key().as_ref())?;
        let kid = current.common.key_id.clone().unwrap_or_default();
        let mut keys = vec![current];
        if let Some(previous) = previous_jwks {
            add_keys(&mut keys, previous).map_err(KeyError::BadPreviousJwks)?;
        }
        Self::assemble(
            Some(EncodingKey::from_ed_der(der.contents())),
            kid,
            keys,
            issuer,
            audience,
            ttl,
        )
    }

    /// Keys that verify and publish but cannot sign: `public_jwks` (the
    /// signing functions' current key first), then rotated-out keys.
    pub fn verify_only(
        public_jwks: &str,
        previous_jwks: Option<&str>,
        issuer: &str,
        audience: &str,
        ttl: Duration,
    ) -> Result<Self, KeyError> {
        let mut keys = Vec::new();
        add_keys(&mut keys, public_jwks).map_err(KeyError::BadPublicJwks)?;
        let kid = keys
            .first()
            .and_then(|k| k.common.key_id.clone())
            .ok_or_else(|| KeyError::BadPublicJwks("no key".into()))?;
        if let Some(previous) = previous_jwks {
            add_keys(&mut keys, previous).map_err(KeyError::BadPreviousJwks)?;
        }
        Self::assemble(None, kid, keys, issuer, audience, ttl)
    }

    /// The public JWKS of a private key: what `JWT_PUBLIC_JWKS` carries to
    /// the functions that only verify (`cargo run -p local -- public-jwks`).
    pub fn public_jwks_of(private_key_pem: &str) -> Result<String, KeyError> {
        let der = pem::parse(private_key_pem.trim()).map_err(|_| KeyError::Invalid)?;
        let pair = Ed25519KeyPair::from_pkcs8(der.contents()).map_err(|_| KeyError::Invalid)?;
        let set = JwkSet {
            keys: vec![public_jwk(pair.public_key().as_ref())?],
        };
        serde_json::to_string(&set).map_err(|_| KeyError::Invalid)
    }

    fn assemble(
        encoding: Option<EncodingKey>,
        kid: String,
        keys: Vec<Jwk>,
        issuer: &str,
        audience: &str,
        ttl: Duration,
    ) -> Result<Self, KeyError> {
        let mut decoding = HashMap::new();
        for jwk in &keys {
            let key =
                DecodingKey::from_jwk(jwk).map_err(|e| KeyError::BadPreviousJwks(e.to_string()))?;
            decoding.insert(jwk.common.key_id.clone().unwrap_or_default(), key);
        }
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        Ok(TokenKeys {
            encoding,
            kid,
            jwks: JwkSet { keys },
            decoding,
            validation,
            issuer: issuer.into(),
            audience: audience.into(),
            ttl,
        })
    }

    /// The published key set: the signing key first, then rotated-out keys.
    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Signs an access token for a user; returns it with its claims.
    pub fn issue(
        &self,
        user: &crate::domain::User,
        session_id: &str,
    ) -> Result<(String, AccessClaims), IssueError> {
        let encoding = self.encoding.as_ref().ok_or(IssueError::NoSigningKey)?;
        let now = jsonwebtoken::get_current_timestamp();
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user.id.clone(),
            exp: now + self.ttl.as_secs(),
            nbf: now,
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
            email: user.email.as_str().to_owned(),
            email_verified: user.email_verified,
            role: user.role.as_str().to_owned(),
            sid: session_id.into(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(ACCESS_TOKEN_TYP.into());
        header.kid = Some(self.kid.clone());
        Ok((jsonwebtoken::encode(&header, &claims, encoding)?, claims))
    }

    /// Verifies signature, algorithm, type, key id and claims.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        if token.len() > 4096 {
            return Err(TokenError::Malformed);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        let typ_ok = header.typ.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case(ACCESS_TOKEN_TYP) || t.eq_ignore_ascii_case("application/at+jwt")
        });
        if !typ_ok {
            return Err(TokenError::WrongType);
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.decoding.get(kid))
            .ok_or(TokenError::UnknownKey)?;
        jsonwebtoken::decode::<AccessClaims>(token, key, &self.validation)
            .map(|data| data.claims)
            .map_err(TokenError::Rejected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> crate::domain::User {
        let now = time::OffsetDateTime::now_utc();
        crate::domain::User {
            id: "u1".into(),
            email: crate::domain::Email::parse("ada@example.com").unwrap(),
            name: None,
            surname: None,
            username: None,
            date_of_birth: None,
            bio: None,
            avatar: None,
            role: crate::domain::Role::User,
            active: true,
            email_verified: true,
            sessions_cutoff: None,
            password_hash: String::new(),
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    const TTL: Duration = Duration::from_secs(900);

    /// A function given only the public JWKS verifies the signer's tokens,
    /// publishes the same keys, and cannot mint a token.
    #[test]
    fn public_keys_verify_but_cannot_sign() {
        let pem = generate_private_key_pem();
        let signer = TokenKeys::new(&pem, None, "iss", "aud", TTL).unwrap();
        assert!(signer.can_sign());
        let (token, _) = signer.issue(&user(), "s1").unwrap();

        let public = TokenKeys::public_jwks_of(&pem).unwrap();
        assert!(!public.contains("\"d\""), "no private part: {public}");
        let verifier = TokenKeys::verify_only(&public, None, "iss", "aud", TTL).unwrap();
        assert!(!verifier.can_sign());
        assert_eq!(verifier.verify(&token).unwrap().sub, user().id);
        assert_eq!(
            serde_json::to_value(verifier.jwks()).unwrap(),
            serde_json::to_value(signer.jwks()).unwrap()
        );
        assert!(matches!(
            verifier.issue(&user(), "s1"),
            Err(IssueError::NoSigningKey)
        ));
        // Another key's tokens stay refused.
        let other = TokenKeys::new(&generate_private_key_pem(), None, "iss", "aud", TTL).unwrap();
        let (foreign, _) = other.issue(&user(), "s1").unwrap();
        assert!(matches!(
            verifier.verify(&foreign),
            Err(TokenError::UnknownKey)
        ));
    }

    /// Rotation with verify-only functions: the new public key first, the
    /// old one still accepted until its tokens expire.
    #[test]
    fn rotated_out_keys_stay_accepted_by_verifiers() {
        let old_pem = generate_private_key_pem();
        let new_pem = generate_private_key_pem();
        let old = TokenKeys::new(&old_pem, None, "iss", "aud", TTL).unwrap();
        let (old_token, _) = old.issue(&user(), "s1").unwrap();
        let previous = TokenKeys::public_jwks_of(&old_pem).unwrap();
        let verifier = TokenKeys::verify_only(
            &TokenKeys::public_jwks_of(&new_pem).unwrap(),
            Some(&previous),
            "iss",
            "aud",
            TTL,
        )
        .unwrap();
        assert!(verifier.verify(&old_token).is_ok());
        assert_eq!(verifier.jwks().keys.len(), 2);
        let new = TokenKeys::new(&new_pem, Some(&previous), "iss", "aud", TTL).unwrap();
        assert_eq!(
            verifier.jwks().keys[0].common.key_id,
            new.jwks().keys[0].common.key_id,
            "the signing key first"
        );
        assert!(matches!(
            TokenKeys::verify_only("{\"keys\":[]}", None, "iss", "aud", TTL),
            Err(KeyError::BadPublicJwks(_))
        ));
    }

    /// Configuration picks the mode: the private key signs; the public JWKS
    /// alone verifies, on either backend (no local key file is read).
    #[test]
    fn configuration_chooses_signer_or_verifier() {
        let dir = tempfile::tempdir().unwrap();
        let pem = generate_private_key_pem();
        let mut config = Config::embedded(dir.path());
        config.jwt_public_jwks = Some(TokenKeys::public_jwks_of(&pem).unwrap());
        let verifier = TokenKeys::from_config(&config).unwrap();
        assert!(!verifier.can_sign());
        assert!(!dir.path().join("keys").exists(), "no key generated");
        config.jwt_private_key_pem = Some(pem);
        assert!(TokenKeys::from_config(&config).unwrap().can_sign());
    }

    /// A signer refuses to start with a key the verifiers do not list (its
    /// tokens would be refused everywhere else); a rotation publishes the
    /// new key beside the old one first, and then either signs.
    #[test]
    fn a_signer_starts_only_with_a_published_key() {
        let dir = tempfile::tempdir().unwrap();
        let (old, new) = (generate_private_key_pem(), generate_private_key_pem());
        let mut config = Config::embedded(dir.path());
        config.jwt_public_jwks = Some(TokenKeys::public_jwks_of(&old).unwrap());
        config.jwt_private_key_pem = Some(new.clone());
        let new_kid = TokenKeys::new(&new, None, "i", "a", TTL).unwrap().kid;
        match TokenKeys::from_config(&config) {
            Err(KeyError::NotPublished(kid)) => assert_eq!(kid, new_kid),
            other => panic!("{:?}", other.map(|k| k.kid)),
        }
        // Both published: the old key still signs, and so does the new one.
        let both = |a: &str, b: &str| {
            let keys: Vec<serde_json::Value> = [a, b]
                .iter()
                .map(|p| {
                    let set: serde_json::Value =
                        serde_json::from_str(&TokenKeys::public_jwks_of(p).unwrap()).unwrap();
                    set["keys"][0].clone()
                })
                .collect();
            serde_json::json!({ "keys": keys }).to_string()
        };
        config.jwt_public_jwks = Some(both(&old, &new));
        assert!(TokenKeys::from_config(&config).unwrap().can_sign());
        config.jwt_private_key_pem = Some(old);
        assert!(TokenKeys::from_config(&config).unwrap().can_sign());
    }
}
