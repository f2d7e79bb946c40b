//! Putting an item list together from its lines' shapes, the way the
//! receipt lays them out: a name above its numbers or below them, a
//! quantity line before or after its item, a name on two lines.

use rust_decimal::Decimal;
use shared::domain::extraction::LineItem;

use super::text::letters;

/// A line's shape.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Shape {
    /// Name and amount on one line.
    Item(LineItem),
    /// The numbers of an item whose name is on another line.
    Numbers(LineItem),
    /// A name whose numbers are on another line.
    Name(String),
    /// Words after a mark (`:Take Away`, `+ Cheese`, `> no onions`): a
    /// note on the item above, or a name for numbers that have none.
    Note(String),
    /// A quantity × unit price, for the item next to it.
    QtyPrice(Decimal, Decimal),
    /// A code or mark on a line of its own (`EZ10HD05 - 24`): between a
    /// name and its numbers, it parts nothing; with no name above the
    /// numbers, it is the name (`9 x 13 (10A)`).
    Noise(String),
    /// A labelled article number, for the item below it.
    Code(String),
    /// An item line whose price OCR broke (`KM BBQ-SALAD 350G 1,9 99 B`):
    /// its name, and the figures where the price was.
    Unpriced(String, String),
    /// Anything else (headings, notes, totals): it parts what is around it.
    Other,
}

/// Whether the receipt prints an item's numbers above its name: the
/// first numbers line has a name below it, and either none above it (a
/// heading or the start) or the list ends with a name, as such a list does.
fn numbers_first(shapes: &[Shape]) -> bool {
    let Some(first) = shapes.iter().position(|s| matches!(s, Shape::Numbers(_))) else {
        return false;
    };
    let part = |s: &&Shape| !matches!(s, Shape::Noise(_) | Shape::QtyPrice(..) | Shape::Code(_));
    let name = |s: Option<&Shape>| matches!(s, Some(Shape::Name(_)));
    let above = shapes[..first].iter().rev().find(part);
    let below = shapes[first + 1..].iter().find(part);
    let last = shapes
        .iter()
        .rev()
        .find(|s| matches!(s, Shape::Numbers(_) | Shape::Name(_) | Shape::QtyPrice(..)));
    // An item line above (whose unit price the numbers may repeat) says
    // nothing of the order: then the end of the list tells.
    let item_above = matches!(above, Some(Shape::Item(_)));
    // A code-like line straight above with letters in it (`9 × 13 (10A)`)
    // stands where a name would: the numbers are its own.
    let noise_name_above = matches!(
        shapes[..first].iter().rev().find(|s| !matches!(s, Shape::QtyPrice(..) | Shape::Code(_))),
        Some(Shape::Noise(t)) if letters(t) >= 1
    );
    name(below) && ((!name(above) && !item_above && !noise_name_above) || name(last))
}

fn product_matches(item: &LineItem, q: Decimal, p: Decimal) -> bool {
    item.amount
        .is_some_and(|a| (a.abs() - (q * p).round_dp(2)).abs() <= Decimal::new(1, 2))
}

/// Puts the shapes together into items, line by line.
#[derive(Default)]
struct Assembly {
    numbers_first: bool,
    items: Vec<LineItem>,
    /// Names read since the last item (name first: the next numbers' name).
    names: Vec<String>,
    /// Numbers waiting for the name below them (numbers first).
    waiting: Option<LineItem>,
    /// A quantity × price line waiting for its item.
    qty: Option<(Decimal, Decimal)>,
    /// Numbers first: names after an item's own, up to the next numbers,
    /// continue it (a name printed on two lines).
    continues: bool,
    /// A code-like line, the name of numbers that have no other.
    noise: Option<String>,
    /// A labelled article number for the next item.
    code: Option<String>,
    /// Name first: the last item was a whole line (name and amount), so
    /// names after it that no numbers take continue its name.
    after_whole: bool,
}

/// A name that starts with a small count and has no other figure
/// (`1 M Coke`): a part of the set above it.
fn part_of_set(name: &str) -> Option<(Decimal, String)> {
    let (count, rest) = name.split_once(' ')?;
    let count: u8 = count.parse().ok().filter(|c| (1..=20).contains(c))?;
    let rest = rest.trim();
    (letters(rest) >= 3 && !rest.chars().any(|c| c.is_ascii_digit()))
        .then(|| (Decimal::from(count), rest.to_owned()))
}

