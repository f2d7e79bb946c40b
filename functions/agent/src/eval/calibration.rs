//! Is a confidence a probability? Answers grouped by the confidence they
//! came with; in each band, how often they were right. The expected
//! calibration error is the bands' gap between the two, weighted by size.

/// Band edges: [0, 0.5), [0.5, 0.7), [0.7, 0.8), [0.8, 0.9), [0.9, 1].
pub const EDGES: [f64; 4] = [0.5, 0.7, 0.8, 0.9];

#[derive(Debug, Clone, Default)]
pub struct Calibration {
    /// (confidence, right) for every scored answer.
    pub answers: Vec<(f64, bool)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    pub low: f64,
    pub high: f64,
    pub count: usize,
    pub mean_confidence: f64,
    pub accuracy: f64,
}

impl Calibration {
    pub fn add(&mut self, confidence: f64, right: bool) {
        self.answers.push((confidence.clamp(0.0, 1.0), right));
    }

    fn band_of(c: f64) -> usize {
        EDGES.iter().filter(|e| c >= **e).count()
    }

    pub fn bands(&self) -> Vec<Band> {
        (0..=EDGES.len())
            .map(|b| {
                let low = if b == 0 { 0.0 } else { EDGES[b - 1] };
                let high = EDGES.get(b).copied().unwrap_or(1.0);
                let within: Vec<&(f64, bool)> = self
                    .answers
                    .iter()
                    .filter(|(c, _)| Self::band_of(*c) == b)
                    .collect();
                let n = within.len().max(1) as f64;
                Band {
                    low,
                    high,
                    count: within.len(),
                    mean_confidence: within.iter().map(|(c, _)| c).sum::<f64>() / n,
                    accuracy: within.iter().filter(|(_, r)| *r).count() as f64 / n,
                }
            })
            .collect()
    }

    /// The expected calibration error over the bands.
    pub fn ece(&self) -> f64 {
        let total = self.answers.len().max(1) as f64;
        self.bands()
            .iter()
            .map(|b| b.count as f64 / total * (b.accuracy - b.mean_confidence).abs())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_and_the_expected_calibration_error() {
        let mut c = Calibration::default();
        for right in [true, true, true, false] {
            c.add(0.95, right);
        }
        for right in [true, false] {
            c.add(0.4, right);
        }
        let bands = c.bands();
        assert_eq!(bands[4].count, 4);
        assert!((bands[4].accuracy - 0.75).abs() < 1e-9);
        assert!((bands[0].accuracy - 0.5).abs() < 1e-9);
        // 4/6 * |0.75 - 0.95| + 2/6 * |0.5 - 0.4|
        let want = 4.0 / 6.0 * 0.2 + 2.0 / 6.0 * 0.1;
        assert!((c.ece() - want).abs() < 1e-9, "{}", c.ece());
        let mut perfect = Calibration::default();
        perfect.add(1.0, true);
        perfect.add(0.0, false);
        assert!(perfect.ece() < 1e-9);
    }
}
