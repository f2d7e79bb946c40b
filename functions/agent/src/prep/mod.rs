//! Image preparation before OCR: decode, grayscale, bring the text to a
//! size the models read well, straighten a skewed scan; render a PDF's
//! first page.

use image::{GrayImage, Luma, imageops};
use imageproc::geometric_transformations::{Border, Interpolation, rotate_about_center};
use shared::domain::ImageKind;

pub use convert::{decode_heic, render_pdf};

mod convert;
pub mod light;
pub mod paper;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PrepError {
    #[error("the file is empty")]
    Empty,
    #[error("the file is not a JPEG, PNG, WebP, TIFF, HEIC, GIF or BMP image")]
    NotAnImage,
    #[error("the PDF has no page that could be rendered: {0}")]
    Pdf(String),
    #[error("PDF receipts need pdftoppm (Debian: poppler-utils), which this agent's host lacks")]
    PdfRenderer,
    #[error("the HEIC image could not be decoded: {0}")]
    Heic(String),
    #[error(
        "HEIC receipts need heif-convert (Debian: libheif-examples), which this agent's host lacks"
    )]
    HeicDecoder,
    #[error("the image is corrupt or truncated")]
    Corrupt,
    #[error("the image is too large ({0} megapixels; at most 40)")]
    TooLarge(u64),
}

/// Images are scaled down so that their longer side is at most this
/// (larger scans only cost time). Small ones are not scaled up: the
/// detector scales its own input, and the recognizer samples each line
/// from the image at its own height.
pub const MAX_LONG_SIDE: u32 = 3600;
pub const MAX_TALL_WIDTH: u32 = 1400;
pub const MAX_TALL_SIDE: u32 = 12_000;
const MAX_PIXELS: u64 = 40_000_000;

fn sniff_any(bytes: &[u8]) -> bool {
    ImageKind::sniff(bytes).is_some() || bytes.starts_with(b"GIF8") || bytes.starts_with(b"BM")
}

/// Decodes and prepares an image for OCR.
pub fn prepare(bytes: &[u8]) -> Result<GrayImage, PrepError> {
    if bytes.is_empty() {
        return Err(PrepError::Empty);
    }
    match ImageKind::sniff(bytes) {
        Some(ImageKind::Pdf) => return prepare(&render_pdf(bytes)?),
        Some(ImageKind::Heic) => return prepare(&decode_heic(bytes)?),
        _ => {}
    }
    if !sniff_any(bytes) {
        return Err(PrepError::NotAnImage);
    }
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|_| PrepError::NotAnImage)?;
    let (w, h) = reader.into_dimensions().map_err(|_| PrepError::Corrupt)?;
    let pixels = u64::from(w) * u64::from(h);
    if pixels > MAX_PIXELS {
        return Err(PrepError::TooLarge(pixels / 1_000_000));
    }
    if w == 0 || h == 0 {
        return Err(PrepError::Corrupt);
    }
    let gray = decode_upright(bytes)?;
    let gray = rescale(gray);
    let gray = if TUNING.paper {
        paper::cut_out(&gray).unwrap_or(gray)
    } else {
        gray
    };
    let gray = if TUNING.light {
        light::flatten(&gray).unwrap_or(gray)
    } else {
        gray
    };
    if !TUNING.deskew {
        return Ok(gray);
    }
    Ok(straighten(&gray))
}

/// Decodes an image and turns it as its EXIF Orientation says (all eight
/// values: how a phone held sideways saves a photo), before anything else.
pub fn decode_upright(bytes: &[u8]) -> Result<GrayImage, PrepError> {
    use image::ImageDecoder;
    let mut decoder = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|_| PrepError::NotAnImage)?
        .into_decoder()
        .map_err(|_| PrepError::Corrupt)?;
    // A missing or unreadable tag is no turn at all.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = image::DynamicImage::from_decoder(decoder).map_err(|_| PrepError::Corrupt)?;
    img.apply_orientation(orientation);
    Ok(img.to_luma8())
}

/// Tuning knobs for measuring variants with `agent eval` (BENCHMARKS.md),
/// read once: `AGENT_DESKEW=0` turns straightening off, `AGENT_PAPER=0`
/// cutting the paper out of a photo, `AGENT_LIGHT=0` evening out its light.
struct Tuning {
    deskew: bool,
    paper: bool,
    light: bool,
}

static TUNING: std::sync::LazyLock<Tuning> = std::sync::LazyLock::new(|| Tuning {
    deskew: std::env::var("AGENT_DESKEW").map_or(true, |v| v != "0"),
    paper: std::env::var("AGENT_PAPER").map_or(true, |v| v != "0"),
    light: std::env::var("AGENT_LIGHT").is_ok_and(|v| v == "1"),
});

