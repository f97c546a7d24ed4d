//! The catalog of procedures a ward portal offers, loaded from TOML and validated once.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::assurance::Level;
use crate::i18n::{LocalText, MessageId};

/// Default maximum age of the authentication at submission, in minutes.
pub const DEFAULT_MAX_AUTH_AGE_MINUTES: u32 = 30;

/// Longest accepted text field value, in characters, when the catalog does not set one.
const DEFAULT_MAX_TEXT: usize = 500;

/// A national administrative procedure code, such as `1.001193` (birth registration).
///
/// At most 16 ASCII characters from `0-9 A-Z a-z . -`; stored inline, so copying it never
/// allocates.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProcedureCode {
    bytes: [u8; 16],
    len: u8,
}

impl ProcedureCode {
    /// Parses a code.
    ///
    /// # Errors
    ///
    /// [`ConfigProblem::BadFormat`] when empty, longer than 16 or with other characters.
    pub fn parse(code: &str) -> Result<Self, ConfigProblem> {
        let bad = ConfigProblem::BadFormat {
            expected: "1 to 16 characters from 0-9 A-Z a-z . -, such as `1.001193`",
        };
        if code.is_empty() || code.len() > 16 {
            return Err(bad);
        }
        if !code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        {
            return Err(bad);
        }
        let mut bytes = [0u8; 16];
        for (slot, b) in bytes.iter_mut().zip(code.bytes()) {
            *slot = b;
        }
        Ok(Self {
            bytes,
            len: code.len() as u8,
        })
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // INVARIANT: `parse` only stores ASCII, and `len` is at most 16.
        let used = self.bytes.get(..usize::from(self.len)).unwrap_or(&[]);
        std::str::from_utf8(used).unwrap_or("")
    }
}

impl fmt::Display for ProcedureCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ProcedureCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProcedureCode({})", self.as_str())
    }
}

impl Serialize for ProcedureCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for ProcedureCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^[0-9A-Za-z.-]{1,16}$"))
            .description(Some("A national administrative procedure code."))
            .examples(["1.001193"])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for ProcedureCode {}

impl<'de> Deserialize<'de> for ProcedureCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(|problem| {
            serde::de::Error::custom(format!("invalid procedure code `{text}`: {problem}"))
        })
    }
}

/// One procedure of the catalog.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Procedure {
    code: ProcedureCode,
    name_vi: String,
    name_en: String,
    #[serde(default = "default_level")]
    online_level: Level,
    #[serde(default = "default_max_age")]
    max_auth_age_minutes: u32,
    #[serde(default)]
    presence_required: bool,
    #[serde(default)]
    assisted_submission: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fee_vnd: Option<u64>,
    fee_vi: String,
    fee_en: String,
    processing_time_vi: String,
    processing_time_en: String,
    /// Working days from receipt to result; `0` is the same working day. Absent when the
    /// time depends on the case: no expected date is promised then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    processing_working_days: Option<u32>,
    documents: Vec<LocalText>,
    /// The body that decides the dossier, such as the commune People's Committee.
    authority_vi: String,
    authority_en: String,
    /// Where the dossier is received in person.
    #[serde(default)]
    counter: Counter,
    /// Where else it can be filed online (residence: the public-security portal or VNeID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    online_elsewhere: Option<LocalText>,
    /// The laws and decrees the procedure rests on.
    legal_basis_vi: String,
    legal_basis_en: String,
    /// Where the code and the requirements were checked: a decision number or a portal link.
    source: String,
    /// Whether the code was checked against the national procedure database.
    #[serde(default)]
    code_confirmed: bool,
    #[serde(default)]
    fields: Vec<Field>,
    #[serde(default)]
    example: serde_json::Map<String, serde_json::Value>,
}

fn default_level() -> Level {
    Level::Two
}

fn default_max_age() -> u32 {
    DEFAULT_MAX_AUTH_AGE_MINUTES
}

