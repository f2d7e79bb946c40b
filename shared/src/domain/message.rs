//! The OCR job message carried by the OCR queue (version 1).

use serde::{Deserialize, Serialize};

use crate::domain::{Priority, ReceiptId, UserId};

/// Body of an OCR queue message:
/// `{"v":1,"receipt_id":…,"user_id":"…","bucket":"…","key":"…"}`, and
/// `"priority":"high"` for high-priority work (absent means normal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OcrMessage {
    pub v: u32,
    pub receipt_id: ReceiptId,
    pub user_id: UserId,
    pub bucket: String,
    pub key: String,
    #[serde(default, skip_serializing_if = "Priority::is_normal")]
    pub priority: Priority,
}

/// A body that is not a valid OCR message: a poison message.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error("message body is not a valid OCR message: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("unsupported OCR message version {0} (this build reads version 1)")]
    UnsupportedVersion(u32),
    #[error("OCR message has an invalid field: {0}")]
    Invalid(String),
}

impl OcrMessage {
    pub const VERSION: u32 = 1;

    pub fn new(receipt_id: ReceiptId, user_id: UserId, bucket: String, key: String) -> Self {
        Self {
            v: Self::VERSION,
            receipt_id,
            user_id,
            bucket,
            key,
            priority: Priority::Normal,
        }
    }

    pub fn with_priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    pub fn parse(body: &str) -> Result<Self, MessageError> {
        let msg: OcrMessage = serde_json::from_str(body)?;
        if msg.v != Self::VERSION {
            return Err(MessageError::UnsupportedVersion(msg.v));
        }
        if ReceiptId::new(msg.receipt_id.get()).is_none() {
            return Err(MessageError::Invalid("receipt_id must be positive".into()));
        }
        if msg.bucket.is_empty() || msg.key.is_empty() {
            return Err(MessageError::Invalid(
                "bucket and key must not be empty".into(),
            ));
        }
        Ok(msg)
    }

    pub fn to_body(&self) -> String {
        serde_json::to_string(self).expect("an OCR message always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_has_the_designed_shape() {
        let msg = OcrMessage::new(
            ReceiptId::new(17).unwrap(),
            UserId::parse("alice").unwrap(),
            "receipts".into(),
            "uploads/alice/x.jpg".into(),
        );
        let body = msg.to_body();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&body).unwrap(),
            serde_json::json!({"v":1,"receipt_id":17,"user_id":"alice","bucket":"receipts","key":"uploads/alice/x.jpg"})
        );
        assert_eq!(OcrMessage::parse(&body).unwrap(), msg);

        let high = msg.with_priority(Priority::High);
        let body = high.to_body();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&body).unwrap()["priority"],
            "high"
        );
        assert_eq!(OcrMessage::parse(&body).unwrap(), high);
    }

    #[test]
    fn poison_bodies_are_refused() {
        for body in [
            "",
            "not json",
            "{}",
            r#"{"v":2,"receipt_id":1,"user_id":"a","bucket":"b","key":"k"}"#,
            r#"{"v":1,"receipt_id":0,"user_id":"a","bucket":"b","key":"k"}"#,
            r#"{"v":1,"receipt_id":1,"user_id":"a/b","bucket":"b","key":"k"}"#,
            r#"{"v":1,"receipt_id":1,"user_id":"a","bucket":"","key":"k"}"#,
            r#"{"v":1,"receipt_id":1,"user_id":"a","bucket":"b","key":"k","priority":"urgent"}"#,
        ] {
            assert!(OcrMessage::parse(body).is_err(), "{body:?}");
        }
    }
}