/// Scales a huge scan down to `MAX_LONG_SIDE`; a long receipt (more than
/// three times as tall as wide) only to `MAX_TALL_WIDTH` across and
/// `MAX_TALL_SIDE` along, so that its print keeps its size (the detector
/// reads it in tiles).
pub fn rescale(gray: GrayImage) -> GrayImage {
    let (w, h) = gray.dimensions();
    let (long, short) = (w.max(h), w.min(h));
    let factor = if long > 3 * short {
        (f64::from(MAX_TALL_WIDTH) / f64::from(short))
            .min(f64::from(MAX_TALL_SIDE) / f64::from(long))
    } else {
        f64::from(MAX_LONG_SIDE) / f64::from(long)
    };
    if factor >= 1.0 {
        return gray;
    }
    let nw = ((f64::from(w) * factor).round() as u32).max(1);
    let nh = ((f64::from(h) * factor).round() as u32).max(1);
    imageops::resize(&gray, nw, nh, imageops::FilterType::Triangle)
}

/// Estimates the skew angle (degrees, within ±5) from the sharpness of the
/// horizontal projection of dark pixels: text rows are sharpest when level.
pub fn estimate_skew(gray: &GrayImage) -> f32 {
    // Work on a small copy: the angle does not need full resolution.
    let (w, h) = gray.dimensions();
    let scale = (600.0 / w.max(h) as f32).min(1.0);
    let small = imageops::resize(
        gray,
        ((w as f32 * scale) as u32).max(1),
        ((h as f32 * scale) as u32).max(1),
        imageops::FilterType::Triangle,
    );
    let threshold = imageproc::contrast::otsu_level(&small);
    let dark: Vec<(f32, f32)> = small
        .enumerate_pixels()
        .filter(|(_, _, p)| p.0[0] < threshold)
        .map(|(x, y, _)| (x as f32, y as f32))
        .collect();
    if dark.len() < 50 {
        return 0.0;
    }
    let (cx, cy) = (small.width() as f32 / 2.0, small.height() as f32 / 2.0);
    let rows = small.height() as usize * 2 + 1;
    let score = |deg: f32| -> f64 {
        let (s, c) = deg.to_radians().sin_cos();
        let mut hist = vec![0u32; rows];
        for &(x, y) in &dark {
            let ry = -(x - cx) * s + (y - cy) * c + cy;
            let idx = (ry + small.height() as f32 / 2.0).round();
            if idx >= 0.0 && (idx as usize) < rows {
                hist[idx as usize] += 1;
            }
        }
        hist.iter().map(|&v| f64::from(v) * f64::from(v)).sum()
    };
    let mut best = (0.0f32, score(0.0));
    let mut deg = -5.0f32;
    while deg <= 5.0 {
        let s = score(deg);
        if s > best.1 * 1.0001 {
            best = (deg, s);
        }
        deg += 0.5;
    }
    best.0
}

/// Rotates a skewed scan level (only when the skew is clear: ≥ 0.5°).
pub fn straighten(gray: &GrayImage) -> GrayImage {
    let angle = estimate_skew(gray);
    if angle.abs() < 0.5 {
        return gray.clone();
    }
    rotate_about_center(
        gray,
        -angle.to_radians(),
        Interpolation::Bilinear,
        Border::Constant(Luma([255u8])),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_not_an_image() {
        assert_eq!(prepare(b""), Err(PrepError::Empty));
        assert_eq!(prepare(b"hello, plain text"), Err(PrepError::NotAnImage));
        assert!(matches!(
            prepare(b"%PDF-1.7\n..."),
            Err(PrepError::Pdf(_) | PrepError::PdfRenderer)
        ));
        // A JPEG header and nothing after it.
        assert_eq!(
            prepare(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]),
            Err(PrepError::Corrupt)
        );
    }

    #[test]
    fn huge_images_are_scaled_down_and_small_ones_left() {
        let small = GrayImage::from_pixel(400, 800, Luma([255]));
        assert_eq!(rescale(small).dimensions(), (400, 800));
        let big = GrayImage::from_pixel(3000, 4000, Luma([255]));
        assert_eq!(rescale(big).dimensions(), (2700, 3600));
        // A long receipt keeps its print's size: only its width is capped.
        let long = GrayImage::from_pixel(600, 7200, Luma([255]));
        assert_eq!(rescale(long).dimensions(), (600, 7200));
        let wide_long = GrayImage::from_pixel(2800, 14_000, Luma([255]));
        assert_eq!(rescale(wide_long).dimensions(), (1400, 7000));
        let fine = GrayImage::from_pixel(1000, 2000, Luma([255]));
        assert_eq!(rescale(fine).dimensions(), (1000, 2000));
    }

    #[test]
    fn finds_the_skew_of_rotated_lines() {
        // Dark horizontal bars (text lines), then rotated by 3°.
        let mut img = GrayImage::from_pixel(600, 600, Luma([255]));
        for row in (100..500).step_by(40) {
            for y in row..row + 8 {
                for x in 100..500 {
                    img.put_pixel(x, y, Luma([0]));
                }
            }
        }
        assert!(estimate_skew(&img).abs() < 0.5);
        let rotated = rotate_about_center(
            &img,
            3f32.to_radians(),
            Interpolation::Bilinear,
            Border::Constant(Luma([255])),
        );
        let est = estimate_skew(&rotated);
        assert!(
            (est + 3.0).abs() <= 0.5 || (est - 3.0).abs() <= 0.5,
            "estimated {est}"
        );
        let level = straighten(&rotated);
        assert!(estimate_skew(&level).abs() < 0.5);
    }
}
