//! The receipt's country and what follows from it: the currency, the order
//! of a date's day and month. Read from what the receipt prints (currency
//! symbols and codes, tax words, legal forms, postcodes, phone numbers),
//! then from the caller's locale hint.

use std::sync::LazyLock;

use regex::Regex;
use shared::domain::extraction::{LocaleUsed, Source};

/// How a numeric date is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DateOrder {
    /// 25/12/2018: most of the world.
    #[default]
    DayFirst,
    /// 12/25/2018: the United States (and its receipts elsewhere).
    MonthFirst,
}

/// A country the reader knows the conventions of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Country {
    pub code: &'static str,
    pub tag: &'static str,
    pub currency: &'static str,
    pub order: DateOrder,
}

const fn country(
    code: &'static str,
    tag: &'static str,
    currency: &'static str,
    order: DateOrder,
) -> Country {
    Country {
        code,
        tag,
        currency,
        order,
    }
}

use DateOrder::{DayFirst, MonthFirst};

pub const COUNTRIES: [Country; 18] = [
    country("DE", "de-DE", "EUR", DayFirst),
    country("AT", "de-AT", "EUR", DayFirst),
    country("CH", "de-CH", "CHF", DayFirst),
    country("FR", "fr-FR", "EUR", DayFirst),
    country("ES", "es-ES", "EUR", DayFirst),
    country("IT", "it-IT", "EUR", DayFirst),
    country("NL", "nl-NL", "EUR", DayFirst),
    country("BE", "nl-BE", "EUR", DayFirst),
    country("PT", "pt-PT", "EUR", DayFirst),
    country("GB", "en-GB", "GBP", DayFirst),
    country("IE", "en-IE", "EUR", DayFirst),
    country("US", "en-US", "USD", MonthFirst),
    country("CA", "en-CA", "CAD", DayFirst),
    country("AU", "en-AU", "AUD", DayFirst),
    country("MY", "ms-MY", "MYR", DayFirst),
    country("SG", "en-SG", "SGD", DayFirst),
    country("ID", "id-ID", "IDR", DayFirst),
    country("PH", "en-PH", "PHP", MonthFirst),
];

pub fn country_by_code(code: &str) -> Option<Country> {
    COUNTRIES
        .iter()
        .find(|c| c.code.eq_ignore_ascii_case(code))
        .copied()
}

/// A caller's locale hint (BCP 47: `de-DE`, `en-US`, `ms`): its country
/// when it names one, else the usual country of its language.
pub fn country_of_hint(tag: &str) -> Option<Country> {
    let mut parts = tag.split(['-', '_']);
    let lang = parts.next()?.to_ascii_lowercase();
    let region = parts.find(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_alphabetic()));
    if let Some(c) = region.and_then(country_by_code) {
        return Some(c);
    }
    let code = match lang.as_str() {
        "de" => "DE",
        "fr" => "FR",
        "es" => "ES",
        "it" => "IT",
        "nl" => "NL",
        "pt" => "PT",
        "en" => "US",
        "ms" => "MY",
        "id" => "ID",
        _ => return None,
    };
    country_by_code(code)
}

