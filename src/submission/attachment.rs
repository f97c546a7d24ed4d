//! Documents attached to a dossier (scans of a birth certificate, an ID card, …).
//!
//! Rules:
//!
//! 1. Only PDF, JPEG and PNG are accepted, recognised by their first bytes (magic numbers), and
//!    the media type the client declared must be the one the content shows.
//! 2. Sizes are bounded per file, per dossier and in number ([`AttachmentLimits`]); the
//!    submitter refuses anything beyond [`AttachmentLimits::MAX`], the most a hand-off envelope
//!    can carry ([`MAX_HANDOFF_LEN`](super::MAX_HANDOFF_LEN)).
//! 3. Attachments travel inside the dossier: the submitter adds them as the dossier's
//!    `attachments` member (name, media type, size, SHA-256 and the content in base64), so the
//!    sealed dossier, the receipt's digest and the hand-off envelope all cover them, and a
//!    submission is stored whole or not at all.
//! 4. File names and contents are personal data: `Debug` shows only the type and size.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// The member of the dossier that carries the attachments.
pub const ATTACHMENTS_MEMBER: &str = "attachments";
/// Longest attachment file name, in characters.
pub const MAX_ATTACHMENT_NAME_CHARS: usize = 255;

/// A media type accepted for attachments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MediaType {
    /// `image/jpeg`.
    Jpeg,
    /// `application/pdf`.
    Pdf,
    /// `image/png`.
    Png,
}

impl MediaType {
    /// Every accepted type.
    pub const ALL: [Self; 3] = [Self::Pdf, Self::Jpeg, Self::Png];

    /// The type the content's first bytes show, if it is one of the accepted ones.
    pub fn sniff(content: &[u8]) -> Option<Self> {
        if content.starts_with(b"%PDF-") {
            Some(Self::Pdf)
        } else if content.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Self::Jpeg)
        } else if content.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
            Some(Self::Png)
        } else {
            None
        }
    }

    /// Parses a declared media type (`application/pdf`, `image/jpeg`, `image/png`; any case,
    /// parameters such as `; name=…` ignored).
    pub fn parse(declared: &str) -> Option<Self> {
        let essence = declared.split(';').next().unwrap_or_default().trim();
        Self::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(essence))
    }

    /// The media type's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Pdf => "application/pdf",
            Self::Png => "image/png",
        }
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One checked attachment: a file name, a media type its content really has, and the content.
#[derive(Clone, PartialEq, Eq)]
pub struct Attachment {
    name: String,
    media_type: MediaType,
    content: Vec<u8>,
}

impl Attachment {
    /// Checks an attachment: the name, the declared type, and the content's type and length.
    /// `index` is its position in the request, used in error messages (`attachments[index]`).
    ///
    /// `declared` is the client's media type; `None` (a browser that sent none, or
    /// `application/octet-stream`) takes the sniffed type.
    ///
    /// # Errors
    ///
    /// [`AttachmentError::BadName`], [`AttachmentError::Empty`],
    /// [`AttachmentError::UnsupportedType`], [`AttachmentError::UnrecognisedContent`] or
    /// [`AttachmentError::TypeMismatch`].
    pub fn new(
        index: usize,
        name: &str,
        declared: Option<&str>,
        content: Vec<u8>,
    ) -> Result<Self, AttachmentError> {
        let name = name.trim();
        let bad_name = name.is_empty()
            || name.chars().count() > MAX_ATTACHMENT_NAME_CHARS
            || name
                .chars()
                .any(|c| c.is_control() || c == '/' || c == '\\');
        if bad_name {
            return Err(AttachmentError::BadName { index });
        }
        let declared =
            match declared.map(str::trim) {
                None | Some("") => None,
                Some(value)
                    if value.split(';').next().is_some_and(|t| {
                        t.trim().eq_ignore_ascii_case("application/octet-stream")
                    }) =>
                {
                    None
                }
                Some(value) => Some(MediaType::parse(value).ok_or_else(|| {
                    AttachmentError::UnsupportedType {
                        index,
                        declared: value.chars().take(100).collect(),
                    }
                })?),
            };
        if content.is_empty() {
            return Err(AttachmentError::Empty { index });
        }
        let found =
            MediaType::sniff(&content).ok_or(AttachmentError::UnrecognisedContent { index })?;
        if let Some(declared) = declared
            && declared != found
        {
            return Err(AttachmentError::TypeMismatch {
                index,
                declared,
                found,
            });
        }
        Ok(Self {
            name: name.to_owned(),
            media_type: found,
            content,
        })
    }

    /// The file name as the resident gave it (personal data: never log it).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The media type, as sniffed (and declared).
    pub fn media_type(&self) -> MediaType {
        self.media_type
    }

