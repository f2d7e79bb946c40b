//! The JSON API's handlers, by resource. Each parses the request (with
//! `crate::extract`), calls one use case of `shared::flow` and shapes the
//! answer; errors are `ApiError`.

pub(crate) mod deletion;
pub(crate) mod ocr;
pub(crate) mod receipts;
pub(crate) mod settings;
pub(crate) mod stream;
pub(crate) mod webhooks;
