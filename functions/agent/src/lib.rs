//! The OCR agent: PP-OCRv6 models on ONNX Runtime (warm engines), image
//! preparation, and receipt understanding, behind the agent contract.

pub mod eval;
pub mod extract;
pub mod http;
pub mod ocr;
pub mod parse;
pub mod pool;
pub mod prep;
#[cfg(test)]
mod test_support;