    /// The content.
    pub fn content(&self) -> &[u8] {
        &self.content
    }

    /// SHA-256 of the content, lowercase hex.
    pub fn sha256_hex(&self) -> String {
        crate::audit::hex(ring::digest::digest(&ring::digest::SHA256, &self.content).as_ref())
    }

    /// The attachment as it is stored in the dossier:
    /// `{"name", "media_type", "size", "sha256", "content_base64"}` (standard base64 with
    /// padding).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "media_type": self.media_type.as_str(),
            "size": self.content.len(),
            "sha256": self.sha256_hex(),
            "content_base64": STANDARD.encode(&self.content),
        })
    }
}

impl fmt::Debug for Attachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attachment")
            .field("name", &"[redacted]")
            .field("media_type", &self.media_type)
            .field("size", &self.content.len())
            .finish()
    }
}

/// How many attachments, and how large, a dossier may carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AttachmentLimits {
    /// Most files per dossier.
    pub max_files: usize,
    /// Largest file, in bytes.
    pub max_file_bytes: usize,
    /// Largest total of all files of one dossier, in bytes.
    pub max_total_bytes: usize,
}

impl AttachmentLimits {
    /// The ceiling: 20 files, 8 MiB per file and in total. The dossier carries the content in
    /// base64 and the hand-off envelope base64-encodes the dossier again, so 8 MiB of files make
    /// an envelope of about 14.3 MiB, inside [`MAX_HANDOFF_LEN`](super::MAX_HANDOFF_LEN).
    pub const MAX: Self = Self {
        max_files: 20,
        max_file_bytes: 8 * 1024 * 1024,
        max_total_bytes: 8 * 1024 * 1024,
    };

    /// A portal's defaults: 5 files of up to 4 MiB, 8 MiB in total (a phone photo of a paper
    /// certificate is 1 to 4 MB; a scanned A4 PDF well under 1 MB).
    pub const DEFAULT: Self = Self {
        max_files: 5,
        max_file_bytes: 4 * 1024 * 1024,
        max_total_bytes: 8 * 1024 * 1024,
    };

    /// Limits of `max_files` files of at most `max_file_bytes` each and `max_total_bytes` in all,
    /// each capped at [`MAX`](Self::MAX).
    pub fn new(max_files: usize, max_file_bytes: usize, max_total_bytes: usize) -> Self {
        Self {
            max_files: max_files.min(Self::MAX.max_files),
            max_file_bytes: max_file_bytes.min(Self::MAX.max_file_bytes),
            max_total_bytes: max_total_bytes.min(Self::MAX.max_total_bytes),
        }
    }

    /// Checks the number and sizes of `attachments`.
    ///
    /// # Errors
    ///
    /// [`AttachmentError::TooMany`], [`AttachmentError::FileTooLarge`] or
    /// [`AttachmentError::TotalTooLarge`].
    pub fn check(&self, attachments: &[Attachment]) -> Result<(), AttachmentError> {
        if attachments.len() > self.max_files {
            return Err(AttachmentError::TooMany {
                max: self.max_files,
            });
        }
        let mut total = 0usize;
        for (index, attachment) in attachments.iter().enumerate() {
            self.check_file(index, attachment.content.len())?;
            total = total.saturating_add(attachment.content.len());
        }
        self.check_total(total)
    }

    /// Checks the size of the file at `index`.
    ///
    /// # Errors
    ///
    /// [`AttachmentError::FileTooLarge`].
    pub fn check_file(&self, index: usize, bytes: usize) -> Result<(), AttachmentError> {
        if bytes > self.max_file_bytes {
            return Err(AttachmentError::FileTooLarge {
                index,
                max_bytes: self.max_file_bytes,
            });
        }
        Ok(())
    }

    /// Checks the total size of the files.
    ///
    /// # Errors
    ///
    /// [`AttachmentError::TotalTooLarge`].
    pub fn check_total(&self, bytes: usize) -> Result<(), AttachmentError> {
        if bytes > self.max_total_bytes {
            return Err(AttachmentError::TotalTooLarge {
                max_bytes: self.max_total_bytes,
            });
        }
        Ok(())
    }
}