/// A lone short word where a name would be (`1 WALK 1.60 1.60`): a unit
/// of measure, when a name above waits for its numbers.
fn unit_word(name: &str) -> bool {
    !name.contains(' ') && name.len() <= 4 && name.chars().all(|c| c.is_ascii_uppercase())
}

/// A till's article code where a name would be (`GTG02 1 55.00 58.30`,
/// `Set10 1 6.90`): letters then figures, and at most a count after it.
fn code_word(name: &str) -> bool {
    let mut words = name.split_whitespace();
    let code = words.next().unwrap_or("");
    let letters_end = code
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(code.len());
    let (head, tail) = code.split_at(letters_end);
    let tail = tail.trim_start_matches(['-', '/']);
    (1..=5).contains(&head.len())
        && (1..=5).contains(&tail.len())
        && tail.chars().all(|c| c.is_ascii_digit())
        && words.all(|w| w.len() <= 2 && w.chars().all(|c| c.is_ascii_digit()))
}

impl Assembly {
    fn push(&mut self, mut item: LineItem) {
        if let Some((q, p)) = self.qty.take_if(|(q, p)| product_matches(&item, *q, *p)) {
            item.quantity = Some(q);
            item.unit_price = Some(p);
        }
        self.items.push(item);
    }

    fn name(&mut self, name: String) {
        match self.waiting.take() {
            Some(mut item) => {
                item.name = name;
                self.push(item);
                self.continues = true;
            }
            None if self.numbers_first && self.continues => {
                if let Some(last) = self.items.last_mut() {
                    last.name = format!("{} {name}", last.name);
                }
            }
            None => self.names.push(name),
        }
    }

    /// `Sushi 1.80` then `4 x 1.80 7.20`: the count and the amount of the
    /// item above, whose own price was its unit price.
    fn counts_the_last(&self, n: &LineItem) -> bool {
        self.names.is_empty()
            && self.waiting.is_none()
            && n.code.is_none()
            && self.items.last().is_some_and(|l| {
                l.amount.is_some() && l.amount == n.unit_price && n.quantity > Some(Decimal::ONE)
            })
    }

    /// `LORY FILLET 6KG @63.00` then `FM411000055 *4 252.00`: a whole line
    /// whose price was the unit's, then the article's code, the count
    /// and the amount.
    fn completes_the_last(&mut self, n: &LineItem) -> bool {
        let after_whole = self.after_whole && self.names.is_empty() && !self.numbers_first;
        let Some(last) = self
            .items
            .last_mut()
            .filter(|l| after_whole && l.code.is_none())
        else {
            return false;
        };
        let (Some(code), Some(unit), Some(amount)) = (&n.code, last.amount, n.amount) else {
            return false;
        };
        if unit <= Decimal::ZERO || amount <= Decimal::ZERO || amount % unit != Decimal::ZERO {
            return false;
        }
        let count = amount / unit;
        if count > Decimal::from(99) {
            return false;
        }
        last.code = Some(code.clone());
        last.quantity = Some(count.normalize());
        last.unit_price = Some(unit);
        last.amount = Some(amount);
        true
    }

    fn numbers(&mut self, mut item: LineItem) {
        let completes = self.completes_the_last(&item);
        self.after_whole = false;
        if completes {
            return;
        }
        if self.counts_the_last(&item) {
            let last = self.items.last_mut().unwrap();
            last.quantity = item.quantity;
            last.unit_price = last.amount;
            last.amount = item.amount;
        } else if self.numbers_first {
            self.waiting = Some(item);
            self.continues = false;
        } else {
            if let Some(name) = self.names.pop().or_else(|| self.noise.take()) {
                item.name = name;
                self.names.clear();
                self.push(item);
            } else if letters(&item.name) >= 3
                && item.code.is_none()
                && !item
                    .name
                    .split_whitespace()
                    .any(|w| matches!(w, "X" | "x" | "@" | "*"))
            {
                // No name waits: a short name of its own (`H/C A4 400'S
                // 9.90`), not a count times a price OCR garbled.
                self.push(item);
            }
            self.noise = None;
        }
    }

