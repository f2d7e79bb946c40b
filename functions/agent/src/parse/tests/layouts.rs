//! Layouts of shops beyond the dev sets: a petrol station, a US
//! supermarket and restaurant.

use super::{d, it, items_of};
use crate::parse::parse_receipt;

#[test]
fn a_shop_word_with_tel_inside_is_a_name_and_a_total_count_ends_the_list() {
    let text = "ARAL Tankstelle\nMusterweg 4\n50667 Koeln\nEUR\nSnickers 1,29 B\nSumme EUR 1,29";
    let p = parse_receipt(text, d(2026, 1, 1));
    assert_eq!(p.merchant_name.as_deref(), Some("ARAL Tankstelle"));
    assert_eq!(
        p.merchant_address.as_deref(),
        Some("Musterweg 4 50667 Koeln"),
        "the price column's heading is no part of the address"
    );
    // Numbers first; the count under the list, and the sum under it,
    // are no numbers that want a name.
    let text = "SHOP\nDate: 21/03/2018\nITEM QTY U/P AMOUNT\nNE3555 2 1.00 2.00\nSAFETY PIN\n\
                SB/01-3 1 7.00 7.00\nSATIN BIAS TAPE\nTotal Qty. : 3\n9.00\nTOTAL 9.00";
    assert_eq!(
        items_of(text),
        vec![
            it("SAFETY PIN", Some("NE3555"), "2", "2.00"),
            it("SATIN BIAS TAPE", Some("SB/01-3"), "1", "7.00"),
        ]
    );
}

#[test]
fn a_us_supermarket_prints_the_code_after_the_name_and_the_weight_below() {
    let text = "WALMART\n(479) 273-4000\n702 SW 8TH ST\nBENTONVILLE AR 72716\n\
                GREAT VALUE MILK 007874235 2.98 F\nBANANAS 000000004011 KF 1.24 N\n\
                2.07 lb @ 0.60 /lb\nSUBTOTAL 4.22\nTOTAL 4.22";
    assert_eq!(
        items_of(text),
        vec![
            it("GREAT VALUE MILK", Some("007874235"), "1", "2.98"),
            it("BANANAS", Some("000000004011"), "2.07", "1.24"),
        ]
    );
}

#[test]
fn a_us_telephone_ends_the_address() {
    let text = "THE OLIVE BISTRO\n45 Elm Street\nBoston, MA 02108\n(617) 555-2200\n\
                Server: Jenny\n11/04/2018 8:15 PM\nCaesar Salad $9.50\nTotal $9.50";
    let p = parse_receipt(text, d(2026, 1, 1));
    assert_eq!(
        p.merchant_address.as_deref(),
        Some("45 Elm Street Boston, MA 02108")
    );
}

#[test]
fn the_documents_own_word_and_identity_lines_in_europe_are_no_name_nor_address() {
    let header = |text: &str| {
        let p = parse_receipt(text, d(2026, 1, 1));
        (p.merchant_name, p.merchant_address)
    };
    let nl = "Albert Heijn\nDamstraat 1\n1012 JL Amsterdam\nKASSABON\nKAAS JONG 4,29\nTOTAAL 4,29";
    assert_eq!(
        header(nl),
        (
            Some("Albert Heijn".into()),
            Some("Damstraat 1 1012 JL Amsterdam".into())
        )
    );
    let fr = "CARREFOUR MARKET\n12 Rue de la Paix\n75002 Paris\nTél : 01 42 00 00 00\n\
              PAIN 1,45 €\nTOTAL TTC 1,45 €";
    assert_eq!(
        header(fr).1.as_deref(),
        Some("12 Rue de la Paix 75002 Paris")
    );
    let es = "MERCADONA S.A.\nC/ Mayor 15\n28013 Madrid\nCIF A-46103834\nFACTURA SIMPLIFICADA\n\
              1 PAN BARRA 0,65\nTOTAL (€) 0,65";
    assert_eq!(header(es).1.as_deref(), Some("C/ Mayor 15 28013 Madrid"));
}

#[test]
fn the_total_tells_the_one_price_ocr_broke_when_its_figures_agree() {
    let text = |broken: &str| {
        format!(
            "MARKTKAUF\nEUR\nJACOBS KROENUNG 3,49 B\n{broken}\nSALATBAR 2,24 B\n\
             SUMME EUR 7,72\nBAR 10,00"
        )
    };
    assert_eq!(
        items_of(&text("KM BBQ-SALAD 350G 1,9 99 B")),
        vec![
            it("JACOBS KROENUNG", None, "1", "3.49"),
            it("KM BBQ-SALAD 350G", None, "1", "1.99"),
            it("SALATBAR", None, "1", "2.24"),
        ]
    );
    // Figures that do not hold the missing amount: the line is left out,
    // not given a price it does not print.
    assert_eq!(
        items_of(&text("KM BBQ-SALAD 350G 2,5 77 B")).len(),
        2,
        "no price is made up"
    );
}

