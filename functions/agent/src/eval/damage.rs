//! Phone-photo versions of a scanned receipt, made deterministically from
//! a seed, so that `agent eval --variants` (and the tests) measure on any
//! dataset the damage a phone does: a sideways photo with only its EXIF
//! tag to say so, upside down, skewed on a dark background, small on a
//! noisy table in uneven light, and low resolution.

use image::imageops::{self, FilterType};
use image::metadata::Orientation;
use image::{DynamicImage, GrayImage, Luma};
use imageproc::geometric_transformations::{
    Border, Interpolation, Projection, rotate_about_center, warp_into,
};

/// One kind of damage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// The file itself.
    Scan,
    /// Stored rotated or mirrored, with the EXIF Orientation (1–8, chosen
    /// by the seed) that shows it upright.
    Exif,
    /// Turned by 180°, no EXIF.
    UpsideDown,
    /// Turned by 3–8° either way, on a dark background.
    Skewed,
    /// Smaller on a dark, noisy table: slight rotation and perspective,
    /// uneven light, slight blur, JPEG quality 60.
    Photo,
    /// Half the resolution, JPEG quality 45.
    LowRes,
}

impl Variant {
    pub const ALL: [Variant; 6] = [
        Variant::Scan,
        Variant::Exif,
        Variant::UpsideDown,
        Variant::Skewed,
        Variant::Photo,
        Variant::LowRes,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Variant::Scan => "scan",
            Variant::Exif => "exif",
            Variant::UpsideDown => "upside-down",
            Variant::Skewed => "skewed",
            Variant::Photo => "photo",
            Variant::LowRes => "low-res",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.name() == s)
    }
}

/// A small deterministic generator (splitmix64).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32)
    }

    pub fn sign(&mut self) -> f32 {
        if self.next_u64() & 1 == 0 { 1.0 } else { -1.0 }
    }
}

/// A seed from a receipt's id, so that each receipt gets its own damage.
pub fn seed_of(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Makes `variant` of an upright receipt image (any format the agent
/// reads); answers a JPEG (the scan itself for [`Variant::Scan`]).
pub fn make(variant: Variant, original: &[u8], seed: u64) -> anyhow::Result<Vec<u8>> {
    if variant == Variant::Scan {
        return Ok(original.to_vec());
    }
    let gray = image::load_from_memory(original)?.to_luma8();
    let mut rng = Rng::new(seed);
    Ok(match variant {
        Variant::Scan => unreachable!(),
        Variant::Exif => {
            let value = (seed % 8) as u8 + 1;
            exif_jpeg(&gray, value, 90)?
        }
        Variant::UpsideDown => jpeg(&imageops::rotate180(&gray), 90)?,
        Variant::Skewed => {
            let degrees = rng.range(3.0, 8.0) * rng.sign();
            jpeg(&on_background(&gray, degrees, &mut rng), 90)?
        }
        Variant::Photo => jpeg(&photo(&gray, &mut rng), 60)?,
        Variant::LowRes => {
            let (w, h) = gray.dimensions();
            let half =
                imageops::resize(&gray, (w / 2).max(1), (h / 2).max(1), FilterType::Triangle);
            jpeg(&half, 45)?
        }
    })
}

/// Encodes a gray JPEG.
pub fn jpeg(gray: &GrayImage, quality: u8) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality).encode_image(gray)?;
    Ok(out)
}

/// Stores `upright` as a camera would with EXIF Orientation `value`: the
/// pixels as the sensor saw them, and the tag that turns them upright.
pub fn exif_jpeg(upright: &GrayImage, value: u8, quality: u8) -> anyhow::Result<Vec<u8>> {
    let orientation = Orientation::from_exif(value)
        .ok_or_else(|| anyhow::anyhow!("EXIF orientation {value} is not 1–8"))?;
    // 6 and 8 undo each other; every other orientation undoes itself.
    let undo = match orientation {
        Orientation::Rotate90 => Orientation::Rotate270,
        Orientation::Rotate270 => Orientation::Rotate90,
        o => o,
    };
    let mut stored = DynamicImage::ImageLuma8(upright.clone());
    stored.apply_orientation(undo);
    Ok(with_orientation(&jpeg(&stored.to_luma8(), quality)?, value))
}