/// Cues: a pattern, the country it points to, and how strongly.
static CUES: LazyLock<Vec<(Regex, &'static str, u32)>> = LazyLock::new(|| {
    [
        // Germany (and German-speaking shops)
        (r"\bMWST\b|\bMW\.?ST\b|\bUST\b|\bUST-?ID|STEUER-?NR|STEUERNUMMER|\bSUMME\b|ZU ZAHLEN|R[UÜ]CKGELD|\bGEGEBEN\b|EC-?KARTE|GIROCARD|\bPFAND\b|LEERGUT|KASSENBON|\bGMBH\b|\bCO\.?\s?KG\b|\bSTK\b|\bBONNR|\bFILIALE\b|\bUHRZEIT\b|\bDATUM\b", "DE", 2),
        (r"\bDE\s?\d{9}\b", "DE", 2),
        // A five-digit postcode before the town: Germany, but France,
        // Spain and Italy write theirs so too.
        (r"\b\d{5}\s+[A-ZÄÖÜ][a-zäöüß]{3,}", "DE", 1),
        (r"\bATU\s?\d{8}\b|[ÖO]STERREICH|\bWIEN\b", "AT", 4),
        // The country at the end of the address line; not a product named
        // after it (`SCHWEIZ.EMMENTALER`).
        (r"\bCHF\b|(?m:\bSCHWEIZ\s*$)|\bCHE-\d{3}", "CH", 4),
        // France
        (r"\bTVA\b|\bTTC\b|[AÀ] PAYER|ESP[EÈ]CES|\bRENDU\b|\bSIRET\b|\bSIREN\b|\bFR\s?\d{11}\b|\bMERCI\b|\bRUE\b", "FR", 2),
        // Spain
        (r"\bIMPORTE\b|\bEFECTIVO\b|\bCAMBIO\b|\bCIF\b|TOTAL A PAGAR|\bGRACIAS\b|\bIVA INCLUIDO", "ES", 2),
        // Italy
        (r"\bTOTALE\b|\bCONTANTI\b|\bRESTO\b|P\.?\s?IVA|PARTITA IVA|\bSCONTRINO\b|\bGRAZIE\b", "IT", 2),
        // The Netherlands and Flanders
        (r"\bBTW\b|TE BETALEN|\bTOTAAL\b|WISSELGELD|\bPINNEN\b|\bKVK\b|\bBEDANKT\b|\bNL\d{9}B\d{2}\b", "NL", 2),
        // Portugal
        (r"\bCONTRIBUINTE\b|\bTROCO\b|NUMER[AÁ]RIO|\bOBRIGAD[OA]\b", "PT", 2),
        // The United Kingdom
        (r"£|\bGBP\b|\bVAT\s+(?:NO|REG)|\b[A-Z]{1,2}\d[A-Z\d]?\s\d[A-Z]{2}\b", "GB", 2),
        // The United States
        (r"\bSALES\s+TAX\b|\bGRATUITY\b|\bTIP\b|BALANCE DUE|\bSERVER\b|\bCHE?C?K\s*#|\bGUESTS\b|DRIVE[- ]?THRU", "US", 2),
        // A telephone with its area code in brackets, `(217) 555-0199`:
        // the North American plan, enough alone.
        (r"\(\d{3}\)\s?\d{3}[-.\s]\d{4}\b", "US", 4),
        // A state and its ZIP code closing the address: enough alone.
        (r"\b(?:AL|AK|AZ|AR|CA|CO|CT|DE|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|DC),?\s+\d{5}(?:-\d{4})?\b", "US", 4),
        (r"\b\d{3}[-.]\d{3}[-.]\d{4}\b|\bUSD\b|\bLLC\b", "US", 2),
        // A bare dollar sign: most often the US dollar (the other dollars
        // print S$, A$, C$ or their own cues beside it).
        (r"(?:^|[^A-Z])\$\s?\d", "US", 1),
        // Canada, Australia
        (r"\bHST\b|\bQST\b|\bPST\b|\bCANADA\b|\bC\$", "CA", 2),
        (r"\bABN\b|\bA\$|\bAUSTRALIA\b", "AU", 3),
        // Malaysia
        (r"\bSDN\.?\s*BHD\b|\bBHD\b|\bRM\s?\d|\bRM\b|\bMYR\b|\bJALAN\b|\bJLN\b|\bTAMAN\b|\bMALAYSIA\b|\bSELANGOR\b|\bKUALA\b|\bJOHOR\b|\bGST\b|\bSST\b|\bTERIMA KASIH\b", "MY", 2),
        // Singapore, Indonesia, the Philippines
        (r"\bS\$|\bSGD\b|\bPTE\.?\s*LTD\b|\bSINGAPORE\b", "SG", 3),
        (r"\bRP\.?\s?\d|\bIDR\b|\bPPN\b|\bKEMBALI\b|\bTUNAI\b|\bJAKARTA\b", "ID", 2),
        (r"\bPHP\b|₱|\bPHILIPPINES\b|\bVAT\s+REG\s+TIN\b", "PH", 3),
    ]
    .into_iter()
    .map(|(r, c, w)| (Regex::new(&format!("(?i){r}")).unwrap(), c, w))
    .collect()
});

