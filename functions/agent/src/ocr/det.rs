//! Text detection with a DBNet model (PP-OCRv6 det): the image is resized
//! to multiples of 32 and normalised; the model answers a per-pixel text
//! probability; the post-processing thresholds it, finds the connected
//! regions, scores each by its mean probability, and grows ("unclips") the
//! shrunk text kernels back to the text's full box.

use image::GrayImage;
use image::imageops::{self, FilterType};

/// A text box, possibly rotated: its centre, its length along `angle`
/// (radians, clockwise from the x axis in image coordinates, y down) and
/// its thickness across it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextBox {
    pub cx: f32,
    pub cy: f32,
    pub length: f32,
    pub thickness: f32,
    pub angle: f32,
    pub score: f32,
}

impl TextBox {
    /// An upright box from its corners.
    pub fn upright(x0: f32, y0: f32, x1: f32, y1: f32) -> Self {
        Self {
            cx: (x0 + x1) / 2.0,
            cy: (y0 + y1) / 2.0,
            length: x1 - x0,
            thickness: y1 - y0,
            angle: 0.0,
            score: 1.0,
        }
    }

    /// The unit vectors along and across the box.
    pub fn axes(&self) -> ((f32, f32), (f32, f32)) {
        let (s, c) = self.angle.sin_cos();
        ((c, s), (-s, c))
    }

    /// The box in a frame rotated by `page_angle` (the page's skew), as
    /// `(x0, y0, x1, y1)`: rows of a skewed receipt become horizontal.
    pub fn level(&self, page_angle: f32) -> (f32, f32, f32, f32) {
        let (s, c) = page_angle.sin_cos();
        let x = self.cx * c + self.cy * s;
        let y = -self.cx * s + self.cy * c;
        let rel = self.angle - page_angle;
        let (rs, rc) = rel.sin_cos();
        let hw = (self.length * rc.abs() + self.thickness * rs.abs()) / 2.0;
        let hh = (self.length * rs.abs() + self.thickness * rc.abs()) / 2.0;
        (x - hw, y - hh, x + hw, y + hh)
    }
}

/// DBNet post-processing settings (the PP-OCRv6 det model's own defaults).
#[derive(Debug, Clone, Copy)]
pub struct DbParams {
    /// A pixel is text above this probability.
    pub thresh: f32,
    /// A region is kept when its mean probability reaches this.
    pub box_thresh: f32,
    /// How far the kernel grows: area × ratio / perimeter.
    pub unclip_ratio: f32,
    /// Regions whose shorter side is below this (in map pixels) are noise.
    pub min_size: f32,
}

impl Default for DbParams {
    fn default() -> Self {
        Self {
            thresh: 0.2,
            box_thresh: 0.45,
            unclip_ratio: 1.4,
            min_size: 3.0,
        }
    }
}

/// The model's input: `[1, 3, h, w]` (channels equal for a gray image,
/// each normalised with its ImageNet mean and deviation), and the scale
/// from the input back to `gray`.
pub struct DetInput {
    pub shape: [usize; 4],
    pub data: Vec<f32>,
    pub scale_x: f32,
    pub scale_y: f32,
}

/// Resizes so that the longer side is about `long_side` (enlarging at most
/// 3×), both sides multiples of 32.
pub fn detect_input(gray: &GrayImage, long_side: u32) -> DetInput {
    let (w, h) = gray.dimensions();
    // Small images are enlarged (at most 3×) so that their text reaches
    // the size the detector was trained on; large ones shrunk.
    let s = (long_side as f32 / w.max(h) as f32).min(3.0);
    let nw = (((w as f32 * s) / 32.0).round() as u32).max(1) * 32;
    let nh = (((h as f32 * s) / 32.0).round() as u32).max(1) * 32;
    let resized = imageops::resize(gray, nw, nh, FilterType::Triangle);
    const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
    const STD: [f32; 3] = [0.229, 0.224, 0.225];
    let plane = (nw * nh) as usize;
    let mut data = vec![0f32; 3 * plane];
    for (c, chunk) in data.chunks_exact_mut(plane).enumerate() {
        for (out, p) in chunk.iter_mut().zip(resized.as_raw()) {
            *out = (f32::from(*p) / 255.0 - MEAN[c]) / STD[c];
        }
    }
    DetInput {
        shape: [1, 3, nh as usize, nw as usize],
        data,
        scale_x: w as f32 / nw as f32,
        scale_y: h as f32 / nh as f32,
    }
}

/// One connected region of the thresholded map.
struct Region {
    pixels: Vec<usize>,
    score: f32,
    cx: f32,
    cy: f32,
    angle: f32,
    elongated: bool,
}

