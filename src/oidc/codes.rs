//! Stable snake_case codes for login failures: metric labels, log fields and support
//! references that do not change when a message is reworded.

use super::{IdTokenError, LoginErrorKind};

impl LoginErrorKind {
    /// A stable code naming this failure, for example `state_mismatch` or
    /// `id_token_bad_signature` (ID-token failures are `id_token_` followed by
    /// [`IdTokenError::code`]).
    pub fn code(self) -> &'static str {
        match self {
            Self::Cancelled => "cancelled",
            Self::LevelUnreachable => "level_unreachable",
            Self::InteractionRequired => "interaction_required",
            Self::ProviderUnavailable => "provider_unavailable",
            Self::ProviderError => "provider_error",
            Self::StateMismatch => "state_mismatch",
            Self::IssuerMismatch => "issuer_mismatch",
            Self::MissingIssuer => "missing_issuer",
            Self::MalformedCallback => "malformed_callback",
            Self::Expired => "login_expired",
            Self::CodeRejected => "code_rejected",
            Self::TokenEndpoint => "token_endpoint",
            Self::MissingIdToken => "missing_id_token",
            Self::EnvelopeWithoutDecryptor => "envelope_without_decryptor",
            Self::Envelope => "envelope",
            Self::MissingSubject => "missing_subject",
            Self::IdTokenWithoutKeySet => "id_token_without_key_set",
            Self::IdToken(error) => match error {
                IdTokenError::TooLarge => "id_token_too_large",
                IdTokenError::Malformed => "id_token_malformed",
                IdTokenError::DisallowedAlgorithm => "id_token_disallowed_algorithm",
                IdTokenError::UnsupportedHeader => "id_token_unsupported_header",
                IdTokenError::UnknownKey => "id_token_unknown_key",
                IdTokenError::BadSignature => "id_token_bad_signature",
                IdTokenError::WrongIssuer => "id_token_wrong_issuer",
                IdTokenError::WrongAudience => "id_token_wrong_audience",
                IdTokenError::WrongAuthorizedParty => "id_token_wrong_authorized_party",
                IdTokenError::Expired => "id_token_expired",
                IdTokenError::IssuedInFuture => "id_token_issued_in_future",
                IdTokenError::NotYetValid => "id_token_not_yet_valid",
                IdTokenError::InvalidSubject => "id_token_invalid_subject",
                IdTokenError::NonceMismatch => "id_token_nonce_mismatch",
                IdTokenError::MissingAuthTime => "id_token_missing_auth_time",
                IdTokenError::AuthenticationTooOld => "id_token_authentication_too_old",
            },
            Self::SubjectMismatch => "subject_mismatch",
            Self::Userinfo => "userinfo",
            Self::Random => "random",
        }
    }
}

impl IdTokenError {
    /// A stable code naming the check that failed, for example `bad_signature`.
    pub fn code(self) -> &'static str {
        LoginErrorKind::IdToken(self)
            .code()
            .trim_start_matches("id_token_")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_snake_case() {
        let kinds = [
            LoginErrorKind::Cancelled,
            LoginErrorKind::LevelUnreachable,
            LoginErrorKind::InteractionRequired,
            LoginErrorKind::ProviderUnavailable,
            LoginErrorKind::ProviderError,
            LoginErrorKind::StateMismatch,
            LoginErrorKind::IssuerMismatch,
            LoginErrorKind::MissingIssuer,
            LoginErrorKind::MalformedCallback,
            LoginErrorKind::Expired,
            LoginErrorKind::CodeRejected,
            LoginErrorKind::TokenEndpoint,
            LoginErrorKind::MissingIdToken,
            LoginErrorKind::EnvelopeWithoutDecryptor,
            LoginErrorKind::Envelope,
            LoginErrorKind::MissingSubject,
            LoginErrorKind::IdTokenWithoutKeySet,
            LoginErrorKind::IdToken(IdTokenError::BadSignature),
            LoginErrorKind::IdToken(IdTokenError::Expired),
            LoginErrorKind::IdToken(IdTokenError::NotYetValid),
            LoginErrorKind::IdToken(IdTokenError::InvalidSubject),
            LoginErrorKind::SubjectMismatch,
            LoginErrorKind::Userinfo,
            LoginErrorKind::Random,
        ];
        let mut codes: Vec<&str> = kinds.iter().map(|k| k.code()).collect();
        assert!(
            codes
                .iter()
                .all(|c| c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'))
        );
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), kinds.len());
        assert_eq!(IdTokenError::UnknownKey.code(), "unknown_key");
    }
}
