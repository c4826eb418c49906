//! Client authentication: where a Connect's `authToken` is checked.

use std::sync::Arc;

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

    /// Checks a Connect's token: `Err` holds the `errorMessage` of the Unauthorized answer.
    /// Tokens are never logged.
    pub async fn check(&self, token: Option<&str>) -> Result<(), String> {
        if !self.is_on() {
            return Ok(());
        }
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return Err(
                "authentication is required and no authToken was sent (a Greengrass component passes \
                 AWS_CONTAINER_AUTHORIZATION_TOKEN, which the nucleus sets for it)"
                    .into(),
            );
        };
        match self {
            Self::Off => Ok(()),
            Self::Tokens(tokens) => {
                // Check every token, so the time does not reveal which one matched.
                let ok = tokens
                    .iter()
                    .fold(false, |ok, t| ct_eq(t.as_bytes(), token.as_bytes()) | ok);
                if ok {
                    Ok(())
                } else {
                    Err("the authToken is not valid".into())
                }
            }
            Self::Nucleus(n) => match n.validate(token).await {
                Validation::Valid => Ok(()),
                Validation::Invalid(why) => Err(format!(
                    "the authToken is not valid: the Greengrass nucleus does not know it ({why})"
                )),
                Validation::Unauthorized(why) => Err(format!(
                    "the authToken cannot be checked: the Greengrass nucleus does not let this stream manager \
                     validate tokens ({why})"
                )),
                Validation::Unavailable(why) => {
                    warn!("refusing a client: its authToken cannot be validated: {why}");
                    Err(format!(
                        "the authToken cannot be checked now: the Greengrass nucleus IPC is unavailable ({why}); \
                         try again"
                    ))
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
        assert!(a.check(Some("tok-c")).await.is_err());
        let missing = a.check(None).await.unwrap_err();
        assert!(missing.contains("no authToken"), "{missing}");
        assert!(a
            .check(Some(""))
            .await
            .unwrap_err()
            .contains("no authToken"));
        assert_eq!(Authenticator::Off.check(None).await, Ok(()));
    }
}