impl Procedure {
    /// A requirement that is not in a catalog: `level` online, with a login at most
    /// `max_auth_age_minutes` old, nothing else (no fields, documents or fee). A route guard
    /// that only needs a level decides with it.
    pub fn requirement(
        code: ProcedureCode,
        name: LocalText,
        level: Level,
        max_auth_age_minutes: u32,
    ) -> Self {
        Self {
            code,
            name_vi: name.vi,
            name_en: name.en,
            online_level: level,
            max_auth_age_minutes,
            presence_required: false,
            assisted_submission: false,
            fee_vnd: None,
            fee_vi: String::new(),
            fee_en: String::new(),
            processing_time_vi: String::new(),
            processing_time_en: String::new(),
            processing_working_days: None,
            documents: Vec::new(),
            authority_vi: String::new(),
            authority_en: String::new(),
            counter: Counter::Centre,
            online_elsewhere: None,
            legal_basis_vi: String::new(),
            legal_basis_en: String::new(),
            source: String::new(),
            code_confirmed: false,
            fields: Vec::new(),
            example: serde_json::Map::new(),
        }
    }

    /// The national procedure code.
    pub fn code(&self) -> ProcedureCode {
        self.code
    }

    /// The name in both languages.
    pub fn name(&self) -> LocalText {
        LocalText::new(&self.name_vi, &self.name_en)
    }

    /// The level an online submission needs.
    pub fn online_level(&self) -> Level {
        self.online_level
    }

    /// The maximum age of the authentication at the moment of submission.
    pub fn max_auth_age(&self) -> chrono::Duration {
        chrono::Duration::minutes(i64::from(self.max_auth_age_minutes))
    }

    /// Whether the resident must come in person whatever their level.
    pub fn presence_required(&self) -> bool {
        self.presence_required
    }

    /// Whether staff at the centre can file it online together with the resident.
    pub fn assisted_submission(&self) -> bool {
        self.assisted_submission
    }

    /// The fee in đồng, when it is a single amount.
    pub fn fee_vnd(&self) -> Option<u64> {
        self.fee_vnd
    }

    /// The fee as text in both languages.
    pub fn fee(&self) -> LocalText {
        LocalText::new(&self.fee_vi, &self.fee_en)
    }

    /// The processing time as text in both languages.
    pub fn processing_time(&self) -> LocalText {
        LocalText::new(&self.processing_time_vi, &self.processing_time_en)
    }

    /// Working days from receipt to result (`0`: the same working day), when the catalog
    /// promises a fixed time.
    pub fn processing_working_days(&self) -> Option<u32> {
        self.processing_working_days
    }

    /// The body that decides the dossier.
    pub fn authority(&self) -> LocalText {
        LocalText::new(&self.authority_vi, &self.authority_en)
    }

    /// Where the dossier is received in person.
    pub fn counter(&self) -> Counter {
        self.counter
    }

    /// Where else the procedure can be filed online, when it is not this portal's alone.
    pub fn online_elsewhere(&self) -> Option<&LocalText> {
        self.online_elsewhere.as_ref()
    }

    /// The legal basis in both languages.
    pub fn legal_basis(&self) -> LocalText {
        LocalText::new(&self.legal_basis_vi, &self.legal_basis_en)
    }

    /// Where the code and requirements were checked (a decision number or a portal link).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the code was checked against the national procedure database.
    pub fn code_confirmed(&self) -> bool {
        self.code_confirmed
    }

    /// The documents to bring (or attach).
    pub fn documents(&self) -> &[LocalText] {
        &self.documents
    }

    /// The fields of the dossier form.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// An example dossier that passes [`validate_dossier`](Self::validate_dossier).
    pub fn example(&self) -> serde_json::Value {
        serde_json::Value::Object(self.example.clone())
    }

