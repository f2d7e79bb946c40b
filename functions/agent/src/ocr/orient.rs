//! The page's orientation, found without EXIF: a photo of a receipt
//! turned by 90° shows its text lines running up and down (the
//! detector's own regions say so); one upside down reads worse than its
//! 180° turn (the recognizer's confidence on a sample of lines, both
//! ways, says so). A turned page is turned upright before it is read.

use image::{GrayImage, imageops};

use super::det::{Detection, TextBox};
use super::rec::{self, Decoded, LineImage};
use super::{OcrEngine, OcrError};

/// Lines read both ways to tell upright from upside down.
const SAMPLE: usize = 6;
/// How much better (mean confidence) the turned lines must read.
const MARGIN: f32 = 0.05;
/// A sample read this well as it is needs no second look (upside-down
/// lines of sroie-dev read at most 0.68, upright ones mostly above 0.9).
const CLEARLY_UPRIGHT: f32 = 0.85;
/// The longest part of a line read for it (in line heights).
const HEAD: f32 = 8.0;

impl OcrEngine {
    /// The page upright (`None`: as it was) and its text boxes.
    pub(crate) fn upright(
        &mut self,
        gray: &GrayImage,
    ) -> Result<(Option<GrayImage>, Detection), OcrError> {
        let mut turned = None;
        let mut det = self.detect_page(gray)?;
        if !self.config.orient {
            return Ok((None, det));
        }
        if det.sideways {
            // Clockwise; if that was the wrong way, the text is now upside
            // down, which the next step finds.
            let img = imageops::rotate90(gray);
            det = self.detect_page(&img)?;
            turned = Some(img);
        }
        let current = turned.as_ref().unwrap_or(gray);
        if self.upside_down(current, &det)? {
            let img = imageops::rotate180(current);
            det = det.turned_180(img.width() as f32, img.height() as f32);
            turned = Some(img);
        }
        Ok((turned, det))
    }

    /// Whether the sample of lines reads clearly better turned by 180°.
    fn upside_down(&mut self, gray: &GrayImage, det: &Detection) -> Result<bool, OcrError> {
        let crops = sample(gray, det);
        if crops.len() < 2 {
            return Ok(false);
        }
        let as_is = self.rec.read(&crops, 1)?;
        if score(&as_is) >= CLEARLY_UPRIGHT {
            return Ok(false);
        }
        let flipped: Vec<LineImage> = crops.into_iter().map(turn_180).collect();
        let turned = self.rec.read(&flipped, 1)?;
        Ok(score(&turned) > score(&as_is) + MARGIN)
    }
}

/// The longest lines (words alone say little), cropped as the recognizer
/// reads them.
fn sample(gray: &GrayImage, det: &Detection) -> Vec<LineImage> {
    let mut long: Vec<_> = det
        .boxes
        .iter()
        .filter(|b| b.length >= 4.0 * b.thickness)
        .collect();
    long.sort_by(|a, b| b.length.total_cmp(&a.length));
    long.into_iter()
        .take(SAMPLE)
        .map(|b| rec::crop(gray, &head(b)))
        .collect()
}

/// The first part of a long line: enough letters to tell which way up
/// they are, at a fraction of the line's cost.
fn head(b: &TextBox) -> TextBox {
    let keep = b.length.min(HEAD * b.thickness);
    let ((ux, uy), _) = b.axes();
    let shift = (b.length - keep) / 2.0;
    TextBox {
        cx: b.cx - ux * shift,
        cy: b.cy - uy * shift,
        length: keep,
        ..*b
    }
}

/// A cropped line turned by 180°: its pixels in reverse order.
pub fn turn_180(mut line: LineImage) -> LineImage {
    line.pixels.reverse();
    line
}

/// The mean confidence of the lines that read as something.
fn score(lines: &[Decoded]) -> f32 {
    let read: Vec<f32> = lines
        .iter()
        .filter(|d| !d.text.trim().is_empty())
        .map(|d| d.confidence)
        .collect();
    if read.is_empty() {
        0.0
    } else {
        read.iter().sum::<f32>() / read.len() as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_turned_twice_is_itself() {
        let line = LineImage {
            width: 3,
            pixels: (0..3 * rec::HEIGHT).map(|i| (i % 251) as u8).collect(),
        };
        let once = turn_180(LineImage {
            width: 3,
            pixels: line.pixels.clone(),
        });
        assert_eq!(once.pixels[0], line.pixels[line.pixels.len() - 1]);
        assert_eq!(turn_180(once).pixels, line.pixels);
    }
}
