//! PLAIN (RFC 4616): `authzid \0 authcid \0 passwd`, UTF-8, in one message.

use super::{authzid_allowed, CredentialLookup, SaslFailure, SaslStep};

/// Checks one PLAIN message.
pub(super) async fn authenticate(input: &[u8], domain: &str, credentials: &dyn CredentialLookup) -> SaslStep {
    let (authzid, authcid, password) = match parse(input) {
        Ok(parts) => parts,
        Err(failure) => return SaslStep::Failure(failure),
    };
    // Checked before the (costly) password lookup; says nothing about the password.
    if !authzid_allowed(authzid, authcid, domain) {
        return SaslStep::Failure(SaslFailure::NotAuthorized);
    }
    match credentials.plain(authcid, password).await {
        Some(authenticated) => SaslStep::Success {
            additional_data: None,
            authenticated,
        },
        None => SaslStep::Failure(SaslFailure::NotAuthorized),
    }
}

/// Splits the message into (authzid, authcid, passwd); authcid and passwd must not be empty (RFC 4616 §2).
fn parse(input: &[u8]) -> Result<(&str, &str, &str), SaslFailure> {
    let message = std::str::from_utf8(input).map_err(|_| SaslFailure::MalformedRequest)?;
    let mut parts = message.split('\0');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(authzid), Some(authcid), Some(password), None)
            if !authcid.is_empty() && !password.is_empty() =>
        {
            Ok((authzid, authcid, password))
        }
        _ => Err(SaslFailure::MalformedRequest),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Authenticated, Mechanism, SaslServer, ScramCredentials, ScramHash};
    use super::*;
    use palaver_proto::UserJid;

    const DOMAIN: &str = "chat.example";
    const USER: UserJid = UserJid {
        user_id: 5,
        app_id: 1,
    };

    /// User 5-1 with password "secret" and one live token "tok" of session 77.
    struct Fake;

    #[async_trait::async_trait]
    impl CredentialLookup for Fake {
        async fn scram(&self, _: &str, _: ScramHash) -> Option<ScramCredentials> {
            None
        }
        async fn plain(&self, username: &str, password: &str) -> Option<Authenticated> {
            let token_session = match (username, password) {
                ("5-1", "secret") => None,
                ("5-1", "tok") => Some(77),
                _ => return None,
            };
            Some(Authenticated {
                user: USER,
                token_session,
            })
        }
    }

    async fn plain(input: &[u8]) -> SaslStep {
        SaslServer::new(Mechanism::Plain, DOMAIN).step(input, &Fake).await
    }

    fn success(token_session: Option<i64>) -> SaslStep {
        SaslStep::Success {
            additional_data: None,
            authenticated: Authenticated {
                user: USER,
                token_session,
            },
        }
    }

    const NOT_AUTHORIZED: SaslStep = SaslStep::Failure(SaslFailure::NotAuthorized);
    const MALFORMED: SaslStep = SaslStep::Failure(SaslFailure::MalformedRequest);

    #[tokio::test]
    async fn empty_authzid() {
        assert_eq!(plain(b"\x005-1\0secret").await, success(None));
    }

    #[tokio::test]
    async fn session_token_as_password() {
        assert_eq!(plain(b"\x005-1\0tok").await, success(Some(77)));
    }

    #[tokio::test]
    async fn bare_jid_authzid() {
        assert_eq!(plain(b"5-1@chat.example\x005-1\0secret").await, success(None));
    }

    #[tokio::test]
    async fn foreign_authzid() {
        assert_eq!(plain(b"6-1@chat.example\x005-1\0secret").await, NOT_AUTHORIZED);
        assert_eq!(plain(b"5-1@elsewhere\x005-1\0secret").await, NOT_AUTHORIZED);
        assert_eq!(plain(b"5-1\x005-1\0secret").await, NOT_AUTHORIZED);
    }

    #[tokio::test]
    async fn wrong_password_or_user() {
        assert_eq!(plain(b"\x005-1\0Secret").await, NOT_AUTHORIZED);
        assert_eq!(plain(b"\x006-1\0secret").await, NOT_AUTHORIZED);
    }

    #[tokio::test]
    async fn malformed() {
        assert_eq!(plain(b"5-1\0secret").await, MALFORMED);
        assert_eq!(plain(b"\x005-1\0secret\0").await, MALFORMED);
        assert_eq!(plain(b"\x00\0secret").await, MALFORMED);
        assert_eq!(plain(b"\x005-1\0").await, MALFORMED);
        assert_eq!(plain(b"\x005-1\0sec\xffret").await, MALFORMED);
        let mut huge = b"\x005-1\0".to_vec();
        huge.resize(5000, b'a');
        assert_eq!(plain(&huge).await, MALFORMED);
    }

    #[tokio::test]
    async fn no_initial_response_gets_an_empty_challenge() {
        let mut server = SaslServer::new(Mechanism::Plain, DOMAIN);
        assert_eq!(server.step(b"", &Fake).await, SaslStep::Challenge(Vec::new()));
        assert_eq!(server.step(b"\x005-1\0secret", &Fake).await, success(None));
    }

    #[tokio::test]
    async fn nothing_after_the_outcome() {
        let mut server = SaslServer::new(Mechanism::Plain, DOMAIN);
        assert_eq!(server.step(b"\x005-1\0secret", &Fake).await, success(None));
        assert_eq!(server.step(b"\x005-1\0secret", &Fake).await, MALFORMED);

        let mut server = SaslServer::new(Mechanism::Plain, DOMAIN);
        assert_eq!(server.step(b"\x005-1\0wrong", &Fake).await, NOT_AUTHORIZED);
        assert_eq!(server.step(b"\x005-1\0secret", &Fake).await, MALFORMED);

        let mut server = SaslServer::new(Mechanism::Plain, DOMAIN);
        assert_eq!(server.step(b"", &Fake).await, SaslStep::Challenge(Vec::new()));
        assert_eq!(server.step(b"", &Fake).await, MALFORMED);
    }
}