    /// Checks a dossier (a JSON object of field name → value) against the form.
    ///
    /// Values are never echoed in errors: they are personal data.
    ///
    /// # Errors
    ///
    /// Every bad field, each with its [`FieldProblem`].
    pub fn validate_dossier(&self, dossier: &serde_json::Value) -> Result<(), Vec<FieldError>> {
        let Some(object) = dossier.as_object() else {
            return Err(vec![FieldError {
                field: String::new(),
                problem: FieldProblem::NotAnObject,
            }]);
        };
        let mut errors = Vec::new();
        for field in &self.fields {
            match object.get(&field.name) {
                None | Some(serde_json::Value::Null) => {
                    if field.required {
                        errors.push(FieldError::new(&field.name, FieldProblem::Missing));
                    }
                }
                Some(value) => {
                    if let Err(problem) = field.check(value) {
                        errors.push(FieldError::new(&field.name, problem));
                    }
                }
            }
        }
        for name in object.keys() {
            if !self.fields.iter().any(|f| &f.name == name) {
                errors.push(FieldError::new(name, FieldProblem::Unknown));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// Where a procedure's dossier is received in person.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Counter {
    /// The commune-level Public Administrative Service Center (Trung tâm Phục vụ hành chính
    /// công) or one of its reception points.
    #[default]
    Centre,
    /// The commune-level police (Công an cấp xã), as for residence registration under the
    /// 2020 Residence Law; a ward may receive these at a police desk inside its centre
    /// (`police.desk_at` in the directory).
    Police,
}

/// One field of a dossier form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Field {
    /// The field name, `snake_case` ASCII.
    pub name: String,
    /// The kind of value.
    #[serde(rename = "type")]
    pub kind: FieldKind,
    /// Whether the field must be filled in.
    #[serde(default = "default_true")]
    pub required: bool,
    /// Label in Vietnamese.
    pub label_vi: String,
    /// Label in English.
    pub label_en: String,
    /// Choices of a `select` field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<FieldOption>,
    /// Longest accepted text, in characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
}

fn default_true() -> bool {
    true
}

impl Field {
    fn check(&self, value: &serde_json::Value) -> Result<(), FieldProblem> {
        let text = || value.as_str().ok_or(FieldProblem::WrongType);
        match self.kind {
            FieldKind::Text => {
                let s = text()?;
                if s.trim().is_empty() && self.required {
                    return Err(FieldProblem::Missing);
                }
                let max = self.max_length.unwrap_or(DEFAULT_MAX_TEXT);
                if s.chars().count() > max {
                    return Err(FieldProblem::TooLong { max });
                }
            }
            FieldKind::Date => {
                NaiveDate::parse_from_str(text()?, "%Y-%m-%d")
                    .map_err(|_| FieldProblem::InvalidDate)?;
            }
            FieldKind::Number => {
                if !value.is_number() {
                    return Err(FieldProblem::WrongType);
                }
            }
            FieldKind::Select => {
                let s = text()?;
                if !self.options.iter().any(|o| o.value == s) {
                    return Err(FieldProblem::NotAnOption);
                }
            }
            FieldKind::CitizenId => {
                let s = text()?;
                if s.len() != 12 || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(FieldProblem::InvalidCitizenId);
                }
            }
            FieldKind::Phone => {
                let s = text()?;
                let digits = s.strip_prefix("+84").map_or(s.len(), |rest| rest.len() + 1);
                if !(10..=11).contains(&digits)
                    || !s
                        .trim_start_matches('+')
                        .bytes()
                        .all(|b| b.is_ascii_digit())
                {
                    return Err(FieldProblem::InvalidPhone);
                }
            }
        }
        Ok(())
    }
}

/// The kind of value a field holds.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum FieldKind {
    /// Free text.
    Text,
    /// A date, `YYYY-MM-DD`.
    Date,
    /// A JSON number.
    Number,
    /// One of the field's options.
    Select,
    /// A 12-digit personal identification number (số định danh cá nhân).
    CitizenId,
    /// A Vietnamese phone number (`0912345678` or `+84912345678`).
    Phone,
}

/// A choice of a `select` field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldOption {
    /// The value sent in the dossier.
    pub value: String,
    /// Label in Vietnamese.
    pub label_vi: String,
    /// Label in English.
    pub label_en: String,
}

/// A dossier field that failed validation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field name (empty when the dossier as a whole is wrong).
    pub field: String,
    /// What is wrong.
    pub problem: FieldProblem,
}

impl FieldError {
    fn new(field: &str, problem: FieldProblem) -> Self {
        Self {
            field: field.to_owned(),
            problem,
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "field `{}`: {}", self.field, self.problem)
    }
}