#[test]
fn a_state_and_zip_alone_make_a_receipt_american() {
    // No dollar sign, no phone: the address's state and ZIP code tell
    // the country, so the date is month first; the order number ends
    // the address.
    let text = "CHIPOTLE MEXICAN GRILL\n1234 Market St\nSan Francisco CA 94103\nOrder #456\n\
                Chips & Salsa 3.10\nTotal 3.10\nVisa 3.10\n12/03/2019 1:15 PM";
    let p = parse_receipt(text, d(2026, 1, 1));
    assert_eq!(p.purchase_date, Some(d(2019, 12, 3)));
    assert_eq!(p.currency.as_deref(), Some("USD"));
    assert_eq!(
        p.merchant_address.as_deref(),
        Some("1234 Market St San Francisco CA 94103")
    );
}

#[test]
fn the_name_stands_above_the_address_and_the_shops_terms_are_none() {
    // Mixed case over the address, a heading in capitals below it.
    let text = "BHPetrol Palekbang\nLot 1626, Mukim Kampung Laut\n16200 Palekbang, Kelantan\n\
                PREPAY CHIT NUMBER\n29721\n24-03-2018 22:02:55\nTOTAL 50.00";
    let p = parse_receipt(text, d(2026, 1, 1));
    assert_eq!(p.merchant_name.as_deref(), Some("BHPetrol Palekbang"));
    // The terms OCR read at the top are not the shop.
    let text = "GOODS SOLD ARE NOT RETURNABLE\nSLF CASH & CARRY\nNO. 15, JLN TSJ2\n\
                40000 SHAH ALAM\n24-03-2018\nTOTAL 9.00";
    let p = parse_receipt(text, d(2026, 1, 1));
    assert_eq!(p.merchant_name.as_deref(), Some("SLF CASH & CARRY"));
}

#[test]
fn fuel_is_sold_by_the_litre_or_gallon_at_a_price_of_three_places() {
    let text =
        "ARAL Tankstelle\nSaeule 03 Super E10\n45,23 l x 1,799 EUR/l 81,37 A\nSumme EUR 81,37";
    let p = parse_receipt(text, d(2026, 1, 1));
    let fuel = &p.items[0];
    assert_eq!(fuel.name, "Saeule 03 Super E10");
    assert_eq!(
        (fuel.quantity, fuel.unit_price, fuel.amount),
        (
            Some("45.23".parse().unwrap()),
            Some("1.799".parse().unwrap()),
            Some("81.37".parse().unwrap())
        )
    );
    let text = "SHELL\nPUMP 3 UNLEADED\n10.512 GAL @ $3.599/GAL 37.83\nTOTAL $37.83";
    let p = parse_receipt(text, d(2026, 1, 1));
    assert_eq!(p.items[0].unit_price, Some("3.599".parse().unwrap()));
}

#[test]
fn a_tax_rate_column_before_the_price_is_no_part_of_the_names() {
    let text = "CONAD\nVia Roma 10\n00184 Roma\nDESCRIZIONE IVA PREZZO(€)\n\
                PASTA BARILLA 500G 4% 0,99\nACQUA NATURALE 22% 1,50\nTOTALE COMPLESSIVO 2,49";
    let names: Vec<String> = items_of(text).into_iter().map(|i| i.0).collect();
    assert_eq!(names, vec!["PASTA BARILLA 500G", "ACQUA NATURALE"]);
    // Without such a column a percentage is the product's own.
    let text = "ALDI\nMILCH 3%  0,99 A\nSUMME 0,99";
    assert_eq!(items_of(text)[0].0, "MILCH 3%");
}

#[test]
fn a_card_that_is_sold_is_an_item_and_one_that_pays_is_not() {
    // Name first, the name's line holding the word CARD.
    let text = "THE STORE\n14-01-2018 16:02\nUNI WORKER'S CARD (1-31) 100'S\n2000000430040 4 3.10 12.40 S\n\
                UNI A6 NOTE BOOK 120'S\n2000001592021 18 1.30 23.40 S\nTOTAL 35.80\nVISA CARD 35.80";
    let names: Vec<String> = items_of(text).into_iter().map(|i| i.0).collect();
    assert_eq!(
        names,
        vec!["UNI WORKER'S CARD (1-31) 100'S", "UNI A6 NOTE BOOK 120'S"]
    );
    // A card number inside the list is still no item's name.
    let text = "SHOP\n14-01-2018 16:02\nMEMBER CARD 1234XXXX5678\nTEA 2.00\nTOTAL 2.00";
    assert_eq!(items_of(text), vec![it("TEA", None, "1", "2.00")]);
}