/// The regions above the threshold (8-connected), with their mean
/// probability and principal direction (second moments).
fn regions(prob: &[f32], w: usize, h: usize, params: &DbParams) -> Vec<Region> {
    let mut seen = vec![false; w * h];
    let mut stack = Vec::new();
    let mut out = Vec::new();
    for start in 0..w * h {
        if seen[start] || prob[start] <= params.thresh {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let mut pixels = Vec::new();
        let mut sum = 0f32;
        while let Some(i) = stack.pop() {
            pixels.push(i);
            sum += prob[i];
            let (x, y) = (i % w, i / w);
            for ny in y.saturating_sub(1)..=(y + 1).min(h - 1) {
                for nx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                    let j = ny * w + nx;
                    if !seen[j] && prob[j] > params.thresh {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        let n = pixels.len() as f64;
        let (mut sx, mut sy) = (0f64, 0f64);
        for &i in &pixels {
            sx += (i % w) as f64;
            sy += (i / w) as f64;
        }
        let (mx, my) = (sx / n, sy / n);
        let (mut cxx, mut cyy, mut cxy) = (0f64, 0f64, 0f64);
        for &i in &pixels {
            let dx = (i % w) as f64 - mx;
            let dy = (i / w) as f64 - my;
            cxx += dx * dx;
            cyy += dy * dy;
            cxy += dx * dy;
        }
        let angle = 0.5 * (2.0 * cxy).atan2(cxx - cyy);
        // The eigenvalues' ratio: how much longer than thick the region is.
        let tr = cxx + cyy;
        let det = cxx * cyy - cxy * cxy;
        let disc = (tr * tr / 4.0 - det).max(0.0).sqrt();
        let (l1, l2) = (tr / 2.0 + disc, (tr / 2.0 - disc).max(1e-9));
        out.push(Region {
            score: sum / n as f32,
            cx: mx as f32 + 0.5,
            cy: my as f32 + 0.5,
            angle: angle as f32,
            elongated: l1 / l2 > 16.0,
            pixels,
        });
    }
    out
}

/// The page's skew: the median direction of the long regions (text lines
/// of a receipt run parallel), 0 when there are none.
pub fn page_angle(angles: &mut [f32]) -> f32 {
    if angles.is_empty() {
        return 0.0;
    }
    angles.sort_by(f32::total_cmp);
    angles[angles.len() / 2]
}

/// The detector's answer: the text boxes, and the page's skew (radians, in
/// image coordinates) that reading order levels out.
#[derive(Debug, Clone, Default)]
pub struct Detection {
    pub boxes: Vec<TextBox>,
    pub page_angle: f32,
    /// Most long regions run up and down: the page is turned by 90°
    /// (one way or the other).
    pub sideways: bool,
}

impl Detection {
    /// The same boxes on the image turned by 180° (`w × h`): a line's
    /// direction is unchanged, only its place.
    pub fn turned_180(mut self, w: f32, h: f32) -> Self {
        for b in &mut self.boxes {
            b.cx = w - b.cx;
            b.cy = h - b.cy;
        }
        self
    }
}

/// Turns a probability map (`w × h`, row-major) into text boxes, scaled by
/// `scale` (map → image) and kept within `limit`. Short regions (a single
/// character, a logo) take the page's direction; long ones their own.
pub fn boxes_from_map(
    prob: &[f32],
    w: usize,
    h: usize,
    params: &DbParams,
    scale: (f32, f32),
    limit: (f32, f32),
) -> Detection {
    assert_eq!(prob.len(), w * h, "probability map size");
    let regions = regions(prob, w, h, params);
    let long_angles: Vec<f32> = regions
        .iter()
        .filter(|r| r.elongated && r.pixels.len() > 50)
        .map(|r| r.angle)
        .collect();
    let upright = long_angles.iter().filter(|a| a.abs() < 0.35).count();
    let vertical = long_angles.iter().filter(|a| a.abs() > 1.2).count();
    let sideways = vertical >= 3 && vertical > 2 * upright;
    let mut long: Vec<f32> = long_angles.into_iter().filter(|a| a.abs() < 0.35).collect();
    let page = page_angle(&mut long);
    let mut out = Vec::new();
    for r in regions {
        if r.score < params.box_thresh {
            continue;
        }
        let angle = if r.elongated && (r.angle - page).abs() < 0.1 {
            r.angle
        } else {
            page
        };
        let (s, c) = angle.sin_cos();
        let (mut u0, mut u1, mut v0, mut v1) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
        for &i in &r.pixels {
            let dx = (i % w) as f32 + 0.5 - r.cx;
            let dy = (i / w) as f32 + 0.5 - r.cy;
            let u = dx * c + dy * s;
            let v = -dx * s + dy * c;
            u0 = u0.min(u - 0.5);
            u1 = u1.max(u + 0.5);
            v0 = v0.min(v - 0.5);
            v1 = v1.max(v + 0.5);
        }
        let (len, thick) = (u1 - u0, v1 - v0);
        if len.min(thick) < params.min_size {
            continue;
        }
        // Unclip: the model predicts a kernel shrunk by this distance.
        let d = len * thick * params.unclip_ratio / (2.0 * (len + thick));
        let (len, thick) = (len + 2.0 * d, thick + 2.0 * d);
        if len.min(thick) < params.min_size + 2.0 {
            continue;
        }
        let (mu, mv) = ((u0 + u1) / 2.0, (v0 + v1) / 2.0);
        let cx = r.cx + mu * c - mv * s;
        let cy = r.cy + mu * s + mv * c;
        // Into image coordinates (the two scales differ a little).
        let (ux, uy) = (c * scale.0, s * scale.1);
        let (vx, vy) = (-s * scale.0, c * scale.1);
        out.push(TextBox {
            cx: (cx * scale.0).clamp(0.0, limit.0),
            cy: (cy * scale.1).clamp(0.0, limit.1),
            length: len * (ux * ux + uy * uy).sqrt(),
            thickness: thick * (vx * vx + vy * vy).sqrt(),
            angle: uy.atan2(ux),
            score: r.score,
        });
    }
    let (s, c) = page.sin_cos();
    Detection {
        boxes: out,
        page_angle: (s * scale.1).atan2(c * scale.0),
        sideways,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_is_a_multiple_of_32_and_normalised() {
        let img = GrayImage::from_pixel(500, 1000, image::Luma([255]));
        let inp = detect_input(&img, 960);
        assert_eq!(inp.shape, [1, 3, 960, 480]);
        assert!((inp.data[0] - (1.0 - 0.485) / 0.229).abs() < 1e-5);
        let plane = 960 * 480;
        assert!((inp.data[2 * plane] - (1.0 - 0.406) / 0.225).abs() < 1e-5);
        assert!((inp.scale_x - 500.0 / 480.0).abs() < 1e-5);
        // A small image is enlarged for the detector, at most 3×.
        let small = GrayImage::from_pixel(200, 400, image::Luma([255]));
        assert_eq!(detect_input(&small, 960).shape, [1, 3, 960, 480]);
        assert_eq!(detect_input(&small, 4000).shape, [1, 3, 1216, 608]);
    }

    #[test]
    fn regions_become_grown_boxes_and_noise_is_dropped() {
        let (w, h) = (100, 40);
        let mut prob = vec![0f32; w * h];
        // A text kernel 40×6 at (10, 10), strongly detected.
        for y in 10..16 {
            for x in 10..50 {
                prob[y * w + x] = 0.9;
            }
        }
        // A faint region (mean below box_thresh) and a speck.
        for y in 25..31 {
            for x in 60..90 {
                prob[y * w + x] = 0.3;
            }
        }
        prob[35 * w + 5] = 0.9;
        let boxes =
            boxes_from_map(&prob, w, h, &DbParams::default(), (2.0, 2.0), (200.0, 80.0)).boxes;
        assert_eq!(boxes.len(), 1, "{boxes:?}");
        let b = boxes[0];
        let d = 40.0 * 6.0 * 1.4 / (2.0 * 46.0);
        let (x0, y0, x1, y1) = b.level(0.0);
        assert!((x0 - (10.0 - d) * 2.0).abs() < 1e-3, "{b:?}");
        assert!((y1 - (16.0 + d) * 2.0).abs() < 1e-3, "{b:?}");
        assert!((y0 - (10.0 - d) * 2.0).abs() < 1e-3, "{b:?}");
        assert!((x1 - (50.0 + d) * 2.0).abs() < 1e-3, "{b:?}");
        assert!(b.score > 0.89);
    }

    #[test]
    fn a_slanted_line_gets_a_slanted_box() {
        let (w, h) = (200, 60);
        let mut prob = vec![0f32; w * h];
        // A line 150 long, 5 thick, falling 2 pixels every 30 (≈ 3.8°).
        for x in 20..170usize {
            let yc = 20 + (x - 20) * 2 / 30;
            for y in yc..yc + 5 {
                prob[y * w + x] = 0.9;
            }
        }
        let found = boxes_from_map(&prob, w, h, &DbParams::default(), (1.0, 1.0), (200.0, 60.0));
        let boxes = found.boxes;
        assert_eq!(boxes.len(), 1, "{boxes:?}");
        let b = boxes[0];
        assert!((b.angle.to_degrees() - 3.8).abs() < 0.6, "{b:?}");
        // Thin across the slant (the stair-stepped 5 px line, unclipped):
        // an upright box would also hold the line's 10 px drop (≈ 22).
        assert!(b.thickness < 16.0, "{b:?}");
        assert!(b.length > 150.0, "{b:?}");
        assert!(
            (found.page_angle - b.angle).abs() < 1e-6,
            "the line sets the page's skew"
        );
    }
}
