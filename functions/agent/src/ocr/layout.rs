//! Reading order: recognised boxes grouped into text lines (boxes that
//! share most of their height), lines top to bottom, boxes left to right.

use super::det::TextBox;

/// A recognised box.
#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    pub b: TextBox,
    pub text: String,
    pub confidence: f32,
}

/// A word with its bounds in the page's level frame.
#[derive(Debug, Clone)]
struct Placed {
    word: Word,
    x0: f32,
    y0: f32,
    x1: f32,
    y1: f32,
}

/// One text line of the receipt.
#[derive(Debug, Clone, Default)]
pub struct Line {
    pub words: Vec<Word>,
}

fn y_range(words: &[Placed]) -> (f32, f32) {
    let n = words.len().max(1) as f32;
    let y0 = words.iter().map(|w| w.y0).sum::<f32>() / n;
    let y1 = words.iter().map(|w| w.y1).sum::<f32>() / n;
    (y0, y1)
}

impl Line {
    /// The line's text, its boxes joined by a space.
    pub fn text(&self) -> String {
        self.words
            .iter()
            .map(|w| w.text.as_str())
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn overlap(a: (f32, f32), b: (f32, f32)) -> f32 {
    (a.1.min(b.1) - a.0.max(b.0)).max(0.0)
}

/// Groups words into lines in the frame where the page's rows are level
/// (`page_angle`, the skew): a word joins the line it shares at least half
/// of the smaller height with (the best such line), or starts a new one.
pub fn group_lines(words: Vec<Word>, page_angle: f32) -> Vec<Line> {
    let mut placed: Vec<Placed> = words
        .into_iter()
        .map(|word| {
            let (x0, y0, x1, y1) = word.b.level(page_angle);
            Placed {
                word,
                x0,
                y0,
                x1,
                y1,
            }
        })
        .collect();
    placed.sort_by(|a, b| (a.y0 + a.y1).total_cmp(&(b.y0 + b.y1)));
    let mut lines: Vec<Vec<Placed>> = Vec::new();
    for w in placed {
        let wr = (w.y0, w.y1);
        let best = lines
            .iter()
            .enumerate()
            .rev()
            .take(4)
            .filter_map(|(i, l)| {
                let lr = y_range(l);
                let shared = overlap(wr, lr);
                let smaller = (wr.1 - wr.0).min(lr.1 - lr.0).max(1.0);
                // A line holds no two boxes at the same place.
                let collides = l.iter().any(|o| {
                    overlap((o.x0, o.x1), (w.x0, w.x1)) > 0.5 * (w.x1 - w.x0).min(o.x1 - o.x0)
                });
                (shared >= 0.5 * smaller && !collides).then_some((i, shared / smaller))
            })
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(i, _)| i);
        match best {
            Some(i) => lines[i].push(w),
            None => lines.push(vec![w]),
        }
    }
    lines.sort_by(|a, b| {
        let (a0, a1) = y_range(a);
        let (b0, b1) = y_range(b);
        (a0 + a1).total_cmp(&(b0 + b1))
    });
    lines
        .into_iter()
        .map(|mut l| {
            l.sort_by(|a, b| a.x0.total_cmp(&b.x0));
            Line {
                words: l.into_iter().map(|p| p.word).collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(x0: f32, y0: f32, x1: f32, y1: f32, text: &str) -> Word {
        Word {
            b: TextBox::upright(x0, y0, x1, y1),
            text: text.into(),
            confidence: 1.0,
        }
    }

    #[test]
    fn boxes_on_one_row_make_one_line_in_reading_order() {
        let lines = group_lines(
            vec![
                word(300.0, 52.0, 360.0, 72.0, "9.00"),
                word(10.0, 10.0, 200.0, 30.0, "SHOP SDN BHD"),
                word(10.0, 50.0, 80.0, 70.0, "TOTAL"),
                // Slightly lower (a skewed scan), still the same line.
                word(100.0, 55.0, 150.0, 75.0, "RM"),
                word(10.0, 90.0, 90.0, 110.0, "CASH"),
            ],
            0.0,
        );
        let texts: Vec<String> = lines.iter().map(Line::text).collect();
        assert_eq!(texts, vec!["SHOP SDN BHD", "TOTAL RM 9.00", "CASH"]);
    }

    #[test]
    fn tight_lines_that_barely_touch_stay_apart() {
        let lines = group_lines(
            vec![
                word(10.0, 10.0, 100.0, 30.0, "ONE"),
                word(10.0, 27.0, 100.0, 47.0, "TWO"),
            ],
            0.0,
        );
        assert_eq!(lines.len(), 2);
    }

    #[test]
    fn a_skewed_row_is_one_line() {
        // At 3°, a word 500 px to the right sits 26 px lower: a whole line
        // height, yet on the same row of the receipt.
        let a = 3f32.to_radians();
        let at = |x: f32, y: f32, text: &str| Word {
            b: TextBox {
                cx: x * a.cos() - y * a.sin(),
                cy: x * a.sin() + y * a.cos(),
                length: 80.0,
                thickness: 20.0,
                angle: a,
                score: 1.0,
            },
            text: text.into(),
            confidence: 1.0,
        };
        let lines = group_lines(
            vec![
                at(60.0, 100.0, "TOTAL"),
                at(560.0, 100.0, "9.00"),
                at(60.0, 130.0, "CASH"),
            ],
            a,
        );
        let texts: Vec<String> = lines.iter().map(Line::text).collect();
        assert_eq!(texts, vec!["TOTAL 9.00", "CASH"]);
    }
}
