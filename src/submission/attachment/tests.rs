use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use super::{Attachment, AttachmentError, AttachmentLimits, MediaType, attachments_from_json};

const PDF: &[u8] = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n%%EOF\n";
const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0];
const PNG: &[u8] = &[
    0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D,
];

#[test]
fn sniffing_recognises_pdf_jpeg_and_png_only() {
    assert_eq!(MediaType::sniff(PDF), Some(MediaType::Pdf));
    assert_eq!(MediaType::sniff(JPEG), Some(MediaType::Jpeg));
    assert_eq!(MediaType::sniff(PNG), Some(MediaType::Png));
    assert_eq!(MediaType::sniff(b"GIF89a"), None);
    assert_eq!(MediaType::sniff(b"<html>"), None);
    assert_eq!(MediaType::sniff(b"PK\x03\x04"), None);
    assert_eq!(MediaType::sniff(b""), None);
    assert_eq!(
        MediaType::parse("Application/PDF; name=x"),
        Some(MediaType::Pdf)
    );
    assert_eq!(MediaType::parse("image/jpg"), None);
}

#[test]
fn the_declared_type_must_be_the_sniffed_one() {
    let ok = Attachment::new(
        0,
        "giay-chung-sinh.pdf",
        Some("application/pdf"),
        PDF.to_vec(),
    )
    .unwrap();
    assert_eq!(ok.media_type(), MediaType::Pdf);
    assert_eq!(ok.name(), "giay-chung-sinh.pdf");
    assert_eq!(
        Attachment::new(1, "anh.png", Some("image/png"), JPEG.to_vec()).unwrap_err(),
        AttachmentError::TypeMismatch {
            index: 1,
            declared: MediaType::Png,
            found: MediaType::Jpeg
        }
    );
    assert_eq!(
        Attachment::new(2, "trang.html", Some("text/html"), b"<html>".to_vec())
            .unwrap_err()
            .to_string(),
        "attachments[2]: type `text/html` is not accepted: use PDF, JPEG or PNG"
    );
    assert_eq!(
        Attachment::new(0, "x.pdf", Some("application/pdf"), b"MZ\x90\0".to_vec()).unwrap_err(),
        AttachmentError::UnrecognisedContent { index: 0 }
    );
    // A browser that does not know the type sends octet-stream: the content decides.
    let sniffed =
        Attachment::new(0, "scan", Some("application/octet-stream"), PNG.to_vec()).unwrap();
    assert_eq!(sniffed.media_type(), MediaType::Png);
}

#[test]
fn names_and_empty_files_are_checked() {
    for bad in ["", "  ", "../etc/passwd", "a\\b.pdf", "a\nb.pdf"] {
        assert_eq!(
            Attachment::new(3, bad, None, PDF.to_vec()).unwrap_err(),
            AttachmentError::BadName { index: 3 }
        );
    }
    assert_eq!(
        Attachment::new(0, &"á".repeat(256), None, PDF.to_vec()).unwrap_err(),
        AttachmentError::BadName { index: 0 }
    );
    assert!(Attachment::new(0, &"á".repeat(255), None, PDF.to_vec()).is_ok());
    assert_eq!(
        Attachment::new(0, "x.pdf", None, Vec::new()).unwrap_err(),
        AttachmentError::Empty { index: 0 }
    );
}

#[test]
fn limits_bound_the_number_each_file_and_the_total() {
    let limits = AttachmentLimits::new(2, 40, 60);
    let pdf = Attachment::new(0, "a.pdf", None, PDF.to_vec()).unwrap();
    assert_eq!(limits.check(std::slice::from_ref(&pdf)), Ok(()));
    assert_eq!(
        limits.check(&[pdf.clone(), pdf.clone(), pdf.clone()]),
        Err(AttachmentError::TooMany { max: 2 })
    );
    assert_eq!(
        limits.check(&[pdf.clone(), pdf.clone()]),
        Err(AttachmentError::TotalTooLarge { max_bytes: 60 })
    );
    let tight = AttachmentLimits::new(2, 10, 60);
    assert_eq!(
        tight.check(&[pdf]).unwrap_err().to_string(),
        "attachments[0]: is larger than 10 bytes"
    );
    // Nothing beyond the ceiling.
    assert_eq!(
        AttachmentLimits::new(1000, usize::MAX, usize::MAX),
        AttachmentLimits::MAX
    );
}

#[test]
fn the_json_form_is_parsed_and_stored_with_digest_and_size() {
    let list = json!([
        {"name": "giay-chung-sinh.pdf", "media_type": "application/pdf",
         "content_base64": STANDARD.encode(PDF)},
        {"name": "cccd-me.jpg", "media_type": "image/jpeg", "content_base64": STANDARD.encode(JPEG)},
    ]);
    let parsed = attachments_from_json(&list, &AttachmentLimits::DEFAULT).unwrap();
    assert_eq!(parsed.len(), 2);
    let stored = parsed[0].to_json();
    assert_eq!(stored["name"], "giay-chung-sinh.pdf");
    assert_eq!(stored["media_type"], "application/pdf");
    assert_eq!(stored["size"], PDF.len());
    assert_eq!(stored["content_base64"], STANDARD.encode(PDF));
    let digest = ring::digest::digest(&ring::digest::SHA256, PDF);
    assert_eq!(stored["sha256"], crate::audit::hex(digest.as_ref()));

    let not_base64 = json!([{"name": "a.pdf", "media_type": "application/pdf",
        "content_base64": "%%%"}]);
    assert_eq!(
        attachments_from_json(&not_base64, &AttachmentLimits::DEFAULT).unwrap_err(),
        AttachmentError::BadEncoding { index: 0 }
    );
    let missing = json!([{"name": "a.pdf"}]);
    assert_eq!(
        attachments_from_json(&missing, &AttachmentLimits::DEFAULT).unwrap_err(),
        AttachmentError::Malformed { index: 0 }
    );
    let octet = json!([{"name": "a.pdf", "media_type": "application/octet-stream",
        "content_base64": STANDARD.encode(PDF)}]);
    assert!(matches!(
        attachments_from_json(&octet, &AttachmentLimits::DEFAULT).unwrap_err(),
        AttachmentError::UnsupportedType { index: 0, .. }
    ));
    let big = json!([{"name": "a.pdf", "media_type": "application/pdf",
        "content_base64": STANDARD.encode(vec![b'%'; 100])}]);
    assert_eq!(
        attachments_from_json(&big, &AttachmentLimits::new(5, 50, 50)).unwrap_err(),
        AttachmentError::FileTooLarge {
            index: 0,
            max_bytes: 50
        }
    );
}

#[test]
fn debug_shows_neither_name_nor_content() {
    let pdf = Attachment::new(0, "Nguyen Van A - CCCD.pdf", None, PDF.to_vec()).unwrap();
    let debug = format!("{pdf:?}");
    assert_eq!(
        debug,
        format!(
            "Attachment {{ name: \"[redacted]\", media_type: Pdf, size: {} }}",
            PDF.len()
        )
    );
}

#[test]
fn refused_attachments_map_to_413_415_and_422() {
    use crate::submission::SubmitError;
    use http::StatusCode;
    let status = |error: AttachmentError| SubmitError::Attachment(error).http_status();
    assert_eq!(
        status(AttachmentError::TooMany { max: 5 }),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(
        status(AttachmentError::TotalTooLarge { max_bytes: 1 }),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(
        status(AttachmentError::UnrecognisedContent { index: 0 }),
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert_eq!(
        status(AttachmentError::MemberTaken),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        AttachmentError::MemberTaken.to_string(),
        "the dossier already has a member named `attachments`"
    );
}
