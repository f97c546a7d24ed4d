//! Resident-facing text in Vietnamese (first) and English.
//!
//! Rules this module enforces:
//!
//! 1. Every resident-facing string the library produces is a [`MessageId`] with both a Vietnamese
//!    and an English text in one table; a test walks [`MessageId::ALL`] and fails on a missing or
//!    empty translation.
//! 2. Vietnamese is the default language ([`Lang::default`]); an unknown language tag falls back
//!    to Vietnamese.
//! 3. Text that comes from configuration (procedure names, documents, addresses) is a
//!    [`LocalText`], and loaders reject one whose Vietnamese or English side is empty.
//!
//! # Example
//!
//! ```
//! use wardgate::i18n::{t, Lang, MessageId};
//!
//! let lang = Lang::from_tag("en-GB");
//! assert_eq!(lang, Lang::En);
//! assert!(t(Lang::Vi, MessageId::ReasonNoEid).contains("mức độ 2"));
//! assert!(!t(lang, MessageId::ReasonNoEid).is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use serde::{Deserialize, Serialize};

/// A language of the portal.
#[expect(
    clippy::exhaustive_enums,
    reason = "the portal speaks Vietnamese and English; a new language is a breaking change"
)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Lang {
    /// English.
    En,
    /// Vietnamese, the default.
    #[default]
    Vi,
}

impl Lang {
    /// The language for a BCP 47 tag such as `vi`, `vi-VN` or `en-GB`; Vietnamese when unknown.
    pub fn from_tag(tag: &str) -> Self {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or("");
        if primary.eq_ignore_ascii_case("en") {
            Self::En
        } else {
            Self::Vi
        }
    }

    /// The primary language subtag, `vi` or `en` (for `ui_locales` and `lang` attributes).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Vi => "vi",
        }
    }

    /// The BCP 47 code, `vi` or `en` (same as [`as_str`](Self::as_str)).
    pub const fn code(self) -> &'static str {
        self.as_str()
    }

    /// The language for exactly `vi` or `en` (case-insensitive), if supported.
    pub fn from_code(code: &str) -> Option<Self> {
        if code.eq_ignore_ascii_case("vi") {
            Some(Self::Vi)
        } else if code.eq_ignore_ascii_case("en") {
            Some(Self::En)
        } else {
            None
        }
    }

    /// The language a query string's `lang` parameter asks for; Vietnamese otherwise.
    pub fn from_query(query: Option<&str>) -> Self {
        query
            .into_iter()
            .flat_map(|q| url::form_urlencoded::parse(q.as_bytes()))
            .find(|(key, _)| key == "lang")
            .and_then(|(_, value)| Self::from_code(&value))
            .unwrap_or_default()
    }

    /// The other language, offered by the language switch.
    pub const fn other(self) -> Self {
        match self {
            Self::En => Self::Vi,
            Self::Vi => Self::En,
        }
    }

    /// The text in this language.
    pub const fn pick<'a>(self, vi: &'a str, en: &'a str) -> &'a str {
        match self {
            Self::En => en,
            Self::Vi => vi,
        }
    }
}

/// A text given by configuration in both languages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LocalText {
    /// Vietnamese.
    pub vi: String,
    /// English.
    pub en: String,
}

impl LocalText {
    /// A text from its Vietnamese and English sides.
    pub fn new(vi: impl Into<String>, en: impl Into<String>) -> Self {
        Self {
            vi: vi.into(),
            en: en.into(),
        }
    }

    /// The text in `lang`.
    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::En => &self.en,
            Lang::Vi => &self.vi,
        }
    }

    /// Whether either side is empty or only whitespace.
    pub fn is_incomplete(&self) -> bool {
        self.vi.trim().is_empty() || self.en.trim().is_empty()
    }
}

/// The text of `id` in `lang`.
pub fn t(lang: Lang, id: MessageId) -> &'static str {
    let (vi, en) = id.texts();
    match lang {
        Lang::En => en,
        Lang::Vi => vi,
    }
}

