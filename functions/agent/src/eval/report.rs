//! What an evaluation run adds up: per-field accuracy for the agent and
//! the baseline, the items' counts, the article counts and the
//! calibration of the agent's confidences.

use shared::domain::extraction::Extraction;

use super::calibration::Calibration;
use super::items::{ItemCounts, score_items};
use super::{FIELDS, Fields, Sample, score};

#[derive(Default)]
pub struct Tally {
    pub hits: [usize; 4],
    pub counted: [usize; 4],
    pub seconds: Vec<f64>,
}

impl Tally {
    fn add(&mut self, s: [Option<bool>; 4], secs: f64) {
        for (i, v) in s.iter().enumerate() {
            if let Some(hit) = v {
                self.counted[i] += 1;
                self.hits[i] += usize::from(*hit);
            }
        }
        self.seconds.push(secs);
    }

    pub fn accuracy(&self, i: usize) -> f64 {
        if self.counted[i] == 0 {
            0.0
        } else {
            self.hits[i] as f64 / self.counted[i] as f64
        }
    }

    pub fn median_secs(&self) -> f64 {
        let mut s = self.seconds.clone();
        s.sort_by(|a, b| a.partial_cmp(b).unwrap());
        if s.is_empty() { 0.0 } else { s[s.len() / 2] }
    }

    pub fn mean_secs(&self) -> f64 {
        self.seconds.iter().sum::<f64>() / self.seconds.len().max(1) as f64
    }
}

/// The calibration of one field's confidence, and of all of them.
#[derive(Default)]
pub struct Calibrations {
    pub merchant: Calibration,
    pub date: Calibration,
    pub total: Calibration,
    pub items: Calibration,
}

impl Calibrations {
    fn all(&self) -> Calibration {
        let mut c = Calibration::default();
        for f in [&self.merchant, &self.date, &self.total, &self.items] {
            c.answers.extend(f.answers.iter().copied());
        }
        c
    }
}

#[derive(Default)]
pub struct Report {
    pub agent: Tally,
    pub baseline: Option<Tally>,
    /// Over the receipts whose item labels add up.
    pub items: ItemCounts,
    pub whole_lists: usize,
    pub item_receipts: usize,
    /// (receipts whose article count is labelled, read right).
    pub article_counts: (usize, usize),
    pub calibration: Calibrations,
}

/// The articles a reading lists: its lines with a positive amount,
/// counted by their quantity when it is a whole number.
fn articles(e: &Extraction) -> usize {
    e.items
        .iter()
        .filter(|i| {
            i.amount
                .is_some_and(|a| a.is_sign_positive() && !a.is_zero())
        })
        .map(|i| match i.quantity {
            Some(q) if q.fract().is_zero() && q >= rust_decimal::Decimal::ONE => {
                usize::try_from(q.mantissa() / 10i128.pow(q.scale())).unwrap_or(1)
            }
            _ => 1,
        })
        .sum()
}

/// The lines a reading lists, as de-dev's author counted them: every
/// line with an amount, a deduction (`LEERGUT -0,50`) included.
fn lines(e: &Extraction) -> usize {
    e.items
        .iter()
        .filter(|i| i.amount.is_some_and(|a| !a.is_zero()))
        .count()
}

impl Report {
    pub fn new(baseline: bool) -> Self {
        Self {
            baseline: baseline.then(Tally::default),
            ..Default::default()
        }
    }

    pub fn add_agent(&mut self, s: &Sample, e: Option<&Extraction>, secs: f64, misses: bool) {
        let fields = e.map(Fields::from).unwrap_or_default();
        let sc = score(&fields, &s.label);
        if misses {
            print_misses(s, &fields, &sc);
        }
        self.agent.add(sc, secs);
        let counts = s
            .items
            .as_ref()
            .filter(|l| l.items_add_up)
            .map(|l| score_items(e.map_or(&[][..], |e| &e.items[..]), &l.items));
        if let Some(c) = counts {
            self.items.add(c);
            self.item_receipts += 1;
            self.whole_lists += usize::from(c.whole_list());
        }
        if let Some(n) = s.label.items_count {
            self.article_counts.0 += 1;
            self.article_counts.1 +=
                usize::from(e.is_some_and(|e| articles(e) == n || lines(e) == n));
        }
        let Some(fc) = e.and_then(|e| e.field_confidence) else {
            return;
        };
        let cal = &mut self.calibration;
        for (c, conf, hit) in [
            (&mut cal.total, fc.total, sc[0]),
            (&mut cal.date, fc.date, sc[1]),
            (&mut cal.merchant, fc.merchant, sc[2]),
            (&mut cal.items, fc.items, counts.map(|c| c.whole_list())),
        ] {
            if let Some(hit) = hit {
                c.add(conf, hit);
            }
        }
    }

    pub fn add_baseline(&mut self, s: &Sample, f: &Fields, secs: f64) {
        if let Some(b) = self.baseline.as_mut() {
            b.add(score(f, &s.label), secs);
        }
    }

