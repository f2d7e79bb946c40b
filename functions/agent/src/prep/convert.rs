//! Formats the image decoder does not read are turned into PNG by a
//! maintained command-line tool, run as a child process with a deadline,
//! so that a hostile file costs a bounded time and cannot take the agent
//! down with it: a PDF's first page by `pdftoppm` (poppler), a HEIC/HEIF
//! photo by `heif-convert` (libheif, which also applies the photo's own
//! rotation and mirroring).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::PrepError;

/// How long a conversion may take before the file is refused.
const TIMEOUT: Duration = Duration::from_secs(20);

/// Why a conversion failed.
enum Failed {
    /// The tool is not installed.
    Missing,
    /// The tool refused the file, or took too long: the reason.
    File(String),
}

/// Renders a PDF's first page to a grayscale PNG at 200 dpi, the longer
/// side at most 3000 pixels.
pub fn render_pdf(bytes: &[u8]) -> Result<Vec<u8>, PrepError> {
    convert(bytes, "in.pdf", "page.png", |input, out| {
        let root = out.with_extension("");
        let mut c = Command::new("pdftoppm");
        c.args(["-f", "1", "-l", "1", "-r", "200", "-scale-to", "3000"])
            .args(["-gray", "-png", "-singlefile"])
            .arg(input)
            .arg(root);
        c
    })
    .map_err(|f| match f {
        Failed::Missing => PrepError::PdfRenderer,
        Failed::File(reason) => PrepError::Pdf(reason),
    })
}

/// Decodes a HEIC/HEIF photo (its primary image) to PNG.
pub fn decode_heic(bytes: &[u8]) -> Result<Vec<u8>, PrepError> {
    convert(bytes, "in.heic", "out.png", |input, out| {
        let mut c = Command::new("heif-convert");
        c.arg("--quiet").arg(input).arg(out);
        c
    })
    .map_err(|f| match f {
        Failed::Missing => PrepError::HeicDecoder,
        Failed::File(reason) => PrepError::Heic(reason),
    })
}

/// Writes `bytes` to a private folder as `input`, runs the command made
/// by `command(input, output)` there, and answers the `output` it wrote.
fn convert(
    bytes: &[u8],
    input: &str,
    output: &str,
    command: impl FnOnce(&Path, &Path) -> Command,
) -> Result<Vec<u8>, Failed> {
    let dir = Scratch::new().map_err(|e| Failed::File(e.to_string()))?;
    let (input, output) = (dir.0.join(input), dir.0.join(output));
    std::fs::File::create(&input)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|e| Failed::File(e.to_string()))?;
    let mut cmd = command(&input, &output);
    let mut child = match cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Failed::Missing),
        Err(e) => return Err(Failed::File(e.to_string())),
    };
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Failed::File("converting it took too long".into()));
            }
        }
    };
    if !status.success() {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        let reason = err
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("the converter failed")
            .to_owned();
        return Err(Failed::File(reason));
    }
    std::fs::read(&output).map_err(|_| Failed::File("nothing was decoded".into()))
}

/// A private temporary folder, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> std::io::Result<Self> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "agent-convert-{}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir_all(&dir)?;
        Ok(Self(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