impl Default for AttachmentLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// An attachment was refused. Messages name the attachment by position, never by file name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttachmentError {
    /// More files than allowed.
    #[error("at most {max} attachments are accepted")]
    TooMany {
        /// The limit.
        max: usize,
    },
    /// One file is too large.
    #[error("attachments[{index}]: is larger than {max_bytes} bytes")]
    FileTooLarge {
        /// The attachment's position.
        index: usize,
        /// The limit.
        max_bytes: usize,
    },
    /// All files together are too large.
    #[error("the attachments are larger than {max_bytes} bytes in total")]
    TotalTooLarge {
        /// The limit.
        max_bytes: usize,
    },
    /// An empty file.
    #[error("attachments[{index}]: is empty")]
    Empty {
        /// The attachment's position.
        index: usize,
    },
    /// The file name is empty, too long, or holds a path separator or control character.
    #[error(
        "attachments[{index}]: the file name must be 1 to 255 characters without `/`, `\\` or \
         control characters"
    )]
    BadName {
        /// The attachment's position.
        index: usize,
    },
    /// The content is not valid base64.
    #[error("attachments[{index}]: `content_base64` is not valid base64")]
    BadEncoding {
        /// The attachment's position.
        index: usize,
    },
    /// The attachment is not an object with the expected members.
    #[error(
        "attachments[{index}]: must be an object with `name`, `media_type` and `content_base64`"
    )]
    Malformed {
        /// The attachment's position.
        index: usize,
    },
    /// The declared media type is not accepted.
    #[error("attachments[{index}]: type `{declared}` is not accepted: use PDF, JPEG or PNG")]
    UnsupportedType {
        /// The attachment's position.
        index: usize,
        /// The declared type (at most 100 characters of it).
        declared: String,
    },
    /// The content is not a PDF, JPEG or PNG.
    #[error("attachments[{index}]: the content is not a PDF, JPEG or PNG file")]
    UnrecognisedContent {
        /// The attachment's position.
        index: usize,
    },
    /// The content is of another accepted type than declared.
    #[error("attachments[{index}]: declared as `{declared}` but the content is `{found}`")]
    TypeMismatch {
        /// The attachment's position.
        index: usize,
        /// The declared type.
        declared: MediaType,
        /// The type the content shows.
        found: MediaType,
    },
    /// The dossier already has an `attachments` member of its own.
    #[error("the dossier already has a member named `attachments`")]
    MemberTaken,
}

impl AttachmentError {
    /// Whether the error is about size or number (HTTP 413 at a portal).
    pub fn is_too_large(&self) -> bool {
        matches!(
            self,
            Self::TooMany { .. } | Self::FileTooLarge { .. } | Self::TotalTooLarge { .. }
        )
    }

    /// Whether the error is about the type (HTTP 415 at a portal).
    pub fn is_refused_type(&self) -> bool {
        matches!(
            self,
            Self::UnsupportedType { .. }
                | Self::UnrecognisedContent { .. }
                | Self::TypeMismatch { .. }
        )
    }

    /// The position of the attachment concerned, if one is.
    pub fn index(&self) -> Option<usize> {
        match self {
            Self::FileTooLarge { index, .. }
            | Self::Empty { index }
            | Self::BadName { index }
            | Self::BadEncoding { index }
            | Self::Malformed { index }
            | Self::UnsupportedType { index, .. }
            | Self::UnrecognisedContent { index }
            | Self::TypeMismatch { index, .. } => Some(*index),
            Self::TooMany { .. } | Self::TotalTooLarge { .. } | Self::MemberTaken => None,
        }
    }
}

/// Parses the JSON API's `attachments` array
/// (`[{"name": …, "media_type": …, "content_base64": …}]`), checking each against `limits` as it
/// goes, so a too-large request is refused before everything is decoded.
///
/// # Errors
///
/// The first [`AttachmentError`] found.
pub fn attachments_from_json(
    value: &serde_json::Value,
    limits: &AttachmentLimits,
) -> Result<Vec<Attachment>, AttachmentError> {
    let Some(items) = value.as_array() else {
        return Err(AttachmentError::Malformed { index: 0 });
    };
    if items.len() > limits.max_files {
        return Err(AttachmentError::TooMany {
            max: limits.max_files,
        });
    }
    let mut out = Vec::with_capacity(items.len());
    let mut total = 0usize;
    for (index, item) in items.iter().enumerate() {
        let member = |name: &str| item.get(name).and_then(serde_json::Value::as_str);
        let (Some(name), Some(media_type), Some(content)) = (
            member("name"),
            member("media_type"),
            member("content_base64"),
        ) else {
            return Err(AttachmentError::Malformed { index });
        };
        // The API names the type: no guessing from the content alone.
        if MediaType::parse(media_type).is_none() {
            return Err(AttachmentError::UnsupportedType {
                index,
                declared: media_type.chars().take(100).collect(),
            });
        }
        // Base64 decodes to at most 3/4 of its length: refuse before decoding.
        limits.check_file(index, content.len() / 4 * 3)?;
        let bytes = STANDARD
            .decode(content.trim())
            .map_err(|_| AttachmentError::BadEncoding { index })?;
        limits.check_file(index, bytes.len())?;
        total = total.saturating_add(bytes.len());
        limits.check_total(total)?;
        out.push(Attachment::new(index, name, Some(media_type), bytes)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
