//! The OCR agent: Tesseract (warm engines through its C API), image
//! preparation, and receipt understanding, behind the agent contract.

pub mod eval;
pub mod extract;
pub mod http;
pub mod parse;
pub mod prep;
pub mod tess;
