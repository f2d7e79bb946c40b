//! Long receipts: the detector sees the whole image at `det_side` pixels
//! on its longer side, which shrinks the print of a receipt five times
//! longer than wide until it cannot be found. A very tall image is
//! therefore detected in overlapping tiles, each at the detector's full
//! size; a line is kept from the tile whose own part (the tile less half
//! of each overlap) holds its centre, so that a line cut by one tile's
//! edge is taken whole from its neighbour.

use image::GrayImage;

use super::det::{self, Detection};
use super::{OcrEngine, OcrError};

/// A page is tiled when the whole would be shrunk below this scale.
const MIN_SCALE: f32 = 0.36;
/// A tile is this many times as tall as the page is wide.
const TILE_ASPECT: f32 = 2.0;
/// Tiles overlap by this share of their height.
const OVERLAP: f32 = 0.12;

/// The tiles of a page `w × h`, as `(top, bottom)` rows; one tile for a
/// page that is not too tall.
pub fn tiles(w: u32, h: u32, det_side: u32) -> Vec<(u32, u32)> {
    let whole_scale = det_side as f32 / w.max(h) as f32;
    let tile = (w as f32 * TILE_ASPECT).max(det_side as f32) as u32;
    if whole_scale >= MIN_SCALE || h <= tile {
        return vec![(0, h)];
    }
    let overlap = (tile as f32 * OVERLAP) as u32;
    let step = tile - overlap;
    let mut out = Vec::new();
    let mut top = 0;
    loop {
        let bottom = (top + tile).min(h);
        out.push((top, bottom));
        if bottom == h {
            break;
        }
        top += step;
        // The last tile keeps its full height, ending at the bottom.
        if top + tile > h {
            top = h.saturating_sub(tile);
        }
    }
    out
}

/// The part of tile `i` whose lines it keeps: from the middle of its
/// overlap with the tile before to the middle of the one after.
fn own_part(tiles: &[(u32, u32)], i: usize) -> (f32, f32) {
    let (top, bottom) = tiles[i];
    let from = if i == 0 {
        f32::MIN
    } else {
        (top + tiles[i - 1].1) as f32 / 2.0
    };
    let to = if i + 1 == tiles.len() {
        f32::MAX
    } else {
        (bottom + tiles[i + 1].0) as f32 / 2.0
    };
    (from, to)
}

impl OcrEngine {
    /// The page's text boxes: whole, or in tiles when it is very tall.
    pub(crate) fn detect_page(&mut self, gray: &GrayImage) -> Result<Detection, OcrError> {
        let parts = tiles(gray.width(), gray.height(), self.config.det_side);
        if parts.len() == 1 || !self.config.tile {
            return self.detect(gray);
        }
        let mut boxes = Vec::new();
        let mut angles = Vec::new();
        let mut sideways = 0;
        for (i, &(top, bottom)) in parts.iter().enumerate() {
            let view = image::imageops::crop_imm(gray, 0, top, gray.width(), bottom - top);
            let found = self.detect(&view.to_image())?;
            let (from, to) = own_part(&parts, i);
            sideways += usize::from(found.sideways);
            angles.push(found.page_angle);
            boxes.extend(found.boxes.into_iter().filter_map(|mut b| {
                b.cy += top as f32;
                (b.cy >= from && b.cy < to).then_some(b)
            }));
        }
        Ok(Detection {
            boxes,
            page_angle: det::page_angle(&mut angles),
            sideways: sideways * 2 > parts.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_very_tall_pages_are_tiled() {
        assert_eq!(tiles(900, 2000, 1280), vec![(0, 2000)]);
        assert_eq!(tiles(1000, 1000, 1280), vec![(0, 1000)]);
        let t = tiles(800, 6000, 1280);
        assert!(t.len() >= 3, "{t:?}");
        assert_eq!(t[0].0, 0);
        assert_eq!(t.last().unwrap().1, 6000);
        for pair in t.windows(2) {
            assert!(pair[1].0 < pair[0].1, "tiles overlap: {t:?}");
        }
        for &(top, bottom) in &t {
            assert_eq!(bottom - top, 1600, "each tile at full height: {t:?}");
        }
    }

    #[test]
    fn each_row_belongs_to_one_tile() {
        let t = tiles(800, 6000, 1280);
        for y in (0..6000).step_by(7) {
            let owners = (0..t.len())
                .filter(|&i| {
                    let (from, to) = own_part(&t, i);
                    (y as f32) >= from && (y as f32) < to
                })
                .count();
            assert_eq!(owners, 1, "row {y}");
        }
    }
}
