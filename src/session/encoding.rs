//! The session's compact binary layout: the payload of a version-2 sealed value.
//!
//! Opening a session cookie is on the path of every gated request; decoding this layout costs a
//! few hundred instructions where the JSON of version 1 cost about eleven thousand. Version-1
//! (JSON) session cookies sealed before it still open, and are resealed in this layout the next
//! time the session is touched.
//!
//! All integers are big-endian; a string is a `u16` byte length and UTF-8 bytes.
//!
//! ```text
//! level (u8: 0 none, 1, 2) || source (u8, below) || flags (u8: bit 0 signed ID token,
//!   bit 1 acr present, bit 2 auth_time present, bit 3 an `acr` level that is the account's;
//!   other bits zero)
//! || subject (string) || issuer (string) || [acr (string)]
//! || amr count (u8) || amr count × string
//! || [auth_time seconds (i64) || auth_time nanoseconds (u32, < 10^9)]
//! || created_at seconds (i64) || last_seen seconds (i64)
//! || step-up count (u8, ≤ MAX_STEP_UPS_REMEMBERED)
//!   || count × ( level (u8: 1, 2) || max age present (u8: 0, 1) || max age seconds (u32) )
//! || CSRF token (string)
//! ```
//!
//! Source: 0 `id_token_acr`, 1 `userinfo_claim`, 2 `verified_claims`, 3 `vector_of_trust`.
//! Decoding is strict: any unknown tag, flag or level, a string that is not UTF-8, a count over
//! its limit, a timestamp out of range, a truncated field or a trailing byte refuses the whole
//! payload. The layout is authenticated by the sealing (its version byte is in the associated
//! data), so these checks guard against our own bugs and future layouts, not forgeries.

use chrono::{DateTime, Utc};

use super::{CsrfToken, MAX_STEP_UPS_REMEMBERED, Session};
use crate::assurance::{Assurance, Level, SourceKind};

const FLAG_SIGNED_ID_TOKEN: u8 = 0b001;
const FLAG_ACR: u8 = 0b010;
const FLAG_AUTH_TIME: u8 = 0b100;
// Set only for an `acr` source (other sources always name the account's level), so cookies
// sealed before the flag existed keep their meaning.
const FLAG_ACCOUNT_LEVEL: u8 = 0b1000;
const KNOWN_FLAGS: u8 = FLAG_SIGNED_ID_TOKEN | FLAG_ACR | FLAG_AUTH_TIME | FLAG_ACCOUNT_LEVEL;

/// A field does not fit the layout (a string over 65,535 bytes, over 255 `amr` values or step-ups).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("a session field is too long for the binary session layout")]
pub(crate) struct FieldTooLong;

/// Appends `session` in the binary layout to `out`.
pub(crate) fn encode(session: &Session, out: &mut Vec<u8>) -> Result<(), FieldTooLong> {
    let assurance = &session.assurance;
    out.reserve(96 + session.subject.len() + assurance.issuer().len());
    out.push(assurance.level().map_or(0, Level::number));
    out.push(source_tag(assurance.source()));
    let mut flags = 0;
    if assurance.has_signed_id_token() {
        flags |= FLAG_SIGNED_ID_TOKEN;
    }
    if assurance.acr().is_some() {
        flags |= FLAG_ACR;
    }
    if assurance.auth_time().is_some() {
        flags |= FLAG_AUTH_TIME;
    }
    if assurance.source() == SourceKind::IdTokenAcr && assurance.is_account_level() {
        flags |= FLAG_ACCOUNT_LEVEL;
    }
    out.push(flags);
    put_str(out, &session.subject)?;
    put_str(out, assurance.issuer())?;
    if let Some(acr) = assurance.acr() {
        put_str(out, acr)?;
    }
    let amr = assurance.amr();
    out.push(u8::try_from(amr.len()).map_err(|_| FieldTooLong)?);
    for value in amr {
        put_str(out, value)?;
    }
    if let Some(auth_time) = assurance.auth_time() {
        out.extend_from_slice(&auth_time.timestamp().to_be_bytes());
        out.extend_from_slice(&auth_time.timestamp_subsec_nanos().to_be_bytes());
    }
    out.extend_from_slice(&session.created_at.timestamp().to_be_bytes());
    out.extend_from_slice(&session.last_seen.timestamp().to_be_bytes());
    out.push(u8::try_from(session.step_ups_tried.len()).map_err(|_| FieldTooLong)?);
    for &(level, max_age) in &session.step_ups_tried {
        out.push(level.number());
        out.push(u8::from(max_age.is_some()));
        out.extend_from_slice(&max_age.unwrap_or(0).to_be_bytes());
    }
    put_str(out, session.csrf_token.secret())
}