/// What is wrong with a dossier field.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum FieldProblem {
    /// Required and absent or empty.
    Missing,
    /// Wrong JSON type.
    WrongType,
    /// Longer than allowed.
    TooLong {
        /// The limit, in characters.
        max: usize,
    },
    /// Not a `YYYY-MM-DD` date.
    InvalidDate,
    /// Not one of the options.
    NotAnOption,
    /// Not 12 digits.
    InvalidCitizenId,
    /// Not a phone number.
    InvalidPhone,
    /// Not a field of this form.
    Unknown,
    /// The dossier is not a JSON object.
    NotAnObject,
}

impl FieldProblem {
    /// The resident-facing message.
    pub const fn message(self) -> MessageId {
        match self {
            Self::Missing => MessageId::FieldMissing,
            Self::WrongType => MessageId::FieldWrongType,
            Self::TooLong { .. } => MessageId::FieldTooLong,
            Self::InvalidDate => MessageId::FieldInvalidDate,
            Self::NotAnOption => MessageId::FieldNotAnOption,
            Self::InvalidCitizenId => MessageId::FieldInvalidCitizenId,
            Self::InvalidPhone => MessageId::FieldInvalidPhone,
            Self::Unknown => MessageId::FieldUnknown,
            Self::NotAnObject => MessageId::DossierNotAnObject,
        }
    }
}

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str("is required"),
            Self::WrongType => f.write_str("has the wrong type"),
            Self::TooLong { max } => write!(f, "is longer than {max} characters"),
            Self::InvalidDate => f.write_str("is not a yyyy-mm-dd date"),
            Self::NotAnOption => f.write_str("is not one of the options"),
            Self::InvalidCitizenId => {
                f.write_str("is not a 12-digit personal identification number")
            }
            Self::InvalidPhone => f.write_str("is not a phone number"),
            Self::Unknown => f.write_str("is not a field of this form"),
            Self::NotAnObject => f.write_str("the dossier is not a json object"),
        }
    }
}

/// The validated catalog.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Catalog {
    sample: bool,
    procedures: Vec<Procedure>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    #[serde(default)]
    sample: bool,
    #[serde(default)]
    procedure: Vec<Procedure>,
}

impl Catalog {
    /// Reads and validates the catalog at `path`.
    ///
    /// # Errors
    ///
    /// [`CatalogError`] naming the file, and where known the procedure, field, line and column.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, CatalogError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text, path)
    }

    /// Parses and validates catalog TOML; `path` is only used in errors.
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load).
    pub fn from_toml(text: &str, path: impl AsRef<Path>) -> Result<Self, CatalogError> {
        let path = path.as_ref();
        let file: CatalogFile = toml::from_str(text).map_err(|error| {
            let at = locate(text, &error, "[[procedure]]", "code");
            CatalogError::Syntax {
                path: path.to_owned(),
                line: at.line,
                column: at.column,
                procedure: at.block,
                field: at.key,
                message: error.message().to_owned(),
            }
        })?;
        let invalid =
            |procedure: Option<&ProcedureCode>, field: &str, problem| CatalogError::Invalid {
                path: path.to_owned(),
                procedure: procedure.map(|c| c.as_str().to_owned()),
                field: field.to_owned(),
                problem,
            };
        if file.procedure.is_empty() {
            return Err(invalid(None, "procedure", ConfigProblem::Empty));
        }
        let mut seen = HashSet::new();
        for p in &file.procedure {
            if !seen.insert(p.code) {
                return Err(invalid(Some(&p.code), "code", ConfigProblem::Duplicate));
            }
            validate_procedure(p)
                .map_err(|(field, problem)| invalid(Some(&p.code), &field, problem))?;
        }
        Ok(Self {
            sample: file.sample,
            procedures: file.procedure,
        })
    }

    /// The procedure with `code`, if the catalog has it.
    pub fn procedure(&self, code: &str) -> Option<&Procedure> {
        self.procedures.iter().find(|p| p.code.as_str() == code)
    }

    /// All procedures, in file order.
    pub fn procedures(&self) -> &[Procedure] {
        &self.procedures
    }

    /// Whether the file says it holds sample data.
    pub fn is_sample(&self) -> bool {
        self.sample
    }
}