macro_rules! messages {
    ($( $(#[$doc:meta])* $id:ident => ($vi:expr, $en:expr), )*) => {
        /// Every resident-facing message of the library.
        #[non_exhaustive]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum MessageId {
            $( $(#[$doc])* $id, )*
        }

        impl MessageId {
            /// All messages, in declaration order.
            pub const ALL: &'static [MessageId] = &[$(MessageId::$id,)*];

            /// The Vietnamese and English texts.
            pub const fn texts(self) -> (&'static str, &'static str) {
                match self {
                    $( MessageId::$id => ($vi, $en), )*
                }
            }
        }
    };
}

messages! {
    /// Why: no session.
    ReasonNoSession => (
        "Bạn cần đăng nhập bằng tài khoản định danh điện tử VNeID để nộp hồ sơ trực tuyến.",
        "Please sign in with your VNeID e-identity account to submit this application online."
    ),
    /// Why: the resident has no e-ID account.
    ReasonNoEid => (
        "Bạn chưa có tài khoản định danh điện tử VNeID mức độ 2 nên chưa nộp hồ sơ này trực tuyến được. Bạn có thể nộp trực tiếp tại Trung tâm Phục vụ hành chính công của phường, xã.",
        "You do not have a level 2 VNeID e-identity account yet, so you cannot submit this application online. You can submit it in person at the ward's Public Administrative Service Center."
    ),
    /// Why: the level is below what the procedure needs.
    ReasonLevelBelowRequired => (
        "Thủ tục này chỉ nộp trực tuyến được bằng tài khoản định danh điện tử mức độ 2. Tài khoản bạn vừa dùng chưa đạt mức độ 2.",
        "This procedure can only be submitted online with a level 2 e-identity account. The account you used is not level 2."
    ),
    /// Why: the login is too old.
    ReasonAuthenticationTooOld => (
        "Bạn đã đăng nhập cách đây khá lâu. Để bảo vệ hồ sơ của bạn, vui lòng đăng nhập lại rồi nộp.",
        "You signed in some time ago. To protect your application, please sign in again before submitting."
    ),
    /// Why: the resident already signed in again once for this requirement.
    ReasonStepUpAlreadyTried => (
        "Bạn đã đăng nhập lại nhưng hệ thống vẫn chưa xác nhận được tài khoản mức độ 2 còn hiệu lực, nên hồ sơ cần nộp trực tiếp.",
        "You signed in again, but we still could not confirm a current level 2 account, so the application has to be submitted in person."
    ),
    /// Why: the resident cancelled the login.
    ReasonResidentCancelled => (
        "Bạn đã hủy đăng nhập. Bạn có thể đăng nhập lại bất cứ lúc nào, hoặc nộp hồ sơ trực tiếp.",
        "You cancelled the sign-in. You can sign in again at any time, or submit the application in person."
    ),
    /// Why: the identity provider is unavailable.
    ReasonProviderUnavailable => (
        "Hệ thống đăng nhập VNeID đang tạm thời gián đoạn. Bạn có thể thử lại sau, hoặc nộp hồ sơ trực tiếp.",
        "The VNeID sign-in service is temporarily unavailable. You can try again later, or submit the application in person."
    ),
    /// Why: the procedure requires the resident to be present.
    ReasonPresenceRequired => (
        "Thủ tục này cần bạn có mặt trực tiếp, ví dụ để xuất trình bản chính giấy tờ hoặc ký trước mặt cán bộ.",
        "This procedure needs you to come in person, for example to show original documents or to sign in front of an officer."
    ),
    /// Why: the resident chose in-person service.
    ReasonResidentChoseInPerson => (
        "Bạn đã chọn nộp hồ sơ trực tiếp.",
        "You chose to submit the application in person."
    ),
    /// Why: the level is met; the resident may submit online.
    ReasonLevelMet => (
        "Tài khoản của bạn đạt mức độ 2. Bạn có thể nộp hồ sơ trực tuyến.",
        "Your account meets level 2. You can submit the application online."
    ),
    /// The resident can still retry signing in from the referral page.
    RetrySignIn => (
        "Bạn vẫn có thể thử đăng nhập lại để nộp trực tuyến.",
        "You can still try to sign in again and submit online."
    ),
    /// Title of the referral page.
    ReferralTitle => (
        "Nộp hồ sơ trực tiếp",
        "Submit your application in person"
    ),
    /// Heading: where to go.
    WhereToGo => ("Nơi nộp hồ sơ", "Where to go"),
    /// Heading: opening hours.
    OpeningHours => ("Giờ làm việc", "Opening hours"),
    /// Label: open now.
    OpenNow => ("Đang mở cửa", "Open now"),
    /// Label: next opening time.
    NextOpen => ("Mở cửa lần tới", "Next open"),
    /// Label: closed on public holidays.
    ClosedOnHolidays => ("Nghỉ vào các ngày lễ, Tết", "Closed on public holidays"),
    /// Heading: what to bring.
    WhatToBring => ("Giấy tờ cần mang theo", "What to bring"),
    /// Heading: fee.
    Fee => ("Lệ phí", "Fee"),
    /// Heading: processing time.
    ProcessingTime => ("Thời gian giải quyết", "Processing time"),
    /// Heading: how to get level 2.
    HowToGetLevel2 => (
        "Cách đăng ký tài khoản định danh điện tử mức độ 2",
        "How to get a level 2 e-identity account"
    ),
    /// How to get level 2, the steps.
    Level2Steps => (
        "Đến Công an xã, phường (ở bất kỳ nơi nào, không phụ thuộc nơi cư trú). Cán bộ chụp ảnh chân dung, lấy vân tay và kích hoạt tài khoản trên ứng dụng VNeID của bạn.",
        "Go to a commune or ward police post (any one, wherever you live). An officer takes your photo and fingerprints and activates the account in your VNeID app."
    ),
    /// How to get level 2, what to bring.
    Level2Bring => (
        "Mang theo thẻ căn cước hoặc thẻ căn cước công dân gắn chip còn hạn, và điện thoại đang dùng số thuê bao chính chủ.",
        "Bring your valid chip-based identity card and the mobile phone whose number is registered in your own name."
    ),
    /// How to get level 2, how long.
    Level2Duration => (
        "Tối đa 3 ngày làm việc (7 ngày làm việc nếu thẻ căn cước đã hết hạn hoặc chưa có thẻ). Kết quả được thông báo qua ứng dụng VNeID hoặc tin nhắn SMS. Nếu bạn đã có thẻ căn cước gắn chip và đã thu nhận sinh trắc học khi làm thẻ, có thể bạn chỉ cần kích hoạt mức độ 2 trên ứng dụng VNeID.",
        "At most 3 working days (7 if your identity card has expired or you have none). The result comes by a VNeID notification or by SMS. If you hold a chip identity card and gave your biometrics when it was made, you may only need to activate level 2 in the VNeID app."
    ),
    /// Heading: where to get help.
    WhereToGetHelp => ("Nơi được hỗ trợ", "Where to get help"),
    /// Help from the community digital technology team.
    HelpDeskHint => (
        "Tổ công nghệ số cộng đồng hỗ trợ miễn phí cài đặt, kích hoạt VNeID và chuẩn bị hồ sơ.",
        "The community digital technology team helps you for free to install and activate VNeID and to prepare your application."
    ),
    /// Staff at the centre help the resident prepare the dossier and scan it at the counter.
    AssistedSubmission => (
        "Cán bộ Trung tâm Phục vụ hành chính công và Tổ công nghệ số cộng đồng giúp bạn chuẩn bị hồ sơ này và số hóa (scan) giấy tờ ngay tại quầy.",
        "Staff of the Public Administrative Service Center and the community digital technology team help you prepare this application and scan your documents at the counter."
    ),
    /// Heading: booking.
    BookSlot => ("Đặt lịch hẹn", "Book an appointment"),
    /// A slot is full.
    SlotFull => (
        "Khung giờ này đã hết chỗ. Vui lòng chọn khung giờ khác.",
        "This time slot is full. Please choose another one."
    ),
    /// Booking confirmed.
    BookingConfirmed => ("Đã đặt lịch hẹn", "Appointment booked"),
    /// Booking cancelled.
    BookingCancelled => ("Đã hủy lịch hẹn", "Appointment cancelled"),
    /// Heading: the ticket.
    TicketHeading => ("Mã lịch hẹn của bạn", "Your appointment code"),
    /// What the ticket is for.
    TicketHint => (
        "Đọc mã này hoặc đưa mã QR cho cán bộ tại quầy tiếp nhận; cán bộ sẽ mở lại hồ sơ bạn đã khai, bạn không phải khai lại.",
        "Read out this code or show the QR code at the counter; the officer opens the application you started, so you do not have to fill it in again."
    ),
    /// Ticket validity.
    TicketValidUntil => ("Mã có hiệu lực đến", "Code valid until"),
    /// Dossier field error: missing.
    FieldMissing => ("Vui lòng nhập thông tin này.", "Please fill in this field."),
    /// Dossier field error: wrong type.
    FieldWrongType => ("Thông tin này không đúng định dạng.", "This field has the wrong format."),
    /// Dossier field error: too long.
    FieldTooLong => ("Thông tin này quá dài.", "This field is too long."),
    /// Dossier field error: bad date.
    FieldInvalidDate => (
        "Ngày không hợp lệ; vui lòng nhập theo dạng năm-tháng-ngày.",
        "This date is not valid; please use year-month-day."
    ),
    /// Dossier field error: not one of the options.
    FieldNotAnOption => ("Vui lòng chọn một mục trong danh sách.", "Please choose one of the options."),
    /// Dossier field error: bad personal identification number.
    FieldInvalidCitizenId => (
        "Số định danh cá nhân gồm đúng 12 chữ số.",
        "The personal identification number has exactly 12 digits."
    ),
    /// Dossier field error: bad phone number.
    FieldInvalidPhone => (
        "Số điện thoại không hợp lệ (ví dụ 0912345678).",
        "The phone number is not valid (for example 0912345678)."
    ),
    /// Dossier field error: unknown field.
    FieldUnknown => ("Thông tin này không thuộc hồ sơ.", "This field is not part of the application."),
    /// Dossier error: not a form at all.
    DossierNotAnObject => ("Hồ sơ không đúng định dạng.", "The application has the wrong format."),
    /// Weekday name.
    Monday => ("Thứ Hai", "Monday"),
    /// Weekday name.
    Tuesday => ("Thứ Ba", "Tuesday"),
    /// Weekday name.
    Wednesday => ("Thứ Tư", "Wednesday"),
    /// Weekday name.
    Thursday => ("Thứ Năm", "Thursday"),
    /// Weekday name.
    Friday => ("Thứ Sáu", "Friday"),
    /// Weekday name.
    Saturday => ("Thứ Bảy", "Saturday"),
    /// Weekday name.
    Sunday => ("Chủ nhật", "Sunday"),
    /// Label: closed.
    Closed => ("Nghỉ", "Closed"),
    /// Label: sample data.
    SampleData => (
        "Dữ liệu mẫu, chưa được phường, xã xác nhận.",
        "Sample data, not yet confirmed by the ward."
    ),
}

impl MessageId {
    /// The name of `weekday`.
    pub const fn weekday(weekday: chrono::Weekday) -> Self {
        match weekday {
            chrono::Weekday::Mon => Self::Monday,
            chrono::Weekday::Tue => Self::Tuesday,
            chrono::Weekday::Wed => Self::Wednesday,
            chrono::Weekday::Thu => Self::Thursday,
            chrono::Weekday::Fri => Self::Friday,
            chrono::Weekday::Sat => Self::Saturday,
            chrono::Weekday::Sun => Self::Sunday,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_has_both_translations() {
        let mut missing = Vec::new();
        for id in MessageId::ALL {
            let (vi, en) = id.texts();
            if vi.trim().is_empty() {
                missing.push(format!("{id:?}: vi"));
            }
            if en.trim().is_empty() {
                missing.push(format!("{id:?}: en"));
            }
            if vi == en {
                missing.push(format!("{id:?}: vi equals en (untranslated)"));
            }
        }
        assert!(missing.is_empty(), "missing translations: {missing:?}");
    }

    #[test]
    fn lang_from_tag_defaults_to_vietnamese() {
        assert_eq!(Lang::from_tag("en"), Lang::En);
        assert_eq!(Lang::from_tag("EN_us"), Lang::En);
        assert_eq!(Lang::from_tag("vi-VN"), Lang::Vi);
        assert_eq!(Lang::from_tag("fr"), Lang::Vi);
        assert_eq!(Lang::from_tag(""), Lang::Vi);
        assert_eq!(Lang::default(), Lang::Vi);
    }

    #[test]
    fn local_text_picks_language_and_detects_gaps() {
        let text = LocalText::new("Phường", "Ward");
        assert_eq!(text.get(Lang::Vi), "Phường");
        assert_eq!(text.get(Lang::En), "Ward");
        assert!(!text.is_incomplete());
        assert!(LocalText::new("Phường", " ").is_incomplete());
    }
}