/// Reads a session in the binary layout; `None` for anything but exactly one well-formed session.
pub(crate) fn decode(bytes: &[u8]) -> Option<Session> {
    let mut reader = Reader(bytes);
    let level = match reader.u8()? {
        0 => None,
        number => Some(Level::from_number(number)?),
    };
    let source = source_from_tag(reader.u8()?)?;
    let flags = reader.u8()?;
    if flags & !KNOWN_FLAGS != 0 {
        return None;
    }
    let subject = reader.string()?;
    let issuer = reader.string()?;
    let acr = if flags & FLAG_ACR != 0 {
        Some(reader.string()?)
    } else {
        None
    };
    let amr_count = reader.u8()?;
    let mut amr = Vec::with_capacity(usize::from(amr_count));
    for _ in 0..amr_count {
        amr.push(reader.string()?);
    }
    let auth_time = if flags & FLAG_AUTH_TIME != 0 {
        let seconds = reader.i64()?;
        let nanos = reader.u32()?;
        if nanos >= 1_000_000_000 {
            return None;
        }
        Some(DateTime::from_timestamp(seconds, nanos)?)
    } else {
        None
    };
    let created_at = whole_seconds(reader.i64()?)?;
    let last_seen = whole_seconds(reader.i64()?)?;
    let step_up_count = usize::from(reader.u8()?);
    if step_up_count > MAX_STEP_UPS_REMEMBERED {
        return None;
    }
    let mut step_ups_tried = Vec::with_capacity(step_up_count);
    for _ in 0..step_up_count {
        let level = Level::from_number(reader.u8()?)?;
        let max_age = match (reader.u8()?, reader.u32()?) {
            (0, 0) => None,
            (1, seconds) => Some(seconds),
            _ => return None,
        };
        step_ups_tried.push((level, max_age));
    }
    let csrf_token = CsrfToken(reader.string()?);
    if !reader.0.is_empty() {
        return None;
    }
    let assurance = Assurance::new(level, issuer, source, auth_time)
        .with_acr(acr)
        .with_amr(amr)
        .with_signed_id_token(flags & FLAG_SIGNED_ID_TOKEN != 0)
        .with_account_level(flags & FLAG_ACCOUNT_LEVEL != 0);
    Some(Session {
        subject,
        assurance,
        created_at,
        last_seen,
        step_ups_tried,
        csrf_token,
    })
}

const fn source_tag(source: SourceKind) -> u8 {
    match source {
        SourceKind::IdTokenAcr => 0,
        SourceKind::UserinfoClaim => 1,
        SourceKind::VerifiedClaims => 2,
        SourceKind::VectorOfTrust => 3,
        SourceKind::CounterDocument => 4,
    }
}

const fn source_from_tag(tag: u8) -> Option<SourceKind> {
    match tag {
        0 => Some(SourceKind::IdTokenAcr),
        1 => Some(SourceKind::UserinfoClaim),
        2 => Some(SourceKind::VerifiedClaims),
        3 => Some(SourceKind::VectorOfTrust),
        4 => Some(SourceKind::CounterDocument),
        _ => None,
    }
}

fn whole_seconds(seconds: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(seconds, 0)
}

fn put_str(out: &mut Vec<u8>, value: &str) -> Result<(), FieldTooLong> {
    let len = u16::try_from(value.len()).map_err(|_| FieldTooLong)?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value.as_bytes());
    Ok(())
}

/// A cursor over the payload; every read fails on truncation instead of panicking.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|[byte]| byte)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_be_bytes)
    }

    fn i64(&mut self) -> Option<i64> {
        self.take().map(i64::from_be_bytes)
    }

    fn string(&mut self) -> Option<String> {
        let len = usize::from(u16::from_be_bytes(self.take()?));
        let (text, rest) = self.0.split_at_checked(len)?;
        self.0 = rest;
        std::str::from_utf8(text).ok().map(str::to_owned)
    }
}
