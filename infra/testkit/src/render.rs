//! Receipt images the tests draw themselves: lines of text, black on
//! white, with a system font (DejaVu Sans Mono, which the test command
//! installs), at the size of a receipt scanned at 150 dpi.

use std::io::Cursor;
use std::sync::OnceLock;

use ab_glyph::{Font, FontVec, PxScale, ScaleFont, point};
use image::{GrayImage, ImageFormat, Luma};

const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf";

fn font() -> &'static FontVec {
    static F: OnceLock<FontVec> = OnceLock::new();
    F.get_or_init(|| {
        let bytes = std::fs::read(FONT).unwrap_or_else(|e| {
            panic!("{FONT}: {e} (the test command installs fonts-dejavu-core)")
        });
        FontVec::try_from_vec(bytes).expect("a TrueType font")
    })
}

/// Renders lines of text, black on white, like a printed receipt (at the
/// size of a receipt scanned at 150 dpi).
pub fn render(lines: &[&str]) -> GrayImage {
    let scale = PxScale::from(22.0);
    let f = font().as_scaled(scale);
    let line_h = (f.height() * 1.4).ceil() as u32;
    let width = 560;
    let mut img = GrayImage::from_pixel(width, line_h * (lines.len() as u32 + 2), Luma([255]));
    for (i, line) in lines.iter().enumerate() {
        let mut x = 20.0f32;
        let baseline = line_h as f32 * (i as f32 + 1.5);
        for ch in line.chars() {
            let glyph = f.scaled_glyph(ch);
            let advance = f.h_advance(glyph.id);
            let glyph = glyph.id.with_scale_and_position(scale, point(x, baseline));
            if let Some(outline) = font().outline_glyph(glyph) {
                let b = outline.px_bounds();
                outline.draw(|gx, gy, cov| {
                    let (px, py) = (b.min.x as i32 + gx as i32, b.min.y as i32 + gy as i32);
                    if px >= 0 && py >= 0 && (px as u32) < img.width() && (py as u32) < img.height()
                    {
                        let v = (255.0 * (1.0 - cov)).round() as u8;
                        let p = img.get_pixel_mut(px as u32, py as u32);
                        p.0[0] = p.0[0].min(v);
                    }
                });
            }
            x += advance;
        }
    }
    img
}

/// [`render`] as PNG bytes.
pub fn receipt_png(lines: &[&str]) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    render(lines)
        .write_to(&mut out, ImageFormat::Png)
        .expect("PNG encoding of an in-memory image");
    out.into_inner()
}

/// An image as a HEIC file (what an iPhone saves), made by libheif's
/// `heif-enc` (Debian: libheif-examples, which the test command installs).
pub fn heic(img: &GrayImage) -> Vec<u8> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "testkit-heic-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let (src, out) = (dir.join("in.png"), dir.join("out.heic"));
    img.save(&src).expect("the PNG is written");
    let run = std::process::Command::new("heif-enc")
        .args(["-q", "70", "-o"])
        .arg(&out)
        .arg(&src)
        .output()
        .expect("heif-enc (Debian: libheif-examples, installed by the test command)");
    assert!(run.status.success(), "heif-enc: {run:?}");
    let bytes = std::fs::read(&out).expect("heif-enc wrote the file");
    let _ = std::fs::remove_dir_all(&dir);
    bytes
}

/// An upright image stored as a phone held sideways stores it: the pixels
/// turned a quarter to the left, with EXIF Orientation 6 ("turn right to
/// show") in an APP1 segment. Every viewer shows it upright.
pub fn sideways_jpeg(upright: &GrayImage) -> Vec<u8> {
    let stored = image::imageops::rotate270(upright);
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode_image(&stored)
        .expect("JPEG encoding of an in-memory image");
    // A big-endian TIFF header, one IFD entry: 0x0112 SHORT 1 = 6.
    let mut app1 =
        b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x06\0\0\0\0\0\0".to_vec();
    let len = u16::try_from(app1.len() + 2).expect("a short segment");
    app1.splice(0..0, [0xFF, 0xE1, (len >> 8) as u8, len as u8]);
    jpeg.splice(2..2, app1);
    jpeg
}
