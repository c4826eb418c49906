//! Client authentication: where a Connect's `authToken` is checked.

use std::sync::Arc;

use sm_model::ResponseStatusCode;
use tracing::warn;

use crate::greengrass::{Nucleus, Validation};

/// How Connect's `authToken` is checked.
#[derive(Debug)]
pub enum Authenticator {
    /// Any client may connect.
    Off,
    /// The token must be one of these (standalone: `--auth-tokens-file`).
    Tokens(Vec<String>),
    /// The nucleus validates the token (ValidateAuthorizationToken, cached when valid).
    Nucleus(Arc<Nucleus>),
}

/// Why a Connect's token was refused. Its `Display` is the Unauthorized answer's
/// `errorMessage`; it never contains the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Authentication is on and the client sent no token.
    #[error(
        "authentication is required and no authToken was sent (a Greengrass component passes \
         AWS_CONTAINER_AUTHORIZATION_TOKEN, which the nucleus sets for it)"
    )]
    Missing,
    /// Not one of the tokens of the tokens file.
    #[error("the authToken is not valid")]
    NotListed,
    /// The nucleus does not know the token (its message).
    #[error("the authToken is not valid: the Greengrass nucleus does not know it ({0})")]
    UnknownToNucleus(String),
    /// The nucleus does not let this component validate tokens (its message).
    #[error(
        "the authToken cannot be checked: the Greengrass nucleus does not let this stream manager \
         validate tokens ({0})"
    )]
    NotAllowedToCheck(String),
    /// No answer could be had from the nucleus now (why).
    #[error(
        "the authToken cannot be checked now: the Greengrass nucleus IPC is unavailable ({0}); \
         try again"
    )]
    NucleusUnavailable(String),
}

impl AuthError {
    /// The status the Connect is answered with.
    pub fn status(&self) -> ResponseStatusCode {
        ResponseStatusCode::Unauthorized
    }
}

/// Compares two byte strings in time that depends only on their lengths.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Authenticator {
    /// Whether clients must authenticate.
    pub fn is_on(&self) -> bool {
        !matches!(self, Self::Off)
    }

    /// A name for the log.
    pub fn describe(&self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Tokens(_) => "tokens file",
            Self::Nucleus(_) => "Greengrass nucleus (ValidateAuthorizationToken)",
        }
    }

    /// Checks a Connect's token. Tokens are never logged.
    pub async fn check(&self, token: Option<&str>) -> Result<(), AuthError> {
        if !self.is_on() {
            return Ok(());
        }
        let token = token.filter(|t| !t.is_empty()).ok_or(AuthError::Missing)?;
        match self {
            Self::Off => Ok(()),
            Self::Tokens(tokens) => {
                // Check every token, so the time does not reveal which one matched.
                let ok = tokens
                    .iter()
                    .fold(false, |ok, t| ct_eq(t.as_bytes(), token.as_bytes()) | ok);
                ok.then_some(()).ok_or(AuthError::NotListed)
            }
            Self::Nucleus(n) => match n.validate(token).await {
                Validation::Valid => Ok(()),
                Validation::Invalid(why) => Err(AuthError::UnknownToNucleus(why)),
                Validation::Unauthorized(why) => Err(AuthError::NotAllowedToCheck(why)),
                Validation::Unavailable(why) => {
                    warn!("refusing a client: its authToken cannot be validated: {why}");
                    Err(AuthError::NucleusUnavailable(why))
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn token_checks() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        let a = Authenticator::Tokens(vec!["tok-a".to_owned(), "tok-b".to_owned()]);
        assert!(a.is_on());
        assert_eq!(a.check(Some("tok-b")).await, Ok(()));
        assert_eq!(a.check(Some("tok-c")).await, Err(AuthError::NotListed));
        let missing = a.check(None).await.unwrap_err();
        assert_eq!(missing, AuthError::Missing);
        assert!(missing.to_string().contains("no authToken"), "{missing}");
        assert_eq!(missing.status(), ResponseStatusCode::Unauthorized);
        assert_eq!(a.check(Some("")).await, Err(AuthError::Missing));
        assert_eq!(Authenticator::Off.check(None).await, Ok(()));
    }
}
