//! Text-line recognition with a CTC model (PP-OCRv6 rec): each line is
//! cropped, scaled to the model's height, normalised to [-1, 1], batched
//! by width (padding wastes the least that way), and decoded greedily.

use image::GrayImage;

use super::det::TextBox;

/// The recognizers' input height.
pub const HEIGHT: u32 = 48;
/// The widest line fed at once (a 100:1 line is split by nobody: it is
/// squeezed, which still reads better than being cut).
pub const MAX_WIDTH: u32 = 2400;

/// One cropped line, scaled to [`HEIGHT`].
pub struct LineImage {
    pub width: u32,
    pub pixels: Vec<u8>,
}

/// Samples a (possibly rotated) box out of `gray`, straight, at the
/// model's height: each output pixel is the mean of `k × k` bilinear
/// samples, `k` growing with the reduction so that small type stays sharp
/// and large type does not alias.
pub fn crop(gray: &GrayImage, b: &TextBox) -> LineImage {
    let thickness = b.thickness.max(1.0);
    let ratio = b.length.max(1.0) / thickness;
    let width = ((HEIGHT as f32 * ratio).ceil() as u32).clamp(HEIGHT / 4, MAX_WIDTH);
    let ((ux, uy), (vx, vy)) = b.axes();
    let step_u = b.length / width as f32;
    let step_v = thickness / HEIGHT as f32;
    let k = (step_u.max(step_v).ceil() as usize).clamp(1, 4);
    let (gw, gh) = (gray.width() as i64, gray.height() as i64);
    let raw = gray.as_raw();
    let at = |x: i64, y: i64| -> f32 {
        if x < 0 || y < 0 || x >= gw || y >= gh {
            255.0
        } else {
            f32::from(raw[(y * gw + x) as usize])
        }
    };
    let sample = |x: f32, y: f32| -> f32 {
        let (x, y) = (x - 0.5, y - 0.5);
        let (fx, fy) = (x.floor(), y.floor());
        let (ax, ay) = (x - fx, y - fy);
        let (x0, y0) = (fx as i64, fy as i64);
        let top = at(x0, y0) * (1.0 - ax) + at(x0 + 1, y0) * ax;
        let bottom = at(x0, y0 + 1) * (1.0 - ax) + at(x0 + 1, y0 + 1) * ax;
        top * (1.0 - ay) + bottom * ay
    };
    let (ox, oy) = (
        b.cx - ux * b.length / 2.0 - vx * thickness / 2.0,
        b.cy - uy * b.length / 2.0 - vy * thickness / 2.0,
    );
    let mut pixels = Vec::with_capacity((width * HEIGHT) as usize);
    let inv = 1.0 / (k * k) as f32;
    for j in 0..HEIGHT {
        for i in 0..width {
            let mut acc = 0f32;
            for sj in 0..k {
                let v = (j as f32 + (sj as f32 + 0.5) / k as f32) * step_v;
                for si in 0..k {
                    let u = (i as f32 + (si as f32 + 0.5) / k as f32) * step_u;
                    acc += sample(ox + ux * u + vx * v, oy + uy * u + vy * v);
                }
            }
            pixels.push((acc * inv).round().clamp(0.0, 255.0) as u8);
        }
    }
    LineImage { width, pixels }
}

/// A batch's input `[n, 3, HEIGHT, width]`: every line left-aligned,
/// the rest zero (the middle grey after normalising), as in training.
pub fn batch_input(lines: &[&LineImage]) -> ([usize; 4], Vec<f32>) {
    let width = lines.iter().map(|l| l.width).max().unwrap_or(HEIGHT) as usize;
    let h = HEIGHT as usize;
    let plane = h * width;
    let mut data = vec![0f32; lines.len() * 3 * plane];
    for (n, line) in lines.iter().enumerate() {
        let lw = line.width as usize;
        let base = n * 3 * plane;
        for y in 0..h {
            for x in 0..lw {
                let v = f32::from(line.pixels[y * lw + x]) / 127.5 - 1.0;
                for c in 0..3 {
                    data[base + c * plane + y * width + x] = v;
                }
            }
        }
    }
    ([lines.len(), 3, h, width], data)
}

/// A decoded line: its text and the mean probability of its characters.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub text: String,
    pub confidence: f32,
}

