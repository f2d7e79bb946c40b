//! Item lines as tills print them and OCR reads them: sizes glued to
//! figures, tax marks after names, a price's zero read as a letter, a lost
//! amount, an article code where a name would be, a product called a bar.

use super::{d, dec, it, items_of};
use crate::parse::money::amounts;
use crate::parse::parse_receipt;

/// Each item's name, quantity, unit price and amount, as the answer writes them.
fn priced(text: &str) -> Vec<(String, String, String, String)> {
    parse_receipt(text, d(2026, 1, 1))
        .items
        .iter()
        .map(|i| {
            (
                i.name.clone(),
                i.quantity.unwrap().to_string(),
                i.unit_price.unwrap().to_string(),
                i.amount.unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_size_glued_to_figures_is_no_money_but_a_tax_code_after_a_price_is() {
    let vals = |s: &str| amounts(s).into_iter().map(|a| a.0).collect::<Vec<_>>();
    assert!(vals("PARTNER E/LOPE 4.51NX9.5IN W4292").is_empty());
    assert!(vals("TAPE 2.50MX3M").is_empty());
    assert_eq!(vals("BIO ZIP POWDER 15.50SR"), vec![dec("15.50")]);
    assert_eq!(vals("CENDOL RM5.30S"), vec![dec("5.30")]);
    assert_eq!(vals("MILK 4.50 SR9"), vec![dec("4.50")]);
}

#[test]
fn a_stationers_list_keeps_names_clean_and_codes_out_of_the_counts() {
    // Name first; each name ends with the unit column and a tax mark, and
    // the numbers line starts with the article's code (no count on the
    // second: the `*` follows the code straight away).
    let text = "STATIONERY HOUSE SDN BHD\nDate :10/08/2017 03:26:21PM\n\
                PARTNER E/LOPE 4.5INX9.5IN W4292 EA .s\n3555023304662 2 * 2.60 5.20\n\
                PLASTIC BAG RMO.20 EA .s\n2300000017984 * 0.20 0.20\n\
                GLUE STICK 21G EA .s\n9555023307724 2 * 2.50 5.00\nTotal 10.40";
    assert_eq!(
        items_of(text),
        vec![
            it(
                "PARTNER E/LOPE 4.5INX9.5IN W4292",
                Some("3555023304662"),
                "2",
                "5.20"
            ),
            it("PLASTIC BAG", Some("2300000017984"), "1", "0.20"),
            it("GLUE STICK 21G", Some("9555023307724"), "2", "5.00"),
        ]
    );
    // A hardware chain's `*S` after the name.
    let text =
        "HARDWARE SDN BHD\n18-11-18 13:58\nCORD TIE 3PCS *S\n9067170 1X 2.70 2.70\nTotal 2.70";
    assert_eq!(items_of(text)[0].0, "CORD TIE 3PCS");
    // A one-letter word that ends a name stays.
    let text = "PHARMACY\n18-11-18 13:58\nVITAMIN C 12.90\nTotal 12.90";
    assert_eq!(items_of(text)[0].0, "VITAMIN C");
}

#[test]
fn a_price_whose_zero_is_a_letter_or_missing_after_its_currency() {
    let text = "KEDAI MAKAN\n09/03/2018\nYELLOW LAKSA RM11.60S\nAIR SEJUK RMO.65 S\n\
                TEH O RM.50 S\nSUBTOTAL RM12.75";
    assert_eq!(
        items_of(text),
        vec![
            it("YELLOW LAKSA", None, "1", "11.60"),
            it("AIR SEJUK", None, "1", "0.65"),
            it("TEH O", None, "1", "0.50"),
        ]
    );
}

#[test]
fn an_amount_lost_after_the_discount_column_is_the_count_times_the_price() {
    let text = "RESTORAN\nDate:9/3/2018 20:54:50\nITEM QTY U/P(RM) DISC(%) AMT(RM)\n\
                Steamed Egg(S)\n1 10.00 0.00\nChinese Tea\n2 0.60 0.00 1.20\n\
                Rice (B)\n2 1.50 0.00 3\nSub Total RM14.20";
    assert_eq!(
        items_of(text),
        vec![
            it("Steamed Egg(S)", None, "1", "10.00"),
            it("Chinese Tea", None, "2", "1.20"),
            it("Rice (B)", None, "2", "3.00"),
        ]
    );
}

#[test]
fn an_article_code_where_the_name_would_be_takes_the_name_above() {
    let text = "BAR & GRILL\nDate:5/3/2018 22:52:33\nITEM QTY UP(RM) DISC AMT(RM)\n\
                Chicken Katsu Bento\nBEN02 1 12.90 0.00 12.90\nTiger Bucket\n\
                GTG02 1 55.00 0+0 58.30\nTOTAL RM 71.20";
    assert_eq!(
        items_of(text),
        vec![
            it("Chicken Katsu Bento", Some("BEN02"), "1", "12.90"),
            it("Tiger Bucket", Some("GTG02"), "1", "58.30"),
        ]
    );
    // A name short of a run of letters, with no name above to take.
    let text = "BOOKSHOP\n11/02/18 19:21\nDescription Amount\nPB D/S Tape 12mm 1.90 T\n\
                H/C A4 400'S 9.90 T\nTotal RM Incl. of GST 11.80";
    assert_eq!(items_of(text)[1], it("H/C A4 400'S", None, "1", "9.90"));
}

#[test]
fn a_bar_that_is_sold_is_an_item_and_bar_that_pays_is_cash() {
    let text = "CORNER STORE\n11/04/2018\nGRANOLA BAR 1.99\nMILK 3.00\nTOTAL 4.99\nCASH 10.00\nCHANGE 5.01";
    let p = parse_receipt(text, d(2026, 1, 1));
    let names: Vec<&str> = p.items.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, vec!["GRANOLA BAR", "MILK"]);
    assert_eq!(p.total, Some(dec("4.99")));
    let text = "REWE\n12.05.2020\nMILCH 1,09 B\nBROT 2,49 B\nSUMME EUR 3,58\nBar EUR 5,00\nRückgeld EUR 1,42";
    let p = parse_receipt(text, d(2026, 1, 1));
    assert_eq!(p.items.len(), 2);
    assert_eq!(p.total, Some(dec("3.58")));
}

#[test]
fn the_address_is_under_the_brands_line_and_a_slogan_is_none() {
    let text = "FRISCHE EINKAUFEN GENUSS ERLEBEN\nWUNSCHLOS GLÜCKLICH?\nURL in Ihr Smartphone\n\
                Marktkauf Lehr\nDetmolder Str. 4\n33102 Paderborn\nTel. 05251 / 180420\n\
                www.marktkauf.de\nEUR\nALBI APFEL 1,69 C\nSUMME 1,69";
    let p = parse_receipt(text, d(2026, 1, 1));
    assert_eq!(p.merchant_name.as_deref(), Some("MARKTKAUF Lehr"));
    assert_eq!(
        p.merchant_address.as_deref(),
        Some("Detmolder Str. 4 33102 Paderborn")
    );
    // A telephone of figures alone, and the first article's code, end it.
    let text = "IKEA Deutschland GmbH & Co. KG\nSüdring 7, 33647 Bielefeld\n06192 7 93 99999 (Ortstarif)\n\
                Artikel 50319963 22621\nPOANG Kissen 10,00 0\nSUMME 10,00";
    let p = parse_receipt(text, d(2026, 1, 1));
    assert_eq!(
        p.merchant_address.as_deref(),
        Some("Südring 7, 33647 Bielefeld")
    );
    let text = "IKEA Deutschland GmbH & Co. KG\nSüdring 7, 33647 Bielefeld\n\
                Artikel 50319963 22621\nPOANG Kissen 10,00 0\nSUMME 10,00";
    let p = parse_receipt(text, d(2026, 1, 1));
    assert_eq!(
        p.merchant_address.as_deref(),
        Some("Südring 7, 33647 Bielefeld")
    );
    let text = "ROSSMANN\nMein Drogeriemarkt\n20.05.2020 14:47\nZAHNCREME 1,89 B\nSUMME 1,89";
    let p = parse_receipt(text, d(2026, 1, 1));
    assert_eq!(p.merchant_address, None);
}

#[test]
fn a_company_type_under_the_brand_keeps_the_brand_and_short_codes_leave_names() {
    let text = "ALDI SÜD\nDienstleistungs-GmbH & Co. oHG\nBergstr. 5\n70173 Stuttgart\nEUR\n\
                4711 BIO HONIG 3,29 A\n8123 KAFFEE GOLD 4,99 A\nSumme 8,28";
    let p = parse_receipt(text, d(2026, 1, 1));
    assert!(
        p.merchant_name.as_deref().unwrap().starts_with("ALDI"),
        "{:?}",
        p.merchant_name
    );
    assert_eq!(
        items_of(text),
        vec![
            it("BIO HONIG", Some("4711"), "1", "3.29"),
            it("KAFFEE GOLD", Some("8123"), "1", "4.99"),
        ]
    );
    // A count of three figures at most is still a count.
    let text = "SHOP\n18-11-18 13:58\n120 PAPER CUPS 4.50\nTotal 4.50";
    assert_eq!(items_of(text)[0].1, None);
}

#[test]
fn an_article_given_for_nothing_is_a_line_and_nothing_deducted_or_charged_is_not() {
    let text = "OLIVE GARDEN\n09/01/2016 7:45 PM\n2 Breadsticks 0.00\n1 Chicken Alfredo 17.49\n\
                Discount 0.00\nService Charge 0.00\nMember Points 0.00\nSubtotal 17.49\nTotal 17.49";
    assert_eq!(
        priced(text),
        vec![
            (
                "Breadsticks".into(),
                "2".into(),
                "0.00".into(),
                "0.00".into()
            ),
            (
                "Chicken Alfredo".into(),
                "1".into(),
                "17.49".into(),
                "17.49".into()
            ),
        ]
    );
}

#[test]
fn a_sizes_name_above_its_numbers_and_a_count_printed_as_money() {
    // Name first; the first name reads like a code (`9 × 13 (10A)`), the
    // count is printed to two places and the unit price to four.
    let text = "PACKAGING SUPPLY\n05/01/2018\nDESCRIPTION PRICE DISC AMOUNT TAX\n9 × 13 (10A)\n\
                1.00 PKT * 0.7500 0.75 SR\n26 x 33 (85HT) Red\n1.00 PKT * 8.0000 8.00 SR\n\
                Sub Total : 8.75";
    // The unit prices by value (`0.75` however many places it is given to).
    let got: Vec<_> = priced(text)
        .into_iter()
        .map(|(n, q, u, a)| {
            (
                n,
                q,
                u.parse::<rust_decimal::Decimal>()
                    .unwrap()
                    .normalize()
                    .to_string(),
                a,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "9 × 13 (10A)".into(),
                "1.00".into(),
                "0.75".into(),
                "0.75".into()
            ),
            (
                "26 x 33 (85HT) Red".into(),
                "1.00".into(),
                "8".into(),
                "8.00".into()
            ),
        ]
    );
}

#[test]
fn a_fuel_line_whose_decimal_mark_is_lost_and_the_litres_above_it() {
    let text = "SHELL STATION\n21/02/18 11:19\n39.54 litre Pump # 07\nFuelSave 95 RM88 17 C\n\
                2.230 RM /litre\nTotal RM 88.17";
    assert_eq!(items_of(text), vec![it("FuelSave 95", None, "1", "88.17")]);
}

#[test]
fn a_name_whose_count_and_price_are_read_but_not_its_amount() {
    // `U.4U` is what OCR left of 0.40: the count times the price.
    let text = "RESTORAN\nDate 10/10/2017\nDescription Qty U.price Total TAX\nMilo(B)\n\
                2X 2.80 5.60 SR\nTake Away\n2X 0.20 U.4U SR\nTotal QTY: 4\nTOTAL : 6.00";
    assert_eq!(
        items_of(text),
        vec![
            it("Milo(B)", None, "2", "5.60"),
            it("Take Away", None, "2", "0.40"),
        ]
    );
    // A count line before its item still goes with the item below.
    let text = "REWE\n12.05.2020\nEUR\nBROT 2,49 B\n2 x 0,79\nMILCH 1,58 B\nSUMME 4,07";
    assert_eq!(
        items_of(text),
        vec![
            it("BROT", None, "1", "2.49"),
            it("MILCH", None, "2", "1.58"),
        ]
    );
}

#[test]
fn a_whole_line_priced_by_the_unit_then_its_code_count_and_amount() {
    let text = "PASAR BORONG SDN BHD\n12-02-2018 11:34:45 AM\n(RM)\nDORY FILLET @63.00\n\
                FM411000055 *4 252.00 ZR\nBERAS 10KG 53.50\n955560b389892 *1 53.50 ZR\nTOTAL 305.50";
    assert_eq!(
        items_of(text),
        vec![
            it("DORY FILLET", Some("FM411000055"), "4", "252.00"),
            it("BERAS 10KG", Some("955560b389892"), "1", "53.50"),
        ]
    );
}