    fn add(&mut self, mut s: Shape) {
        if let (Shape::Item(item) | Shape::Numbers(item), Some(c)) = (&mut s, &self.code) {
            item.code.get_or_insert_with(|| c.clone());
            self.code = None;
        }
        match s {
            Shape::Item(mut item)
                if !self.numbers_first && !self.names.is_empty() && unit_word(&item.name) =>
            {
                item.name.clear();
                self.numbers(item);
            }
            Shape::Item(mut item)
                if !self.numbers_first && !self.names.is_empty() && code_word(&item.name) =>
            {
                let code = item.name.split_whitespace().next().map(str::to_owned);
                item.code = item.code.or(code);
                item.name.clear();
                self.numbers(item);
            }
            Shape::Item(item) => {
                self.continue_last();
                self.waiting = None;
                self.noise = None;
                self.names.clear();
                self.continues = false;
                self.push(item);
                self.after_whole = true;
            }
            Shape::Unpriced(name, _) => self.add(Shape::Item(LineItem {
                name,
                code: None,
                quantity: None,
                unit_price: None,
                amount: None,
            })),
            Shape::Name(name) => self.name(name),
            Shape::Note(note) => {
                self.after_whole = false;
                self.name(note);
            }
            Shape::Numbers(item) => self.numbers(item),
            Shape::QtyPrice(q, p) => match self.items.last_mut() {
                Some(last) if product_matches(last, q, p) && self.waiting.is_none() => {
                    last.quantity = Some(q);
                    last.unit_price = Some(p);
                }
                _ => self.qty = Some((q, p)),
            },
            // The first code-like line after an item is where its name
            // would be printed; later ones are codes.
            Shape::Noise(text) => {
                self.after_whole = false;
                self.noise = self.noise.take().or(Some(text).filter(|t| letters(t) >= 1));
            }
            Shape::Code(c) => self.code = Some(c),
            Shape::Other => {
                self.price_the_name();
                self.continue_last();
                self.names.clear();
                self.continues = false;
            }
        }
    }

    /// Name first, `Take Away` then `2X 0.20` and no numbers before the
    /// list ends or parts: the count and price are the name's own, the
    /// amount their product (OCR lost the printed one).
    fn price_the_name(&mut self) {
        if self.numbers_first || self.waiting.is_some() {
            return;
        }
        if let (Some(name), Some((q, p))) = (self.names.last(), self.qty) {
            let item = LineItem {
                name: name.clone(),
                code: None,
                quantity: Some(q),
                unit_price: Some(p),
                amount: Some((q * p).round_dp(2)),
            };
            self.items.push(item);
            self.names.clear();
            self.qty = None;
        }
    }

    /// Name first, `(T02) BRAISED PORK 7.00 14.00` then `RICE WITH
    /// PEANUT` then another whole item or the end: the words between
    /// continue the name above, since no numbers took them.
    fn continue_last(&mut self) {
        let after_whole = std::mem::take(&mut self.after_whole);
        if self.numbers_first || !after_whole || self.names.is_empty() {
            return;
        }
        let names: Vec<String> = self.names.drain(..).collect();
        // `1 M McChicken 9.50` then `1 M Coke`, `1 M Fries`: the parts of
        // a set, bought with it for nothing more.
        let parts: Option<Vec<(Decimal, String)>> = names.iter().map(|n| part_of_set(n)).collect();
        if let Some(parts) = parts {
            self.items
                .extend(parts.into_iter().map(|(count, name)| LineItem {
                    name,
                    code: None,
                    quantity: Some(count),
                    unit_price: Some(Decimal::new(0, 2)),
                    amount: Some(Decimal::new(0, 2)),
                }));
            return;
        }
        // Up to a line with figures (`KM BBQ-SALAD 350G 1,9 99 B`: an item
        // whose price OCR broke; `Artikel 6008`: a code) or a list of words
        // (`Freizeit, Lernen, Mobilität`: a department's heading).
        let rest: Vec<String> = names
            .into_iter()
            .take_while(|n| !n.chars().any(|c| c.is_ascii_digit()) && !n.contains(", "))
            .collect();
        if let Some(last) = self.items.last_mut().filter(|_| !rest.is_empty()) {
            last.name = format!("{} {}", last.name, rest.join(" "));
        }
    }
}

pub(super) fn assemble(shapes: Vec<Shape>) -> Vec<LineItem> {
    let mut a = Assembly {
        numbers_first: numbers_first(&shapes),
        ..Default::default()
    };
    for s in shapes {
        a.add(s);
    }
    a.price_the_name();
    a.continue_last();
    a.items
}
