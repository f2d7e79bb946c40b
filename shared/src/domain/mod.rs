//! Domain types, each with a parse constructor that is the only way in.

pub mod extraction;
pub mod message;

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a value from outside was refused. The message is safe to show a caller.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{field}: {message}")]
pub struct InvalidInput {
    pub field: Cow<'static, str>,
    pub message: String,
}

impl InvalidInput {
    pub fn new(field: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A locale hint: a BCP 47 language tag (`en-US`, `de-DE`, `ms`), which
/// tells the reader how the receipt writes its dates and its money when
/// the receipt itself does not say.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(try_from = "String", into = "String")]
#[cfg_attr(feature = "openapi", schema(value_type = String, example = "de-DE"))]
pub struct Locale(String);

/// The shape of a BCP 47 tag: a language of two or three letters, then
/// subtags of two to eight letters or digits, 35 characters at most.
pub fn is_bcp47(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let language = parts
        .next()
        .is_some_and(|l| (2..=3).contains(&l.len()) && l.chars().all(|c| c.is_ascii_alphabetic()));
    language
        && tag.len() <= 35
        && parts.all(|p| (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

impl Locale {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let tag = raw.trim();
        if is_bcp47(tag) {
            Ok(Self(tag.to_owned()))
        } else {
            Err(InvalidInput::new(
                "locale",
                "must be a BCP 47 language tag such as en-US or de-DE",
            ))
        }
    }

    /// An optional hint as a form or JSON gives it: blank is none.
    pub fn parse_optional(raw: Option<&str>) -> Result<Option<Self>, InvalidInput> {
        raw.filter(|r| !r.trim().is_empty())
            .map(Self::parse)
            .transpose()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Locale {
    type Error = InvalidInput;
    fn try_from(s: String) -> Result<Self, InvalidInput> {
        Self::parse(&s)
    }
}

impl From<Locale> for String {
    fn from(l: Locale) -> String {
        l.0
    }
}

/// The owner of receipts: the `sub` of a verified token.
///
/// It becomes part of S3 keys, so it is kept to a safe alphabet.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(try_from = "String", into = "String")]
#[cfg_attr(feature = "openapi", schema(value_type = String, example = "alice"))]
pub struct UserId(String);

impl UserId {
    pub const MAX_LEN: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        if raw.is_empty() || raw.len() > Self::MAX_LEN {
            return Err(InvalidInput::new(
                "user_id",
                format!("must be 1 to {} characters", Self::MAX_LEN),
            ));
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'))
        {
            return Err(InvalidInput::new(
                "user_id",
                "may hold only letters, digits and - _ . @",
            ));
        }
        if raw.starts_with('.') {
            return Err(InvalidInput::new("user_id", "may not start with a dot"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for UserId {
    type Error = InvalidInput;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<UserId> for String {
    fn from(value: UserId) -> Self {
        value.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A receipt's id: a positive integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
#[cfg_attr(feature = "openapi", schema(value_type = i64, example = 42))]
pub struct ReceiptId(i64);

impl ReceiptId {
    pub fn new(id: i64) -> Option<Self> {
        (id > 0).then_some(Self(id))
    }

    pub fn parse(raw: &str, field: &'static str) -> Result<Self, InvalidInput> {
        raw.trim()
            .parse::<i64>()
            .ok()
            .and_then(Self::new)
            .ok_or_else(|| InvalidInput::new(field, "must be a positive integer"))
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for ReceiptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Where a receipt is in the OCR pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum OcrStatus {
    Pending,
    Queued,
    Processing,
    Completed,
    Failed,
}

impl OcrStatus {
    pub const ALL: [OcrStatus; 5] = [
        OcrStatus::Pending,
        OcrStatus::Queued,
        OcrStatus::Processing,
        OcrStatus::Completed,
        OcrStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OcrStatus::Pending => "pending",
            OcrStatus::Queued => "queued",
            OcrStatus::Processing => "processing",
            OcrStatus::Completed => "completed",
            OcrStatus::Failed => "failed",
        }
    }
}

impl FromStr for OcrStatus {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                InvalidInput::new(
                    "status",
                    "must be one of pending, queued, processing, completed, failed",
                )
            })
    }
}

impl fmt::Display for OcrStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which OCR queue a receipt's job goes to. High-priority work has its own
/// queue and reserved worker concurrency, so a backlog of normal work never
/// holds it up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    High,
    #[default]
    Normal,
}

impl Priority {
    pub const ALL: [Priority; 2] = [Priority::High, Priority::Normal];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::High => "high",
            Priority::Normal => "normal",
        }
    }

    pub fn is_normal(&self) -> bool {
        *self == Priority::Normal
    }

    /// `priority` of a request: absent → normal.
    pub fn parse_param(raw: Option<&str>) -> Result<Self, InvalidInput> {
        raw.map_or(Ok(Priority::Normal), str::parse)
    }
}

impl FromStr for Priority {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| InvalidInput::new("priority", "must be high or normal"))
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The file types a receipt may be, told from the file's first bytes
/// (never from its name or the declared content type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageKind {
    Jpeg,
    Png,
    Webp,
    Tiff,
    /// HEIC/HEIF: what an iPhone saves by default.
    Heic,
    Pdf,
}

/// The major brands of an ISO-BMFF file that hold a HEIF image.
const HEIF_BRANDS: [&[u8; 4]; 8] = [
    b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1",
];

impl ImageKind {
    pub const ALLOWED: &'static str = "JPEG, PNG, WebP, TIFF, HEIC or PDF";
    /// The media types accepted, as a sentence.
    pub const ALLOWED_TYPES: &'static str =
        "image/jpeg, image/png, image/webp, image/tiff, image/heic, image/heif or application/pdf";

    /// Tells the kind from the magic bytes at the start of the file.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        match bytes {
            [0xFF, 0xD8, 0xFF, ..] => Some(Self::Jpeg),
            [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => Some(Self::Png),
            [
                b'R',
                b'I',
                b'F',
                b'F',
                _,
                _,
                _,
                _,
                b'W',
                b'E',
                b'B',
                b'P',
                ..,
            ] => Some(Self::Webp),
            [b'I', b'I', 0x2A, 0x00, ..] | [b'M', b'M', 0x00, 0x2A, ..] => Some(Self::Tiff),
            [b'%', b'P', b'D', b'F', b'-', ..] => Some(Self::Pdf),
            [_, _, _, _, b'f', b't', b'y', b'p', b0, b1, b2, b3, ..]
                if HEIF_BRANDS.contains(&&[*b0, *b1, *b2, *b3]) =>
            {
                Some(Self::Heic)
            }
            _ => None,
        }
    }

    pub fn from_mime(mime: &str) -> Option<Self> {
        let essence = mime
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "image/jpeg" | "image/jpg" => Some(Self::Jpeg),
            "image/png" => Some(Self::Png),
            "image/webp" => Some(Self::Webp),
            "image/tiff" => Some(Self::Tiff),
            "image/heic" | "image/heif" => Some(Self::Heic),
            "application/pdf" => Some(Self::Pdf),
            _ => None,
        }
    }

    pub fn from_extension(name: &str) -> Option<Self> {
        let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
        match ext.as_str() {
            "jpg" | "jpeg" => Some(Self::Jpeg),
            "png" => Some(Self::Png),
            "webp" => Some(Self::Webp),
            "tif" | "tiff" => Some(Self::Tiff),
            "heic" | "heif" => Some(Self::Heic),
            "pdf" => Some(Self::Pdf),
            _ => None,
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Webp => "image/webp",
            Self::Tiff => "image/tiff",
            Self::Heic => "image/heic",
            Self::Pdf => "application/pdf",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
            Self::Webp => "webp",
            Self::Tiff => "tiff",
            Self::Heic => "heic",
            Self::Pdf => "pdf",
        }
    }
}

/// The S3 key of a new upload: `{prefix}{user}/{uuid}.{ext}`. The owner is
/// part of the key so that an S3 event alone tells whose receipt it is.
pub fn upload_key(prefix: &str, user: &UserId, kind: ImageKind) -> String {
    format!(
        "{prefix}{user}/{id}.{ext}",
        id = uuid::Uuid::new_v4(),
        ext = kind.extension()
    )
}

/// The owner encoded in an upload key, if the key is one of ours.
pub fn owner_of_key(prefix: &str, key: &str) -> Option<UserId> {
    let rest = key.strip_prefix(prefix)?;
    let (owner, file) = rest.split_once('/')?;
    if file.is_empty() || file.contains('/') {
        return None;
    }
    UserId::parse(owner).ok()
}

/// A file name as the user gave it, made safe to store and show.
/// Characters that change how a name is shown without being seen:
/// bidirectional controls (U+202E makes `gpj.exe` read `exe.jpg`),
/// zero-width characters and the byte order mark.
fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

pub fn clean_file_name(raw: Option<&str>, kind: ImageKind) -> String {
    let base = raw
        .unwrap_or("")
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control() && !is_invisible_format(*c))
        .take(255)
        .collect::<String>();
    let base = base.trim();
    if base.chars().all(|c| c == '.' || c.is_whitespace()) {
        format!("receipt.{}", kind.extension())
    } else {
        base.to_owned()
    }
}

/// A count a caller gives in a query (`limit`, `page`, `per_page`): an
/// integer of 1 or more.
pub fn parse_positive(field: &'static str, raw: &str) -> Result<u32, InvalidInput> {
    raw.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| InvalidInput::new(field, "must be a positive integer"))
}

/// `limit` of process-all: absent means "up to the maximum"; present, no
/// larger than the maximum.
pub fn process_all_limit(requested: Option<u32>, max: u32) -> Result<u32, InvalidInput> {
    match requested {
        None => Ok(max),
        Some(n) if n > max => Err(InvalidInput::new("limit", format!("must be at most {max}"))),
        Some(n) => Ok(n),
    }
}

/// A page of a listing: 1-based page number and page size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Page {
    pub page: u32,
    pub per_page: u32,
}

impl Page {
    pub const DEFAULT_PER_PAGE: u32 = 20;
    pub const MAX_PER_PAGE: u32 = 100;
    const MAX_PAGE: u32 = 1_000_000;

    /// The page asked for (absent: the first, of the default size).
    pub fn new(page: Option<u32>, per_page: Option<u32>) -> Result<Self, InvalidInput> {
        let page = page.unwrap_or(1);
        if !(1..=Self::MAX_PAGE).contains(&page) {
            return Err(InvalidInput::new("page", "must be a positive integer"));
        }
        let per_page = per_page.unwrap_or(Self::DEFAULT_PER_PAGE);
        if !(1..=Self::MAX_PER_PAGE).contains(&per_page) {
            return Err(InvalidInput::new(
                "per_page",
                format!("must be an integer between 1 and {}", Self::MAX_PER_PAGE),
            ));
        }
        Ok(Self { page, per_page })
    }

    pub fn offset(self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.per_page)
    }
}

/// A purchase date given by the user, `YYYY-MM-DD`.
pub fn parse_purchase_date(raw: &str) -> Result<chrono::NaiveDate, InvalidInput> {
    let raw = raw.trim();
    // Four digits of year, as the format says: chrono alone would take a
    // sign and more digits (`-5000-01-01`), which Postgres cannot store.
    let four_digit_year = raw.len() == 10 && raw.as_bytes()[..4].iter().all(u8::is_ascii_digit);
    chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .filter(|_| four_digit_year)
        .ok_or_else(|| InvalidInput::new("purchase_date", "must be a date as YYYY-MM-DD"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_keep_to_a_key_safe_alphabet() {
        assert!(UserId::parse("alice").is_ok());
        assert!(UserId::parse("a1b2c3d4-0000-4000-8000-000000000000").is_ok());
        assert!(UserId::parse("bob@example.com").is_ok());
        for bad in ["", "a/b", "..", ".hidden", "a b", "é", &"x".repeat(129)] {
            assert!(UserId::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn locales_are_bcp47_tags() {
        for ok in ["en", "en-US", "de-DE", "zh-Hant-TW", "ms-MY", " fr-FR "] {
            assert!(Locale::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(Locale::parse(" fr-FR ").unwrap().as_str(), "fr-FR");
        for bad in [
            "", "e", "english", "en_US", "en-", "de-DE-", "12-US", "en-US!", "en US",
        ] {
            let e = Locale::parse(bad).unwrap_err();
            assert_eq!(e.field, "locale", "{bad:?}");
        }
        assert_eq!(Locale::parse_optional(Some("  ")).unwrap(), None);
        assert!(serde_json::from_str::<Locale>("\"xx_YY\"").is_err());
    }

    #[test]
    fn purchase_dates_are_four_digit_years_that_postgres_stores() {
        assert_eq!(
            parse_purchase_date(" 2026-11-29 ").unwrap(),
            chrono::NaiveDate::from_ymd_opt(2026, 11, 29).unwrap()
        );
        for bad in [
            "-5000-01-01",
            "+12345-01-01",
            "262143-01-01",
            "2026-02-30",
            "2026-1-5",
            "29/11/2026",
            "",
        ] {
            assert!(parse_purchase_date(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn receipt_ids_are_positive_integers() {
        assert_eq!(ReceiptId::parse("17", "id").unwrap().get(), 17);
        for bad in ["0", "-1", "abc", "", "1.5", "99999999999999999999"] {
            assert!(ReceiptId::parse(bad, "id").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sniffs_kinds_from_bytes_not_names() {
        assert_eq!(
            ImageKind::sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0]),
            Some(ImageKind::Jpeg)
        );
        assert_eq!(
            ImageKind::sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            Some(ImageKind::Png)
        );
        assert_eq!(
            ImageKind::sniff(b"RIFF\x10\0\0\0WEBPVP8 "),
            Some(ImageKind::Webp)
        );
        assert_eq!(ImageKind::sniff(b"II*\0\x08\0\0\0"), Some(ImageKind::Tiff));
        assert_eq!(ImageKind::sniff(b"MM\0*\0\0\0\x08"), Some(ImageKind::Tiff));
        assert_eq!(ImageKind::sniff(b"%PDF-1.7\n"), Some(ImageKind::Pdf));
        assert_eq!(
            ImageKind::sniff(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic"),
            Some(ImageKind::Heic)
        );
        assert_eq!(
            ImageKind::sniff(b"\0\0\0\x1cftypmif1\0\0\0\0mif1heic"),
            Some(ImageKind::Heic)
        );
        // An MP4 video is an ISO-BMFF file too, but no image.
        assert_eq!(ImageKind::sniff(b"\0\0\0\x18ftypisom\0\0\0\0"), None);
        assert_eq!(ImageKind::from_mime("image/heif"), Some(ImageKind::Heic));
        assert_eq!(
            ImageKind::from_extension("IMG_0001.HEIC"),
            Some(ImageKind::Heic)
        );
        assert_eq!(ImageKind::sniff(b"hello, I am text"), None);
        assert_eq!(ImageKind::sniff(b"RIFF\x10\0\0\0WAVEfmt "), None);
        assert_eq!(ImageKind::sniff(&[]), None);
        assert_eq!(ImageKind::sniff(&[0xFF, 0xD8]), None);
    }

    #[test]
    fn upload_keys_carry_their_owner() {
        let user = UserId::parse("alice").unwrap();
        let key = upload_key("uploads/", &user, ImageKind::Png);
        assert!(
            key.starts_with("uploads/alice/") && key.ends_with(".png"),
            "{key}"
        );
        assert_eq!(owner_of_key("uploads/", &key), Some(user));
        assert_eq!(owner_of_key("uploads/", "other/alice/x.png"), None);
        assert_eq!(owner_of_key("uploads/", "uploads/x.png"), None);
        assert_eq!(owner_of_key("uploads/", "uploads/a/b/c.png"), None);
        assert_eq!(owner_of_key("uploads/", "uploads/a b/c.png"), None);
    }

    #[test]
    fn limit_is_a_positive_integer_capped_at_the_maximum() {
        let limit = |raw: Option<&str>| {
            raw.map(|r| parse_positive("limit", r))
                .transpose()
                .and_then(|n| process_all_limit(n, 500))
        };
        assert_eq!(limit(None), Ok(500));
        assert_eq!(limit(Some("10")), Ok(10));
        assert_eq!(limit(Some("500")), Ok(500));
        for bad in [
            "-1",
            "0",
            "abc",
            "",
            "1e3",
            "10000000",
            "501",
            "99999999999999999999999",
        ] {
            let err = limit(Some(bad)).unwrap_err();
            assert_eq!(err.field, "limit", "{bad}");
        }
    }

    #[test]
    fn pages_are_bounded() {
        assert_eq!(
            Page::new(None, None).unwrap(),
            Page {
                page: 1,
                per_page: 20
            }
        );
        assert_eq!(Page::new(Some(3), Some(10)).unwrap().offset(), 20);
        assert!(Page::new(Some(0), None).is_err());
        assert!(Page::new(None, Some(101)).is_err());
        assert!(Page::new(Some(1_000_001), None).is_err());
    }

    #[test]
    fn file_names_are_cleaned() {
        assert_eq!(
            clean_file_name(Some("../../etc/passwd.jpg"), ImageKind::Jpeg),
            "passwd.jpg"
        );
        assert_eq!(
            clean_file_name(Some("C:\\tmp\\r.png"), ImageKind::Png),
            "r.png"
        );
        assert_eq!(clean_file_name(None, ImageKind::Pdf), "receipt.pdf");
        assert_eq!(
            clean_file_name(Some("a\u{0}b.jpg"), ImageKind::Jpeg),
            "ab.jpg"
        );
        assert_eq!(
            clean_file_name(Some("invoice\u{202E}gpj.exe"), ImageKind::Jpeg),
            "invoicegpj.exe"
        );
        assert_eq!(
            clean_file_name(
                Some("\u{2067}r\u{200B}e\u{FEFF}.png\u{2069}"),
                ImageKind::Png
            ),
            "re.png"
        );
        for dots in ["..", ".", "...", " . . ", "uploads/..", "\u{202E}.."] {
            assert_eq!(
                clean_file_name(Some(dots), ImageKind::Png),
                "receipt.png",
                "{dots:?}"
            );
        }
        assert_eq!(
            clean_file_name(Some(".hidden.png"), ImageKind::Png),
            ".hidden.png"
        );
    }

    #[test]
    fn statuses_round_trip() {
        for st in OcrStatus::ALL {
            assert_eq!(st.as_str().parse::<OcrStatus>().unwrap(), st);
        }
        assert!("done".parse::<OcrStatus>().is_err());
    }
}
