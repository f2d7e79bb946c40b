//! Uneven light on a photographed receipt (a shadow, a lamp to one side):
//! the paper's own brightness is estimated where there is no print and
//! divided out, so that faint print in the dark corner keeps its contrast.
//! Nothing is thresholded: thermal print that is faint stays, only
//! lighter or darker as a whole.

use image::{GrayImage, Luma, imageops};
use imageproc::morphology::{Mask, grayscale_dilate};

/// The paper's brightness is estimated at 1/`STEP` of the resolution.
const STEP: u32 = 8;
/// Light that varies less than this (grey levels, between the brighter
/// and the darker parts of the paper) is left alone.
const UNEVEN: f32 = 30.0;
/// The level the paper is brought to.
const PAPER: f32 = 245.0;

/// The image with its light evened out; `None` when it is even already,
/// or when dark surroundings (not paper) fill part of it.
pub fn flatten(gray: &GrayImage) -> Option<GrayImage> {
    let (w, h) = gray.dimensions();
    if w < 4 * STEP || h < 4 * STEP {
        return None;
    }
    let (sw, sh) = ((w / STEP).max(1), (h / STEP).max(1));
    let small = imageops::resize(gray, sw, sh, imageops::FilterType::Triangle);
    // The brightest nearby: the paper between the letters.
    let paper = grayscale_dilate(&small, &Mask::square(2));
    let paper = imageproc::filter::gaussian_blur_f32(&paper, 2.0);
    let mut levels: Vec<u8> = paper.pixels().map(|p| p.0[0]).collect();
    levels.sort_unstable();
    let at = |q: f32| f32::from(levels[((levels.len() - 1) as f32 * q) as usize]);
    let (dark, bright) = (at(0.05), at(0.95));
    // Dark surroundings are not paper in the shade: leave them be.
    if bright - dark < UNEVEN || dark < 0.45 * bright {
        return None;
    }
    let mut out = GrayImage::new(w, h);
    let (fx, fy) = (sw as f32 / w as f32, sh as f32 / h as f32);
    for (x, y, p) in out.enumerate_pixels_mut() {
        let light = sample(
            &paper,
            (x as f32 + 0.5) * fx - 0.5,
            (y as f32 + 0.5) * fy - 0.5,
        );
        let v = f32::from(gray.get_pixel(x, y).0[0]) * PAPER / light.max(1.0);
        *p = Luma([v.clamp(0.0, 255.0) as u8]);
    }
    Some(out)
}

/// Bilinear sample, clamped to the edges.
fn sample(img: &GrayImage, x: f32, y: f32) -> f32 {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let at = |x: i64, y: i64| {
        f32::from(
            img.get_pixel(x.clamp(0, w - 1) as u32, y.clamp(0, h - 1) as u32)
                .0[0],
        )
    };
    let (x0, y0) = (x.floor(), y.floor());
    let (ax, ay) = (x - x0, y - y0);
    let (x0, y0) = (x0 as i64, y0 as i64);
    let top = at(x0, y0) * (1.0 - ax) + at(x0 + 1, y0) * ax;
    let bottom = at(x0, y0 + 1) * (1.0 - ax) + at(x0 + 1, y0 + 1) * ax;
    top * (1.0 - ay) + bottom * ay
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Paper lit from the left (240 down to 130), with grey print (-60).
    fn shaded() -> GrayImage {
        GrayImage::from_fn(400, 300, |x, y| {
            let light = 240.0 - 110.0 * x as f32 / 400.0;
            let print = (y / 10) % 3 == 0 && (20..380).contains(&x);
            Luma([(if print { light - 60.0 } else { light }) as u8])
        })
    }

    #[test]
    fn evens_out_the_light_and_keeps_the_print() {
        let flat = flatten(&shaded()).expect("uneven light is evened out");
        // The paper is about as bright on both sides now…
        let (left, right) = (flat.get_pixel(10, 15).0[0], flat.get_pixel(390, 15).0[0]);
        assert!(left.abs_diff(right) < 20, "{left} vs {right}");
        // …and the print in the shade is still darker than its paper.
        let print = flat.get_pixel(360, 5).0[0];
        assert!(print + 40 < flat.get_pixel(360, 15).0[0], "print {print}");
    }

    #[test]
    fn even_light_is_left_alone() {
        let even = GrayImage::from_fn(400, 300, |_, y| {
            Luma([if (y / 10) % 3 == 0 { 60 } else { 235 }])
        });
        assert!(flatten(&even).is_none());
    }
}
