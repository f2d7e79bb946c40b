//! A receipt photographed on a table: find the paper (the largest bright
//! quadrilateral on a darker background), cut it out and straighten its
//! perspective, so that the reader sees the receipt, not the table.

use image::{GrayImage, Luma, imageops};
use imageproc::geometric_transformations::{Border, Interpolation, Projection, warp_into};
use imageproc::region_labelling::{Connectivity, connected_components};

/// The paper's corners in the image: top left, top right, bottom right,
/// bottom left.
pub type Quad = [(f32, f32); 4];

/// The side of the small copy the paper is looked for on.
const SMALL: u32 = 400;
/// The paper is found only when it covers this share of the frame: more
/// is a scan (nothing to cut), less is a speck.
const MIN_SHARE: f64 = 0.12;
const MAX_SHARE: f64 = 0.85;
/// How much darker (grey levels) the background must be than the paper.
const CONTRAST: f64 = 40.0;
/// How much of its quadrilateral the bright region must fill (a torn or
/// folded receipt still does; a bright patch of table does not).
const FILL: f64 = 0.85;

/// Cuts the paper out of a photo and straightens it; `None` when the
/// image shows no paper on a darker background (a scan, a close-up).
pub fn cut_out(gray: &GrayImage) -> Option<GrayImage> {
    let quad = find(gray)?;
    Some(straighten(gray, &quad))
}