/// Weights of the evidence for each country in `text`, best first.
pub fn country_scores(text: &str) -> Vec<(Country, u32)> {
    let mut scores: Vec<(Country, u32)> = Vec::new();
    for (re, code, weight) in CUES.iter() {
        let hits = re.find_iter(text).count().min(3) as u32;
        if hits == 0 {
            continue;
        }
        let c = country_by_code(code).unwrap();
        match scores.iter_mut().find(|(s, _)| s.code == c.code) {
            Some(s) => s.1 += hits * weight,
            None => scores.push((c, hits * weight)),
        }
    }
    // German-speaking neighbours print the German words too.
    let de = scores.iter().find(|s| s.0.code == "DE").map_or(0, |s| s.1);
    for s in scores.iter_mut() {
        if matches!(s.0.code, "AT" | "CH") {
            s.1 += de;
        }
    }
    scores.sort_by_key(|s| std::cmp::Reverse(s.1));
    scores
}

/// The country the receipt's cues point to, when they are clear: at least
/// two cues, and ahead of the next country.
pub fn infer_country(text: &str) -> Option<Country> {
    let scores = country_scores(text);
    let (best, score) = *scores.first()?;
    let second = scores.get(1).map_or(0, |s| s.1);
    (score >= 4 && score > second).then_some(best)
}

static CURRENCY: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (r"\bMYR\b|\bRM\s?\d|\bRM\b", "MYR"),
        (r"\bSGD\b|\bS\$", "SGD"),
        (r"\bAUD\b|\bA\$", "AUD"),
        (r"\bCAD\b|\bC\$", "CAD"),
        (r"\bUSD\b|\bUS\$", "USD"),
        (r"€|\bEUR\b|\bEURO\b", "EUR"),
        (r"£|\bGBP\b", "GBP"),
        (r"\bCHF\b", "CHF"),
        (r"¥|\bJPY\b", "JPY"),
        (r"₹|\bINR\b", "INR"),
        (r"\bIDR\b|\bRP\.?\s?\d", "IDR"),
        (r"₱|\bPHP\b", "PHP"),
        (r"\$", "$"),
    ]
    .into_iter()
    .map(|(r, c)| (Regex::new(&format!("(?i){r}")).unwrap(), c))
    .collect()
});

/// The currency a receipt prints (a symbol, a code or a word); a bare `$`
/// is the dollar of `country`, the US dollar when no country is known,
/// and nothing printed in a country without a dollar (Malaysian tills
/// print `$5.50` for ringgit: the country then tells).
pub fn printed_currency(text: &str, country: Option<Country>) -> Option<&'static str> {
    let found = CURRENCY.iter().find(|(re, _)| re.is_match(text))?.1;
    if found != "$" {
        return Some(found);
    }
    match country.map(|c| c.currency) {
        Some(c @ ("USD" | "CAD" | "AUD" | "SGD")) => Some(c),
        Some(_) => None,
        None => Some("USD"),
    }
}

/// The currency of a receipt, for tests and the evaluation.
pub fn find_currency(text: &str) -> Option<String> {
    printed_currency(text, infer_country(text)).map(str::to_owned)
}

/// What the reader settles on for a receipt.
#[derive(Debug, Clone, PartialEq)]
pub struct Settled {
    pub country: Option<Country>,
    pub order: DateOrder,
    pub currency: Option<&'static str>,
    pub used: Option<LocaleUsed>,
}