/// Adds an EXIF segment holding only the Orientation tag to a JPEG, after
/// its JFIF segment.
pub fn with_orientation(jpeg: &[u8], value: u8) -> Vec<u8> {
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
    tiff.extend_from_slice(&[0, 1]); // one entry
    tiff.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, value, 0, 0]);
    tiff.extend_from_slice(&[0, 0, 0, 0]); // no next IFD
    let mut segment = vec![0xFF, 0xE1];
    let len = (2 + 6 + tiff.len()) as u16;
    segment.extend_from_slice(&len.to_be_bytes());
    segment.extend_from_slice(b"Exif\0\0");
    segment.extend_from_slice(&tiff);
    let mut at = 2;
    if jpeg.len() > 6 && jpeg[2..4] == [0xFF, 0xE0] {
        at = 4 + usize::from(u16::from_be_bytes([jpeg[4], jpeg[5]]));
    }
    let mut out = jpeg[..at].to_vec();
    out.extend_from_slice(&segment);
    out.extend_from_slice(&jpeg[at..]);
    out
}

/// A dark, slightly noisy surface.
fn table(w: u32, h: u32, rng: &mut Rng) -> GrayImage {
    let base = rng.range(25.0, 70.0);
    let mut n = Rng::new(rng.next_u64());
    GrayImage::from_fn(w, h, |_, _| {
        Luma([(base + n.range(-12.0, 12.0)).clamp(0.0, 255.0) as u8])
    })
}

/// The receipt turned by `degrees` on a dark background, none of it cut.
pub fn on_background(gray: &GrayImage, degrees: f32, rng: &mut Rng) -> GrayImage {
    let (w, h) = (gray.width() as f32, gray.height() as f32);
    let (s, c) = degrees.to_radians().sin_cos();
    let margin = 0.06 * w.max(h);
    let cw = (w * c.abs() + h * s.abs() + 2.0 * margin) as u32;
    let ch = (w * s.abs() + h * c.abs() + 2.0 * margin) as u32;
    let src = [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)];
    let (ox, oy) = (cw as f32 / 2.0, ch as f32 / 2.0);
    let dst = src.map(|(x, y)| {
        let (dx, dy) = (x - w / 2.0, y - h / 2.0);
        (ox + dx * c - dy * s, oy + dx * s + dy * c)
    });
    paste(gray, src, dst, table(cw, ch, rng))
}

/// Warps `paper` onto `background` so that its corners `src` land on
/// `dst`, blending at the edges.
fn paste(
    paper: &GrayImage,
    src: [(f32, f32); 4],
    dst: [(f32, f32); 4],
    background: GrayImage,
) -> GrayImage {
    let Some(projection) = Projection::from_control_points(src, dst) else {
        return background;
    };
    let (cw, ch) = background.dimensions();
    let mut warped = GrayImage::new(cw, ch);
    warp_into(
        paper,
        projection,
        Interpolation::Bilinear,
        Border::Constant(Luma([0])),
        &mut warped,
    );
    let mask_src = GrayImage::from_pixel(paper.width(), paper.height(), Luma([255]));
    let mut mask = GrayImage::new(cw, ch);
    warp_into(
        &mask_src,
        projection,
        Interpolation::Bilinear,
        Border::Constant(Luma([0])),
        &mut mask,
    );
    let mut out = background;
    for (x, y, p) in out.enumerate_pixels_mut() {
        let a = f32::from(mask.get_pixel(x, y).0[0]) / 255.0;
        let v = f32::from(warped.get_pixel(x, y).0[0]);
        p.0[0] = (v * a + f32::from(p.0[0]) * (1.0 - a)).round() as u8;
    }
    out
}