    /// The expected calibration error over every field's answers.
    pub fn calibration_ece(&self) -> f64 {
        self.calibration.all().ece()
    }

    pub fn print(&self) {
        let base = self.baseline.as_ref();
        println!("{:<22}{:>10}{:>12}", "field", "agent", "baseline");
        for (i, f) in FIELDS.iter().enumerate() {
            let b = base.map_or("-".into(), |b| format!("{:.3}", b.accuracy(i)));
            let (a, n) = (self.agent.accuracy(i), self.agent.counted[i]);
            println!("{f:<22}{a:>10.3}{b:>12}  (n={n})");
        }
        let fmt = |f: fn(&Tally) -> f64| base.map_or("-".into(), |b| format!("{:.3}", f(b)));
        let (med, mean) = (self.agent.median_secs(), self.agent.mean_secs());
        println!(
            "{:<22}{med:>10.3}{:>12}",
            "median s/receipt",
            fmt(Tally::median_secs)
        );
        println!(
            "{:<22}{mean:>10.3}{:>12}",
            "mean s/receipt",
            fmt(Tally::mean_secs)
        );
        self.print_items();
        self.print_calibration();
    }

    fn print_items(&self) {
        if self.item_receipts > 0 {
            let c = &self.items;
            println!(
                "items (receipts whose labels add up: {}; baseline reads none)",
                self.item_receipts
            );
            println!(
                "{:<22}{:>10.3}{:>12}",
                "  item precision",
                c.precision(),
                "0.000"
            );
            println!("{:<22}{:>10.3}{:>12}", "  item recall", c.recall(), "0.000");
            println!("{:<22}{:>10.3}{:>12}", "  item F1", c.f1(), "0.000");
            let share = self.whole_lists as f64 / self.item_receipts as f64;
            println!(
                "{:<22}{share:>10.3}{:>12}  ({} of {})",
                "  whole list right", "0.000", self.whole_lists, self.item_receipts
            );
        }
        let (n, right) = self.article_counts;
        if n > 0 {
            println!(
                "{:<22}{:>10.3}  ({right} of {n}: the lines or units read against the printed count)",
                "article count",
                right as f64 / n as f64
            );
        }
    }

    fn print_calibration(&self) {
        let cal = &self.calibration;
        let all = cal.all();
        if all.answers.is_empty() {
            return;
        }
        println!(
            "calibration (answers by the confidence given: how many, mean confidence, share right)"
        );
        for b in all.bands().into_iter().filter(|b| b.count > 0) {
            println!(
                "  [{:.2}, {:.2}){:>8}{:>10.3}{:>10.3}",
                b.low, b.high, b.count, b.mean_confidence, b.accuracy
            );
        }
        for (name, c) in [
            ("merchant", &cal.merchant),
            ("date", &cal.date),
            ("total", &cal.total),
            ("items", &cal.items),
        ] {
            let top = c.bands().pop().unwrap();
            println!(
                "  {name:<9} ECE {:.3}; at >= 0.9: {} answers, {:.3} right",
                c.ece(),
                top.count,
                top.accuracy
            );
            for b in c.bands().into_iter().filter(|b| b.count > 0) {
                println!(
                    "    [{:.2}, {:.2}){:>8}{:>10.3}{:>10.3}",
                    b.low, b.high, b.count, b.mean_confidence, b.accuracy
                );
            }
        }
        println!("  all       ECE {:.3}", all.ece());
    }
}

fn print_misses(s: &Sample, fields: &Fields, sc: &[Option<bool>; 4]) {
    for (i, v) in sc.iter().enumerate() {
        if *v == Some(false) {
            let got = match i {
                0 => format!("{:?}", fields.total),
                1 => format!("{:?}", fields.date),
                2 => format!("{:?}", fields.company),
                _ => format!("{:?}", fields.address),
            };
            let l = &s.label;
            let want = [&l.total, &l.date, &l.company, &l.address][i];
            println!("miss {} {:<8} got {got} want {want:?}", s.id, FIELDS[i]);
        }
    }
}

#[cfg(test)]
mod tests {
    use shared::domain::extraction::LineItem;

    use super::*;

    fn item(quantity: &str, amount: &str) -> LineItem {
        crate::test_support::line_item("ARTIKEL", Some(quantity), amount)
    }

    #[test]
    fn articles_count_units_and_a_weighed_one_lines_count_deductions_too() {
        let e = Extraction {
            items: vec![
                item("2", "2.58"),
                item("0.532", "1.59"),
                item("1", "0.25"),
                item("1", "-0.50"),
                item("1", "0.00"),
            ],
            ..Default::default()
        };
        assert_eq!(
            articles(&e),
            4,
            "2 yoghurts, the bananen weighed, a deposit"
        );
        assert_eq!(lines(&e), 4, "the empties given back are a line too");
    }
}