fn validate_procedure(p: &Procedure) -> Result<(), (String, ConfigProblem)> {
    let nonempty = |field: &str, value: &str| {
        if value.trim().is_empty() {
            Err((field.to_owned(), ConfigProblem::Empty))
        } else {
            Ok(())
        }
    };
    nonempty("name_vi", &p.name_vi)?;
    nonempty("name_en", &p.name_en)?;
    nonempty("fee_vi", &p.fee_vi)?;
    nonempty("fee_en", &p.fee_en)?;
    nonempty("processing_time_vi", &p.processing_time_vi)?;
    nonempty("processing_time_en", &p.processing_time_en)?;
    nonempty("authority_vi", &p.authority_vi)?;
    nonempty("authority_en", &p.authority_en)?;
    nonempty("legal_basis_vi", &p.legal_basis_vi)?;
    nonempty("legal_basis_en", &p.legal_basis_en)?;
    nonempty("source", &p.source)?;
    if p.online_elsewhere
        .as_ref()
        .is_some_and(LocalText::is_incomplete)
    {
        return Err((
            "online_elsewhere".to_owned(),
            ConfigProblem::MissingTranslation,
        ));
    }
    if let Some(days) = p.processing_working_days
        && days > 365
    {
        return Err((
            "processing_working_days".to_owned(),
            ConfigProblem::OutOfRange {
                min: 0,
                max: 365,
                found: i64::from(days),
            },
        ));
    }
    if !(1..=1440).contains(&p.max_auth_age_minutes) {
        return Err((
            "max_auth_age_minutes".to_owned(),
            ConfigProblem::OutOfRange {
                min: 1,
                max: 1440,
                found: i64::from(p.max_auth_age_minutes),
            },
        ));
    }
    if p.documents.is_empty() {
        return Err(("documents".to_owned(), ConfigProblem::Empty));
    }
    for (i, doc) in p.documents.iter().enumerate() {
        if doc.is_incomplete() {
            return Err((format!("documents[{i}]"), ConfigProblem::MissingTranslation));
        }
    }
    let mut names = HashSet::new();
    for (i, field) in p.fields.iter().enumerate() {
        let at = |part: &str| format!("fields[{i}].{part}");
        let valid_name = !field.name.is_empty()
            && field
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid_name {
            return Err((
                at("name"),
                ConfigProblem::BadFormat {
                    expected: "snake_case ascii, such as `child_name`",
                },
            ));
        }
        if !names.insert(field.name.as_str()) {
            return Err((at("name"), ConfigProblem::Duplicate));
        }
        if field.label_vi.trim().is_empty() || field.label_en.trim().is_empty() {
            return Err((at("label"), ConfigProblem::MissingTranslation));
        }
        match (field.kind, field.options.is_empty()) {
            (FieldKind::Select, true) => return Err((at("options"), ConfigProblem::Empty)),
            (FieldKind::Select, false) => {
                for option in &field.options {
                    if option.label_vi.trim().is_empty() || option.label_en.trim().is_empty() {
                        return Err((at("options"), ConfigProblem::MissingTranslation));
                    }
                }
            }
            (_, false) => return Err((at("options"), ConfigProblem::NotAllowed)),
            (_, true) => {}
        }
    }
    if !p.fields.is_empty()
        && let Err(errors) = p.validate_dossier(&p.example())
    {
        return Err((
            "example".to_owned(),
            ConfigProblem::ExampleRejected {
                fields: errors.into_iter().map(|e| e.field).collect(),
            },
        ));
    }
    Ok(())
}

