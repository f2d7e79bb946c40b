//! A shop's name as it is spelled, where OCR slipped in a way a reader
//! sees at once: `STATIONERY 8 BOOKS` (an ampersand read as 8),
//! `URBAN 1DEA` (a digit for a letter in a word), `HARDWAKE` (one letter
//! off a word shops name themselves with).

/// Words shop names are made of, whose misreadings (one letter off) are
/// mended. Long enough that one letter off is no other word.
const BUSINESS_WORDS: [&str; 23] = [
    "ENTERPRISE",
    "HARDWARE",
    "STATIONERY",
    "RESTAURANT",
    "RESTORAN",
    "TRADING",
    "BEAUTY",
    "HEALTH",
    "MARKETING",
    "SERVICES",
    "SUPERMARKET",
    "PHARMACY",
    "BAKERY",
    "HOLDINGS",
    "INDUSTRIES",
    "CORPORATION",
    "COMPANY",
    "ELECTRICAL",
    "FURNITURE",
    "BOOKSTORE",
    "EMPORIUM",
    "MINIMARKET",
    "KITCHEN",
];

const NUMBERED: [&str; 12] = [
    "LEVEL", "NO", "LOT", "FLOOR", "BLOCK", "BLOK", "UNIT", "SEKSYEN", "PHASE", "FASA", "JALAN",
    "JLN",
];

/// The name with those slips mended; anything else as read.
pub(super) fn mend(name: &str) -> String {
    let words: Vec<&str> = name.split(' ').collect();
    let mut out: Vec<String> = Vec::with_capacity(words.len());
    for (i, w) in words.iter().enumerate() {
        let lettered = |x: Option<&&str>| {
            x.is_some_and(|x| x.len() >= 2 && x.chars().all(|c| c.is_alphabetic()))
        };
        // Words a number follows in a place's name (`LEVEL 8`, `LOT 8`).
        let numbered = |x: &str| NUMBERED.contains(&x.to_uppercase().trim_end_matches('.'));
        if *w == "8"
            && i > 0
            && lettered(words.get(i - 1))
            && lettered(words.get(i + 1))
            && !numbered(words[i - 1])
        {
            out.push("&".to_owned());
        } else {
            out.push(business_word(&digits_as_letters(w)));
        }
    }
    out.join(" ")
}

/// `1DEA` → `IDEA`: in a word of four or more marks, three in four of
/// them letters, a 1, 0 or 5 is the letter it looks like.
fn digits_as_letters(w: &str) -> String {
    let marks = w.chars().count();
    let letters = w.chars().filter(|c| c.is_alphabetic()).count();
    if marks < 4 || letters * 4 < marks * 3 || letters == marks {
        return w.to_owned();
    }
    let lower = w.chars().filter(|c| c.is_lowercase()).count() > letters / 2;
    w.chars()
        .map(|c| match (c, lower) {
            ('1', false) => 'I',
            ('1', true) => 'i',
            ('0', false) => 'O',
            ('0', true) => 'o',
            ('5', false) => 'S',
            ('5', true) => 's',
            _ => c,
        })
        .collect()
}

/// A word one letter off a business word, spelled as that word, in the
/// word's own case (`HARDWAKE` → `HARDWARE`, `Beuty` → `Beauty`).
fn business_word(w: &str) -> String {
    let up = w.to_uppercase();
    if up.chars().count() < 5 || !up.chars().all(|c| c.is_ascii_alphabetic()) {
        return w.to_owned();
    }
    // A plural (`KITCHENS`) is a word of its own, not a slip.
    let plural = |b: &str| up.strip_suffix('S') == Some(b) || b.strip_suffix('S') == Some(&up);
    let Some(right) = BUSINESS_WORDS
        .iter()
        .find(|b| strsim::levenshtein(&up, b) == 1 && !plural(b))
    else {
        return w.to_owned();
    };
    if w.chars().all(|c| c.is_uppercase()) {
        (*right).to_owned()
    } else {
        let mut cs = right.chars();
        cs.next()
            .map(|f| f.to_string() + &cs.as_str().to_lowercase())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::mend;

    #[test]
    fn ocr_slips_in_a_shop_name_are_mended_and_nothing_else() {
        assert_eq!(
            mend("TEO HENG STATIONERY 8 BOOKS"),
            "TEO HENG STATIONERY & BOOKS"
        );
        assert_eq!(mend("URBAN 1DEA SDN BHD"), "URBAN IDEA SDN BHD");
        assert_eq!(
            mend("AIK HUAT HARDWAKE ENTERPRISE"),
            "AIK HUAT HARDWARE ENTERPRISE"
        );
        assert_eq!(
            mend("Guardian Health And Beuty Sdn Bhd"),
            "Guardian Health And Beauty Sdn Bhd"
        );
        assert_eq!(mend("PETRODELI ENIERPRISE"), "PETRODELI ENTERPRISE");
        // As printed: numbers in names, short words, words of their own.
        for name in [
            "99 SPEED MART",
            "7-ELEVEN",
            "SUPER7",
            "A1 MART",
            "G2000",
            "LEVEL 8 CAFE",
            "ALDI",
            "KITCHENS",
            "ENTERPRISES",
        ] {
            assert_eq!(mend(name), name);
        }
    }
}