/// Greedy CTC decoding of one line's `[steps, classes]` probabilities:
/// class 0 is the blank, class k the dictionary's (k-1)th character;
/// repeats collapse unless a blank separates them.
pub fn ctc_decode(probs: &[f32], classes: usize, dictionary: &[String]) -> Decoded {
    let mut text = String::new();
    let mut conf_sum = 0f32;
    let mut kept = 0usize;
    let mut prev = usize::MAX;
    for step in probs.chunks_exact(classes) {
        let (best, p) =
            step.iter().enumerate().fold(
                (0usize, f32::MIN),
                |acc, (i, &v)| if v > acc.1 { (i, v) } else { acc },
            );
        if best != 0
            && best != prev
            && let Some(ch) = dictionary.get(best - 1)
        {
            push_ascii_form(&mut text, ch);
            conf_sum += p;
            kept += 1;
        }
        prev = best;
    }
    let confidence = if kept == 0 {
        0.0
    } else {
        conf_sum / kept as f32
    };
    Decoded {
        text: text.trim().to_owned(),
        confidence,
    }
}

/// Full-width forms (`：`, `（`, `１`, which the recognizers' CJK
/// dictionaries hold) as their ASCII twins, so that the parsing sees one
/// colon, one bracket, one digit.
fn push_ascii_form(out: &mut String, s: &str) {
    for c in s.chars() {
        match c as u32 {
            0xFF01..=0xFF5E => out.push(char::from_u32(c as u32 - 0xFEE0).unwrap_or(c)),
            0x3000 => out.push(' '),
            _ => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctc_collapses_repeats_and_drops_blanks() {
        let dict: Vec<String> = ["A", "B", " "].iter().map(|s| s.to_string()).collect();
        // classes: blank, A, B, space
        let steps = [
            [0.1, 0.8, 0.05, 0.05], // A
            [0.1, 0.8, 0.05, 0.05], // A (repeat, collapsed)
            [0.9, 0.05, 0.0, 0.05], // blank
            [0.1, 0.7, 0.1, 0.1],   // A again
            [0.0, 0.0, 0.1, 0.9],   // space
            [0.0, 0.0, 0.6, 0.4],   // B
        ];
        let flat: Vec<f32> = steps.iter().flatten().copied().collect();
        let d = ctc_decode(&flat, 4, &dict);
        assert_eq!(d.text, "AA B");
        assert!((d.confidence - (0.8 + 0.7 + 0.9 + 0.6) / 4.0).abs() < 1e-5);
    }

    #[test]
    fn full_width_forms_read_as_ascii() {
        let mut s = String::new();
        for c in ["Ｔ", "：", "（", "１", "）", "米"] {
            push_ascii_form(&mut s, c);
        }
        assert_eq!(s, "T:(1)米");
    }

    #[test]
    fn lines_are_scaled_and_padded_into_one_batch() {
        let gray = GrayImage::from_pixel(400, 100, image::Luma([255]));
        let a = crop(&gray, &TextBox::upright(0.0, 0.0, 200.0, 20.0));
        let b = crop(&gray, &TextBox::upright(0.0, 0.0, 40.0, 20.0));
        assert_eq!((a.width, b.width), (480, 96));
        let (shape, data) = batch_input(&[&a, &b]);
        assert_eq!(shape, [2, 3, 48, 480]);
        let plane = 48 * 480;
        assert_eq!(data[0], 1.0, "white is 1");
        assert_eq!(data[3 * plane + 200], 0.0, "padding is 0");
        assert_eq!(data[3 * plane + 95], 1.0);
    }

    #[test]
    fn a_rotated_box_is_read_straight() {
        // A dark bar 100 × 10 drawn at 5°, and a box along it.
        let mut gray = GrayImage::from_pixel(200, 100, image::Luma([255]));
        let a = 5f32.to_radians();
        let (s, c) = a.sin_cos();
        for t in 0..1000 {
            for q in 0..100 {
                let (u, v) = (t as f32 / 10.0 - 50.0, q as f32 / 10.0 - 5.0);
                let (x, y) = (100.0 + u * c - v * s, 50.0 + u * s + v * c);
                gray.put_pixel(x as u32, y as u32, image::Luma([0]));
            }
        }
        let b = TextBox {
            cx: 100.0,
            cy: 50.0,
            length: 100.0,
            thickness: 30.0,
            angle: a,
            score: 1.0,
        };
        let line = crop(&gray, &b);
        assert_eq!(line.width, 160);
        let row = |j: usize| &line.pixels[j * 160..(j + 1) * 160];
        // The middle row is dark from end to end, the top row white.
        assert!(row(24)[8..152].iter().all(|&p| p < 60), "{:?}", row(24));
        assert!(row(2).iter().all(|&p| p > 200), "{:?}", row(2));
    }
}