/// The receipt photographed on a table: smaller in the frame, a slight
/// turn and perspective, light falling off across it, a slight blur.
pub fn photo(gray: &GrayImage, rng: &mut Rng) -> GrayImage {
    let (w, h) = (gray.width() as f32, gray.height() as f32);
    // The paper takes about 70–80 % of the frame's height.
    let fill = rng.range(0.70, 0.80);
    let ch = h / fill;
    let cw = (w / fill).max(w * 1.25);
    let (s, c) = (rng.range(1.0, 4.0) * rng.sign()).to_radians().sin_cos();
    let (ox, oy) = (cw / 2.0, ch / 2.0);
    let src = [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)];
    let jitter = 0.03 * w.min(h);
    let mut dst = src.map(|(x, y)| {
        let (dx, dy) = (x - w / 2.0, y - h / 2.0);
        (ox + dx * c - dy * s, oy + dx * s + dy * c)
    });
    // Perspective: the far edge a little narrower than the near one.
    let narrow = rng.range(0.02, 0.06) * w;
    dst[0].0 += narrow;
    dst[1].0 -= narrow;
    for p in &mut dst {
        p.0 += rng.range(-jitter, jitter);
        p.1 += rng.range(-jitter, jitter);
    }
    let background = table(cw as u32, ch as u32, rng);
    let mut out = paste(gray, src, dst, background);
    // Light falling off from one side: 100 % down to 55–70 %.
    let low = rng.range(0.55, 0.70);
    let (dir_s, dir_c) = rng.range(0.0, std::f32::consts::TAU).sin_cos();
    let (fw, fh) = (out.width() as f32, out.height() as f32);
    for (x, y, p) in out.enumerate_pixels_mut() {
        let t = ((x as f32 / fw - 0.5) * dir_c + (y as f32 / fh - 0.5) * dir_s) / 1.42 + 0.5;
        p.0[0] = (f32::from(p.0[0]) * (1.0 - (1.0 - low) * t)).round() as u8;
    }
    imageproc::filter::gaussian_blur_f32(&out, 0.9)
}

/// Turns the receipt by `degrees` within its own frame, white corners
/// (the skew of a careless scan).
pub fn turned(gray: &GrayImage, degrees: f32) -> GrayImage {
    rotate_about_center(
        gray,
        degrees.to_radians(),
        Interpolation::Bilinear,
        Border::Constant(Luma([255])),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marked() -> GrayImage {
        // White, with a black block in the top-left corner.
        let mut g = GrayImage::from_pixel(60, 100, Luma([255]));
        for y in 0..20 {
            for x in 0..15 {
                g.put_pixel(x, y, Luma([0]));
            }
        }
        g
    }

    #[test]
    fn every_exif_orientation_decodes_upright() {
        let upright = marked();
        for value in 1..=8 {
            let bytes = exif_jpeg(&upright, value, 95).unwrap();
            let mut decoder = image::ImageReader::new(std::io::Cursor::new(&bytes))
                .with_guessed_format()
                .unwrap()
                .into_decoder()
                .unwrap();
            use image::ImageDecoder;
            let o = decoder.orientation().unwrap();
            assert_eq!(o, Orientation::from_exif(value).unwrap(), "tag {value}");
            let mut img = DynamicImage::from_decoder(decoder).unwrap();
            img.apply_orientation(o);
            let g = img.to_luma8();
            assert_eq!(g.dimensions(), (60, 100), "orientation {value}");
            assert!(g.get_pixel(5, 5).0[0] < 60, "orientation {value}: corner");
            assert!(g.get_pixel(55, 95).0[0] > 200, "orientation {value}");
        }
    }

    #[test]
    fn the_same_seed_makes_the_same_damage() {
        let png = {
            let mut out = Vec::new();
            marked()
                .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
                .unwrap();
            out
        };
        for v in Variant::ALL {
            let a = make(v, &png, 7).unwrap();
            assert_eq!(a, make(v, &png, 7).unwrap(), "{}", v.name());
            assert_eq!(Variant::parse(v.name()), Some(v));
        }
        assert_ne!(
            make(Variant::Photo, &png, 7).unwrap(),
            make(Variant::Photo, &png, 8).unwrap()
        );
    }
}