/// What is wrong with a configuration value (catalog or directory).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigProblem {
    /// Empty where a value is needed.
    Empty,
    /// The same value appears twice.
    Duplicate,
    /// A number outside its range.
    OutOfRange {
        /// Smallest accepted.
        min: i64,
        /// Largest accepted.
        max: i64,
        /// What the file says.
        found: i64,
    },
    /// A value in the wrong format.
    BadFormat {
        /// What was expected.
        expected: &'static str,
    },
    /// One language of a bilingual text is empty.
    MissingTranslation,
    /// Options given on a field that is not a `select`.
    NotAllowed,
    /// The example dossier does not pass the form's validation.
    ExampleRejected {
        /// The fields that failed.
        fields: Vec<String>,
    },
    /// A reference to an id that does not exist.
    UnknownReference {
        /// The id referred to.
        id: String,
    },
    /// A coordinate outside its range (latitude ±90, longitude ±180).
    CoordinateOutOfRange {
        /// Smallest accepted, in degrees.
        min: i64,
        /// Largest accepted, in degrees.
        max: i64,
    },
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("must not be empty"),
            Self::Duplicate => f.write_str("appears more than once"),
            Self::OutOfRange { min, max, found } => {
                write!(f, "must be between {min} and {max}, found {found}")
            }
            Self::BadFormat { expected } => write!(f, "expected {expected}"),
            Self::MissingTranslation => f.write_str("needs both vietnamese and english text"),
            Self::NotAllowed => f.write_str("is only allowed on `select` fields"),
            Self::ExampleRejected { fields } => {
                write!(f, "does not pass validation in fields {fields:?}")
            }
            Self::UnknownReference { id } => write!(f, "refers to unknown id `{id}`"),
            Self::CoordinateOutOfRange { min, max } => {
                write!(f, "must be between {min} and {max} degrees")
            }
        }
    }
}

impl std::error::Error for ConfigProblem {}

/// Loading the catalog failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The file could not be read.
    #[error("catalog `{}`: cannot read: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The TOML is malformed or has unknown, missing or mistyped fields.
    #[error(
        "catalog `{}`:{line}:{column}: {}{}{message}",
        path.display(),
        procedure.as_ref().map(|p| format!("procedure `{p}`: ")).unwrap_or_default(),
        field.as_ref().map(|f| format!("field `{f}`: ")).unwrap_or_default(),
    )]
    Syntax {
        /// The file.
        path: PathBuf,
        /// Line, from 1 (0 when unknown).
        line: usize,
        /// Column, from 1 (0 when unknown).
        column: usize,
        /// The procedure code of the enclosing `[[procedure]]` table, when found.
        procedure: Option<String>,
        /// The key on the offending line, when found.
        field: Option<String>,
        /// The parser's message.
        message: String,
    },
    /// A value is invalid.
    #[error(
        "catalog `{}`: {}field `{field}`: {problem}",
        path.display(),
        procedure.as_ref().map(|p| format!("procedure `{p}`: ")).unwrap_or_default(),
    )]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The procedure code, when the problem is inside one.
        procedure: Option<String>,
        /// The field, such as `documents[0]` or `fields[2].options`.
        field: String,
        /// What is wrong.
        problem: ConfigProblem,
    },
}

/// Where a TOML error sits.
pub(crate) struct Location {
    pub(crate) line: usize,
    pub(crate) column: usize,
    /// The identifying key of the enclosing array-of-tables entry.
    pub(crate) block: Option<String>,
    /// The key on the offending line.
    pub(crate) key: Option<String>,
}

/// Finds line, column, enclosing `header` block's `id_key` value and the key at a TOML error.
pub(crate) fn locate(text: &str, error: &toml::de::Error, header: &str, id_key: &str) -> Location {
    let Some(span) = error.span() else {
        return Location {
            line: 0,
            column: 0,
            block: None,
            key: None,
        };
    };
    let start = span.start.min(text.len());
    let before = text.get(..start).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    let line_text = text
        .get(line_start..)
        .and_then(|s| s.lines().next())
        .unwrap_or("");
    let key = line_text
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_owned())
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    // The enclosing block: the last `header` line at or before the error, or the one the error
    // span starts on (missing-field errors point at the table itself).
    let block_start = text
        .get(..(start + header.len()).min(text.len()))
        .and_then(|s| s.rfind(header));
    let block = block_start.and_then(|b| {
        let rest = text.get(b + header.len()..)?;
        let end = rest.find(header).unwrap_or(rest.len());
        rest.get(..end)?.lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == id_key).then(|| v.trim().trim_matches('"').to_owned())
        })
    });
    Location {
        line,
        column,
        block,
        key,
    }
}