/// The receipt's own cues first, then the hint; the currency printed,
/// else the country's.
pub fn settle(text: &str, hint: Option<&str>) -> Settled {
    let inferred = infer_country(text);
    let hinted = hint.and_then(country_of_hint);
    let (country, source) = match (inferred, hinted) {
        // The hint agrees with the receipt: its tag (it may say more).
        (Some(i), Some(h)) if i.code == h.code => (Some(h), Source::Hint),
        (Some(i), _) => (Some(i), Source::Inferred),
        (None, Some(h)) => (Some(h), Source::Hint),
        (None, None) => (None, Source::Inferred),
    };
    let printed = printed_currency(text, country);
    let (currency, currency_source) = match (printed, country) {
        (Some(p), _) => (Some(p), Some(Source::Printed)),
        (None, Some(c)) => (Some(c.currency), Some(source)),
        (None, None) => (None, None),
    };
    let tag = match (source, hint) {
        (Source::Hint, Some(h)) => h.to_owned(),
        _ => country.map(|c| c.tag.to_owned()).unwrap_or_default(),
    };
    Settled {
        country,
        order: country.map(|c| c.order).unwrap_or_default(),
        currency,
        used: country.map(|_| LocaleUsed {
            tag,
            source,
            currency_source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_country_comes_from_what_the_receipt_prints() {
        let de = "ALDI SÜD\nBIO HONIG 3,29 A\nSUMME 24,23\nZU ZAHLEN EURO 24,23\nBAR 50,00\nRÜCKGELD 25,77\nMwSt 7% 1,59";
        assert_eq!(infer_country(de).map(|c| c.code), Some("DE"));
        let us = "JOE'S DINER\n123 MAIN ST\nSPRINGFIELD, IL 62701\n(217) 555-0199\nSUBTOTAL 20.00\nSALES TAX 1.60\nTIP 4.00\nBALANCE DUE 25.60";
        assert_eq!(infer_country(us).map(|c| c.code), Some("US"));
        let my =
            "KEDAI ABC SDN BHD\nNO 1 JALAN BESAR\n81100 JOHOR BAHRU\nGST ID 0011\nTOTAL RM 9.00";
        assert_eq!(infer_country(my).map(|c| c.code), Some("MY"));
        assert_eq!(infer_country("SHOP\nTOTAL 9.00"), None);
        // Weights in kg and a five-digit postcode are not German.
        let fr = "CARREFOUR\n12 Rue de la Paix\n75002 Paris\nPOMMES 0,845 kg x 2,50 €/kg 2,11\n\
                  TOTAL TTC 2,11\nESPECES 5,00\nRENDU 2,89";
        assert_eq!(infer_country(fr).map(|c| c.code), Some("FR"));
        // A Swiss cheese on a German receipt is no Swiss cue.
        let de = "MARKTKAUF\nSCHWEIZ.EMMENTALER 4,38 B\nSUMME EUR 4,38\nBAR 5,00\nMwSt 7%";
        assert_eq!(infer_country(de).map(|c| c.code), Some("DE"));
    }

    #[test]
    fn cues_then_the_hint_then_nothing() {
        let s = settle("SHOP\nTOTAL 9.00", Some("en-US"));
        assert_eq!(s.order, DateOrder::MonthFirst);
        assert_eq!(s.currency, Some("USD"));
        let used = s.used.unwrap();
        assert_eq!((used.tag.as_str(), used.source), ("en-US", Source::Hint));
        assert_eq!(used.currency_source, Some(Source::Hint));
        let s = settle("SHOP\nSUMME 9,00\nMwSt 19%\nBAR 10,00", Some("en-US"));
        assert_eq!(
            s.country.map(|c| c.code),
            Some("DE"),
            "the receipt's cues win"
        );
        assert_eq!(s.currency, Some("EUR"));
        assert_eq!(s.used.unwrap().currency_source, Some(Source::Inferred));
        // A dollar sign alone does not tell the country; with a phone
        // number in the US format it does.
        let s = settle("SHOP\nTOTAL $9.00", None);
        assert_eq!(s.currency, Some("USD"));
        assert_eq!(s.used, None);
        assert_eq!(s.order, DateOrder::DayFirst);
        let s = settle("DINER\n(217) 555-0199\nBURGER $9.00\nTOTAL $9.00", None);
        assert_eq!(s.order, DateOrder::MonthFirst);
        let sg = "KOPI PTE LTD\nSINGAPORE 238801\nKOPI $2.00\nTOTAL $2.00";
        assert_eq!(settle(sg, None).currency, Some("SGD"));
    }

    #[test]
    fn a_bracketed_area_code_is_american_and_a_malaysian_dollar_sign_is_ringgit() {
        let s = settle(
            "JOE'S DINER\n123 Main St\n(555) 123-4567\n09/01/2016\nTotal 10.79",
            None,
        );
        assert_eq!(s.order, DateOrder::MonthFirst);
        assert_eq!(s.currency, Some("USD"));
        assert_eq!(s.used.unwrap().currency_source, Some(Source::Inferred));
        let my = "RESTORAN WAN SHENG\n002043319-W\nNO.2 JALAN TEMENGGUNG 19/9\nGST REG NO 001335787520\n\
                  Teh (B) $5.50\nTotal $5.50";
        let s = settle(my, None);
        assert_eq!(s.currency, Some("MYR"));
        assert_eq!(s.used.unwrap().currency_source, Some(Source::Inferred));
        // A telephone of a Malaysian office is no American cue.
        assert_eq!(infer_country("KEDAI\nTEL: 03-5521 8800\nTOTAL 9.00"), None);
    }
}