/// The paper's corners, in `gray`'s coordinates.
pub fn find(gray: &GrayImage) -> Option<Quad> {
    let (w, h) = gray.dimensions();
    let scale = (f64::from(SMALL) / f64::from(w.max(h))).min(1.0);
    let (sw, sh) = (
        ((f64::from(w) * scale) as u32).max(1),
        ((f64::from(h) * scale) as u32).max(1),
    );
    let small = imageops::resize(gray, sw, sh, imageops::FilterType::Triangle);
    // Smear the print, so that text does not cut the paper into pieces.
    let smooth = imageproc::filter::gaussian_blur_f32(&small, 2.0);
    let level = imageproc::contrast::otsu_level(&smooth);
    let bright =
        imageproc::map::map_pixels(&smooth, |p| Luma([if p.0[0] > level { 255u8 } else { 0 }]));
    // Close the gaps that lines of print leave in the paper.
    let bright =
        imageproc::morphology::close(&bright, imageproc::distance_transform::Norm::LInf, 6);
    let labels = connected_components(&bright, Connectivity::Four, Luma([0u8]));
    let mut sizes = std::collections::HashMap::<u32, usize>::new();
    for p in labels.pixels() {
        if p.0[0] != 0 {
            *sizes.entry(p.0[0]).or_default() += 1;
        }
    }
    let (&label, &size) = sizes
        .iter()
        .max_by_key(|(l, s)| (**s, std::cmp::Reverse(**l)))?;
    let share = size as f64 / f64::from(sw * sh);
    if !(MIN_SHARE..=MAX_SHARE).contains(&share) {
        return None;
    }
    let (mut inside, mut outside) = (Vec::new(), Vec::new());
    let mut points = Vec::with_capacity(size);
    for (x, y, p) in labels.enumerate_pixels() {
        let v = f64::from(small.get_pixel(x, y).0[0]);
        if p.0[0] == label {
            inside.push(v);
            points.push((x as f32 + 0.5, y as f32 + 0.5));
        } else {
            outside.push(v);
        }
    }
    if median(&mut inside) - median(&mut outside) < CONTRAST {
        return None;
    }
    let quad = corners(&points);
    if area(&quad) <= 0.0 || size as f64 / area(&quad) < FILL {
        return None;
    }
    // Paper that runs off the frame on two sides or more is a close-up
    // or a scan's own edge: there is too little table to be worth cutting.
    let margin = 0.02 * sw.max(sh) as f32;
    let (fw, fh) = (sw as f32, sh as f32);
    let touches = [
        quad.iter().any(|p| p.0 < margin),
        quad.iter().any(|p| p.1 < margin),
        quad.iter().any(|p| p.0 > fw - margin),
        quad.iter().any(|p| p.1 > fh - margin),
    ];
    if touches.iter().filter(|t| **t).count() >= 2 {
        return None;
    }
    let up = 1.0 / scale as f32;
    Some(quad.map(|(x, y)| (x * up, y * up)))
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The four corners of a roughly rectangular set of points: the extremes
/// along the diagonals of the frame turned to the region's own axes.
pub fn corners(points: &[(f32, f32)]) -> Quad {
    let n = points.len().max(1) as f64;
    let (mx, my) = points.iter().fold((0.0, 0.0), |(a, b), &(x, y)| {
        (a + f64::from(x) / n, b + f64::from(y) / n)
    });
    let (mut cxx, mut cyy, mut cxy) = (0f64, 0f64, 0f64);
    for &(x, y) in points {
        let (dx, dy) = (f64::from(x) - mx, f64::from(y) - my);
        cxx += dx * dx;
        cyy += dy * dy;
        cxy += dx * dy;
    }
    // The principal direction, folded to within ±45° of the image's axes
    // (the paper's long side may be either way).
    let mut angle = 0.5 * (2.0 * cxy).atan2(cxx - cyy);
    let quarter = std::f64::consts::FRAC_PI_2;
    while angle > quarter / 2.0 {
        angle -= quarter;
    }
    while angle < -quarter / 2.0 {
        angle += quarter;
    }
    let (s, c) = (angle.sin() as f32, angle.cos() as f32);
    let frame = |&(x, y): &(f32, f32)| (x * c + y * s, -x * s + y * c);
    let pick = |f: &dyn Fn(f32, f32) -> f32| {
        *points
            .iter()
            .max_by(|a, b| {
                let (ua, va) = frame(a);
                let (ub, vb) = frame(b);
                f(ua, va).total_cmp(&f(ub, vb))
            })
            .unwrap_or(&(0.0, 0.0))
    };
    [
        pick(&|u, v| -u - v),
        pick(&|u, v| u - v),
        pick(&|u, v| u + v),
        pick(&|u, v| -u + v),
    ]
}

/// The area of a quadrilateral (shoelace).
fn area(q: &Quad) -> f64 {
    let mut a = 0f64;
    for i in 0..4 {
        let (x0, y0) = q[i];
        let (x1, y1) = q[(i + 1) % 4];
        a += f64::from(x0) * f64::from(y1) - f64::from(x1) * f64::from(y0);
    }
    a / 2.0
}

fn dist(a: (f32, f32), b: (f32, f32)) -> f32 {
    ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt()
}

/// The quadrilateral `q` of `gray`, as an upright rectangle of its own
/// mean side lengths.
pub fn straighten(gray: &GrayImage, q: &Quad) -> GrayImage {
    let w = ((dist(q[0], q[1]) + dist(q[3], q[2])) / 2.0)
        .round()
        .max(1.0);
    let h = ((dist(q[0], q[3]) + dist(q[1], q[2])) / 2.0)
        .round()
        .max(1.0);
    let target = [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)];
    let Some(projection) = Projection::from_control_points(*q, target) else {
        return gray.clone();
    };
    let mut out = GrayImage::new(w as u32, h as u32);
    warp_into(
        gray,
        projection,
        Interpolation::Bilinear,
        Border::Constant(Luma([255])),
        &mut out,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::damage;

    fn page() -> GrayImage {
        // A white page with dark "lines" of text.
        let mut g = GrayImage::from_pixel(300, 600, Luma([240]));
        for row in (40..560).step_by(30) {
            for y in row..row + 8 {
                for x in 30..270 {
                    g.put_pixel(x, y, Luma([30]));
                }
            }
        }
        g
    }

    #[test]
    fn finds_the_paper_on_a_table_and_cuts_it_out() {
        let mut rng = damage::Rng::new(3);
        let on_table = damage::on_background(&page(), 6.0, &mut rng);
        let quad = find(&on_table).expect("the paper is found");
        let cut = straighten(&on_table, &quad);
        let (w, h) = cut.dimensions();
        assert!(
            (285..=315).contains(&w) && (585..=615).contains(&h),
            "{w}×{h}"
        );
        // No table is left in the corners: they are paper.
        for (x, y) in [(8, 8), (w - 8, 8), (8, h - 8), (w - 8, h - 8)] {
            assert!(cut.get_pixel(x, y).0[0] > 180, "corner {x},{y}");
        }
    }

    #[test]
    fn a_scan_has_nothing_to_cut() {
        assert!(find(&page()).is_none());
        let flat = GrayImage::from_pixel(200, 200, Luma([128]));
        assert!(find(&flat).is_none());
    }
}
