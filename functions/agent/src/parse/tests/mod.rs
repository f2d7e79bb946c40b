use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::*;
use crate::parse::DateOrder;

mod layouts;
mod slips;

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

#[test]
fn dates_in_every_common_format() {
    assert_eq!(parse_date("25/12/2018"), Some(d(2018, 12, 25)));
    assert_eq!(parse_date("Date: 12-01-19 10:20"), Some(d(2019, 1, 12)));
    assert_eq!(parse_date("10 MAR 2018"), Some(d(2018, 3, 10)));
    assert_eq!(parse_date("10-Mar-18"), Some(d(2018, 3, 10)));
    assert_eq!(parse_date("2018-12-25"), Some(d(2018, 12, 25)));
    assert_eq!(parse_date("2018/12/25 13:01"), Some(d(2018, 12, 25)));
    assert_eq!(parse_date("Dec 25, 2018"), Some(d(2018, 12, 25)));
    assert_eq!(parse_date("15.06.2017"), Some(d(2017, 6, 15)));
    assert_eq!(parse_date("1st January 2020"), Some(d(2020, 1, 1)));
}

#[test]
fn dates_are_day_first_unless_impossible() {
    assert_eq!(parse_date("03/04/2018"), Some(d(2018, 4, 3)));
    assert_eq!(parse_date("12/25/2018"), Some(d(2018, 12, 25)));
    assert_eq!(parse_date("31/31/2018"), None);
    assert_eq!(parse_date("no date here 12:30"), None);
    assert!(!plausible_date(d(1980, 1, 1), d(2026, 1, 1)));
    assert!(!plausible_date(d(2030, 1, 1), d(2026, 1, 1)));
}

#[test]
fn amounts_are_two_decimal_money() {
    let vals = |s: &str| amounts(s).into_iter().map(|a| a.0).collect::<Vec<_>>();
    assert_eq!(vals("TOTAL RM 9.00"), vec![dec("9.00")]);
    assert_eq!(vals("RM9.00"), vec![dec("9.00")]);
    assert_eq!(vals("1,234.50"), vec![dec("1234.50")]);
    assert_eq!(vals("Rounding -0.02"), vec![dec("-0.02")]);
    assert_eq!(vals("Total 12,50"), vec![dec("12.50")]);
    assert_eq!(vals("2 x 4.50 9.00"), vec![dec("4.50"), dec("9.00")]);
    assert_eq!(vals("GST 6% 0.51"), vec![dec("0.51")]);
    assert!(vals("Invoice 123456").is_empty());
    assert!(vals("Tel 03-1234 5678").is_empty());
    assert!(vals("Time 20:17").is_empty());
    assert_eq!(parse_amount("RM9.00"), Some(dec("9.00")));
    assert_eq!(parse_amount("$ 1,234.50"), Some(dec("1234.50")));
}

#[test]
fn the_total_is_the_amount_paid_not_a_subtotal_or_a_count() {
    let today = d(2026, 1, 1);
    let text = "SHOP\nSubtotal 8.49\nGST 6% 0.51\nTotal Qty 3\nTOTAL 9.00\nCASH 10.00\nCHANGE 1.00";
    assert_eq!(parse_receipt(text, today).total, Some(dec("9.00")));
    let text = "SHOP\nTotal Sales (Excluding GST) 51.42\nTotal GST 3.08\nTotal Sales (Inclusive of GST) 54.50\nRounding 0.00";
    assert_eq!(parse_receipt(text, today).total, Some(dec("54.50")));
    let text = "SHOP\nTOTAL 9.03\nRounding -0.03\nRounded Total 9.00";
    let p = parse_receipt(text, today);
    assert_eq!(p.total, Some(dec("9.00")));
    assert_eq!(p.rounding, Some(dec("-0.03")));
    let text = "SHOP\nGRAND TOTAL\n15.90\nCASH 20.00";
    assert_eq!(parse_receipt(text, today).total, Some(dec("15.90")));
    let text = "SHOP\nT0TAL: 7.50";
    assert_eq!(parse_receipt(text, today).total, Some(dec("7.50")));
    let text = "SHOP\nAMOUNT DUE 23.10";
    assert_eq!(parse_receipt(text, today).total, Some(dec("23.10")));
    let text = "SHOP\nNETT 4.20";
    assert_eq!(parse_receipt(text, today).total, Some(dec("4.20")));
    // No keyword survived: cash minus change.
    let text = "SHOP\nTEA 3.00\nCASH 50.00\nCHANGE 47.00";
    assert_eq!(parse_receipt(text, today).total, Some(dec("3.00")));
}

#[test]
fn merchant_name_and_address_come_from_the_header() {
    let text = "TAN CHAY YEE\nOJC MARKETING SDN BHD\n(1234567-H)\nNO 2 & 4, JALAN BAYU 4,\nBANDAR SERI ALAM,\n81750 MASAI, JOHOR\nTel: 07-388 2218\nDate 15/01/2019\nTOTAL 10.00";
    let p = parse_receipt(text, d(2026, 1, 1));
    assert_eq!(p.merchant_name.as_deref(), Some("OJC MARKETING SDN BHD"));
    assert_eq!(
        p.merchant_address.as_deref(),
        Some("NO 2 & 4, JALAN BAYU 4, BANDAR SERI ALAM, 81750 MASAI, JOHOR")
    );
    assert_eq!(p.purchase_date, Some(d(2019, 1, 15)));
    assert_eq!(
        p.currency.as_deref(),
        Some("MYR"),
        "a Malaysian address and legal form"
    );

    let text = "Corner Bakery\n12 Main Street\nSpringfield\n01/02/2020\nBagel $2.50\nTOTAL $2.50";
    let p = parse_receipt(text, d(2026, 1, 1));
    assert_eq!(p.merchant_name.as_deref(), Some("Corner Bakery"));
    assert_eq!(
        p.merchant_address.as_deref(),
        Some("12 Main Street Springfield")
    );
    assert_eq!(p.currency.as_deref(), Some("USD"));
}

#[test]
fn the_legal_entity_names_the_merchant_and_notes_are_not_the_address() {
    let today = d(2026, 1, 1);
    // A brand above the company that owns it.
    let text = "SUSHI HOUSE RESTAURANT\nKAMPAI FOODS SDN BHD (123456-K)\n7, JALAN MERAK 2,\nTAMAN BURUNG, 52100 KUALA LUMPUR\nTEL: 03-1234 5678\nDate 01/02/2019\nTOTAL 10.00";
    let p = parse_receipt(text, today);
    assert_eq!(p.merchant_name.as_deref(), Some("KAMPAI FOODS SDN BHD"));
    assert_eq!(
        p.merchant_address.as_deref(),
        Some("7, JALAN MERAK 2, TAMAN BURUNG, 52100 KUALA LUMPUR")
    );
    // A former name and a franchisor are another company; the address
    // that follows on the same line is kept.
    let text = "Acme Burgers Sdn Bhd\n(65351-M)\nformerly known as\nOld Burgers Sdn Bnd\nLicensee of BurgerKing Level 6, Wisma Satu\nNo.3, Jalan SS2/39, 47400 Petaling Jaya\nTEL 03-77001234\nDate 01/02/2019\nTOTAL 10.00";
    let p = parse_receipt(text, today);
    assert_eq!(p.merchant_name.as_deref(), Some("Acme Burgers Sdn Bhd"));
    assert_eq!(
        p.merchant_address.as_deref(),
        Some("Level 6, Wisma Satu No.3, Jalan SS2/39, 47400 Petaling Jaya")
    );
    // "Owned by" names the issuer; a branch name stands above its street.
    let text = "Pho Corner\nOwned by: pho corner sdn bhd 1234567-W\nSRI MUDA BRANCH\n4-20, Jalan Ria 25/62\n40400 Shah Alam, Malaysia\nOPEN DAILY 10AM\nDate 01/02/2019\nTOTAL 10.00";
    let p = parse_receipt(text, today);
    assert_eq!(p.merchant_name.as_deref(), Some("pho corner Sdn Bhd"));
    assert_eq!(
        p.merchant_address.as_deref(),
        Some("4-20, Jalan Ria 25/62 40400 Shah Alam, Malaysia"),
        "the address ends with its country"
    );
}

#[test]
fn a_name_broken_over_lines_is_joined() {
    let today = d(2026, 1, 1);
    let text = "LIM KEE HARDWARE\nENTERPRISE (BANDAR\nBARU) SDN BHD\n822737-X\nNO. 17, JALAN INDAH\nTEL: 012-6651783\nDate 01/02/2019\nTOTAL 1.00";
    let p = parse_receipt(text, today);
    assert_eq!(
        p.merchant_name.as_deref(),
        Some("LIM KEE HARDWARE ENTERPRISE (BANDAR BARU) SDN BHD")
    );
    assert_eq!(p.merchant_address.as_deref(), Some("NO. 17, JALAN INDAH"));
    let text =
        "GREEN LEAF VEGETARIAN\nRESTAURANT SDN BHD\n12, JALAN SATU\nDate 01/02/2019\nTOTAL 1.00";
    let p = parse_receipt(text, today);
    assert_eq!(
        p.merchant_name.as_deref(),
        Some("GREEN LEAF VEGETARIAN RESTAURANT SDN BHD")
    );
    // A Malay business name without a legal form, under stamp noise.
    let text = "3 18010.17\nSYARIKAT PERNIAGAAN ANG HOE\n(81109-A)\nNO 29, JALAN AIR HITAM,\n53200, KUALA LUMPUR.\nTEL:03-40210276\nDate 01/02/2019\nTOTAL 1.00";
    let p = parse_receipt(text, today);
    assert_eq!(
        p.merchant_name.as_deref(),
        Some("SYARIKAT PERNIAGAAN ANG HOE")
    );
    assert_eq!(
        p.merchant_address.as_deref(),
        Some("NO 29, JALAN AIR HITAM, 53200, KUALA LUMPUR.")
    );
    // OCR slips in a name: an accent, a glyph of another script.
    let text = "天 KEDAI BUKU HARDWARÉ\n12, JALAN SATU\nDate 01/02/2019\nTOTAL 1.00";
    let p = parse_receipt(text, today);
    assert_eq!(p.merchant_name.as_deref(), Some("KEDAI BUKU HARDWARE"));
}

#[test]
fn a_date_beside_the_name_does_not_end_the_header() {
    let text = "NASI BARU SDN BHD\n05 Mar 2018 18:24\n(867388-U)\n12, Jalan Tampin 7/4, Kawasan Industri\nTampin, 81200 Johor Bahru, Johor\nTAX INVOICE\nRice 5.50\nNett Total: 5.50";
    let p = parse_receipt(text, d(2026, 1, 1));
    assert_eq!(p.merchant_name.as_deref(), Some("NASI BARU SDN BHD"));
    assert_eq!(
        p.merchant_address.as_deref(),
        Some("12, Jalan Tampin 7/4, Kawasan Industri Tampin, 81200 Johor Bahru, Johor")
    );
    assert_eq!(p.purchase_date, Some(d(2018, 3, 5)));
    // An address's "55,57" is not a price.
    let text = "BOOK SHOP SDN BHD\nNO.5: 55,57 & 59, JALAN SAGU 18,\n81100 JOHOR BAHRU\nDate: 25/12/2018\nTotal 9.00";
    let p = parse_receipt(text, d(2026, 1, 1));
    assert_eq!(
        p.merchant_address.as_deref(),
        Some("NO.5: 55,57 & 59, JALAN SAGU 18, 81100 JOHOR BAHRU")
    );
}

#[test]
fn dates_run_into_times_or_printed_without_separators() {
    let today = d(2026, 1, 1);
    assert_eq!(
        parse_date("Receipt : 7185 02/03/1805:16PM"),
        Some(d(2018, 3, 2))
    );
    assert_eq!(
        parse_date("Doc No. CS0001 Date10/01/2018"),
        Some(d(2018, 1, 10))
    );
    assert_eq!(
        parse_date("#001-0934-000105/01/201813:30-R"),
        Some(d(2018, 1, 5))
    );
    assert_eq!(
        parse_date("TAX INVOICE Date: 22/12/017"),
        Some(d(2017, 12, 22))
    );
    let text = "SHOP\n27032018 No.CS-20242\nTOTAL 1.00";
    assert_eq!(
        parse_receipt(text, today).purchase_date,
        Some(d(2018, 3, 27))
    );
    // A long number that is no recent date is not one.
    let text = "SHOP\nInvoice 31121989\nTOTAL 1.00";
    assert_eq!(parse_receipt(text, today).purchase_date, None);
}

#[test]
fn an_item_named_on_the_line_above_its_count() {
    let text = "SHOP\nDate: 25/12/2018\n9556939040116 KF MODELLING CLAY\n1PC 第 9.000 0.00 9.00\nTotal : 9.00";
    let p = parse_receipt(text, d(2026, 1, 1));
    assert_eq!(p.items.len(), 1, "{:?}", p.items);
    assert_eq!(p.items[0].name, "KF MODELLING CLAY");
    assert_eq!(p.items[0].quantity, Some(dec("1")));
    assert_eq!(p.items[0].unit_price, Some(dec("9.00")));
    assert_eq!(p.items[0].amount, Some(dec("9.00")));
}

#[test]
fn a_service_charge_is_not_the_change() {
    let text = "SHOP\nTotal (Excluding GST): 21.30\nServ. Charge (3%): 0.65\nGST payable (6%): 1.31\nTotal (Inclusive of GST): 23.26\nRounding Adj: -0.01\nTOTAL: 23.25";
    assert_eq!(parse_receipt(text, d(2026, 1, 1)).total, Some(dec("23.25")));
}

#[test]
fn currencies_by_symbol_or_code() {
    assert_eq!(find_currency("TOTAL RM 9.00").as_deref(), Some("MYR"));
    assert_eq!(find_currency("Total: €12,50").as_deref(), Some("EUR"));
    assert_eq!(find_currency("TOTAL £3.20").as_deref(), Some("GBP"));
    assert_eq!(find_currency("TOTAL S$3.20").as_deref(), Some("SGD"));
    assert_eq!(find_currency("TOTAL 3.20").as_deref(), None);
}

#[test]
fn line_items_with_quantities_and_prices() {
    let text = "SHOP SDN BHD\nNO 5, 55,57 JALAN\nDate 01/02/2019\nTEH O 2 x 2.25 4.50\nROTI CANAI 1.50\n9556939040118 KF MODELLING CLAY\n1 PC + 9.00 9.00\nSUBTOTAL 15.00\nTOTAL 15.00";
    let p = parse_receipt(text, d(2026, 1, 1));
    type Row = (String, Option<Decimal>, Option<Decimal>, Option<Decimal>);
    let got: Vec<Row> = p
        .items
        .iter()
        .map(|i| (i.name.clone(), i.quantity, i.unit_price, i.amount))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "TEH O".to_owned(),
                Some(dec("2")),
                Some(dec("2.25")),
                Some(dec("4.50"))
            ),
            (
                "ROTI CANAI".to_owned(),
                Some(dec("1")),
                Some(dec("1.50")),
                Some(dec("1.50"))
            ),
            (
                "KF MODELLING CLAY".to_owned(),
                Some(dec("1")),
                Some(dec("9.00")),
                Some(dec("9.00"))
            ),
        ]
    );
    assert_eq!(p.subtotal, Some(dec("15.00")));
}

#[test]
fn tax_is_the_line_that_makes_the_sum() {
    let text =
        "SHOP\nSUBTOTAL 8.49\nGST ID: 000123456789\nTAX AMT (S) 6% 8.49\nGST 6% 0.51\nTOTAL 9.00";
    let p = parse_receipt(text, d(2026, 1, 1));
    assert_eq!(p.tax, Some(dec("0.51")));
}

fn items_of(text: &str) -> Vec<(String, Option<String>, String, String)> {
    parse_receipt(text, d(2026, 1, 1))
        .items
        .iter()
        .map(|i| {
            (
                i.name.clone(),
                i.code.clone(),
                i.quantity.unwrap().normalize().to_string(),
                i.amount.unwrap().to_string(),
            )
        })
        .collect()
}

fn it(
    name: &str,
    code: Option<&str>,
    q: &str,
    a: &str,
) -> (String, Option<String>, String, String) {
    (name.into(), code.map(str::to_owned), q.into(), a.into())
}

#[test]
fn amounts_with_a_decimal_comma_thousands_and_a_minus_after() {
    let got: Vec<Decimal> = amounts("SUMME 1.234,56 EUR").iter().map(|a| a.0).collect();
    assert_eq!(got, vec![dec("1234.56")]);
    let got: Vec<Decimal> = amounts("TOTAL 1,234.56").iter().map(|a| a.0).collect();
    assert_eq!(got, vec![dec("1234.56")]);
    let got: Vec<Decimal> = amounts("RABATT 0,30-A").iter().map(|a| a.0).collect();
    assert_eq!(got, vec![dec("-0.30")]);
    assert!(amounts("Time 15.29:00").is_empty(), "a time");
    assert!(amounts("31802.01.6").is_empty(), "a dotted number");
    assert!(amounts("EVIAN 6x1.25L").is_empty(), "a size");
    assert_eq!(
        amounts("SALAT 2.79B")[0].0,
        dec("2.79"),
        "a tax letter glued on"
    );
}

#[test]
fn a_date_keeps_one_separator_and_a_short_year_glued_to_the_time() {
    assert!(dates("HD03-04-06- 5/40/160").is_empty());
    assert_eq!(dates("18.05.2009:50 0054"), vec![d(2020, 5, 18)]);
    assert_eq!(
        dates_in("09/01/2016", DateOrder::MonthFirst),
        vec![d(2016, 9, 1)]
    );
    assert_eq!(
        dates_in("25/01/2016", DateOrder::MonthFirst),
        vec![d(2016, 1, 25)],
        "impossible month first"
    );
}

#[test]
fn names_above_or_below_their_numbers_and_codes_between() {
    // MR DIY: the name, a code line, then the numbers.
    let text = "SHOP\nDate 01/02/2019\nCHOPPING BOARD 35CM\nEZ10HD05 - 24\n8970669 1 X 19.00 19.00\nBOPP TAPE CLEAR\nFZ-04- 36\n6935818350846 1 X 3.88 3.88\nTOTAL 22.88";
    assert_eq!(
        items_of(text),
        vec![
            it("CHOPPING BOARD 35CM", Some("8970669"), "1", "19.00"),
            it("BOPP TAPE CLEAR", Some("6935818350846"), "1", "3.88"),
        ]
    );
    // Numbers first, a name on two lines.
    let text = "SHOP\nDate 01/02/2019\nITEM QTY UP DISC% AMOUNT\n9555067700208 10 10.57 0.00 105.66*\n- IK YELLOW 70GRAMS\n9557369305006 2 3.96 0.00 7.92*\n- EAGLE F4 NUMBERING FOOLSCAP\nBOOK\nSUB-TOTAL 113.58";
    assert_eq!(
        items_of(text),
        vec![
            it("IK YELLOW 70GRAMS", Some("9555067700208"), "10", "105.66"),
            it(
                "EAGLE F4 NUMBERING FOOLSCAP BOOK",
                Some("9557369305006"),
                "2",
                "7.92"
            ),
        ]
    );
}

#[test]
fn labelled_article_numbers_counts_with_units_and_a_lost_decimal_mark() {
    let text = "HORNBACH Baumarkt AG\nART/EAN 4002245701618\n2 Rolle X 4,85\nPARKETTZUBEHOER 9,70 1\nTONIC WATER 1 59 C\nSUMME EUR 11,29";
    assert_eq!(
        items_of(text),
        vec![
            it("PARKETTZUBEHOER", Some("4002245701618"), "2", "9.70"),
            it("TONIC WATER", None, "1", "1.59"),
        ]
    );
    // A number ending a name stays in it unless it makes the amount.
    let text = "IKEA\nANDLIG Mess 3 6,99 0\nPLASTIC 2 15.50 31.00\nSumme 37,99";
    assert_eq!(
        items_of(text),
        vec![
            it("ANDLIG Mess 3", None, "1", "6.99"),
            it("PLASTIC", None, "2", "31.00"),
        ]
    );
}

#[test]
fn a_unit_price_beside_the_name_and_the_count_below() {
    let text = "SUSHI BAR\nDate 01/02/2019\nDescription Qty U.price Total\nSushi 1.80\n4 x 1.80 7.20 SR\nGreen Tea\n1x 1.00 1.00 SR\nTotal 8.20";
    assert_eq!(
        items_of(text),
        vec![
            it("Sushi", None, "4", "7.20"),
            it("Green Tea", None, "1", "1.00")
        ]
    );
}

#[test]
fn the_brand_from_the_legal_entity_or_the_domain() {
    let p = parse_receipt(
        "RSSMANN\nMein Drogeriemarkt\nBRILLENPUTZTUCH 1,95 A\nSUMME 1,95\nDirk Rossmann GmbH",
        d(2026, 1, 1),
    );
    assert_eq!(p.merchant_name.as_deref(), Some("ROSSMANN"));
    let p = parse_receipt(
        "FRISCHE EINKAUFEN GENUSS ERLEBEN\nMsrktkauf Lehr\nDetmolder Str. 4\nwww. marktkauf-lehr.de\nSUMME EUR 2,00",
        d(2026, 1, 1),
    );
    assert_eq!(p.merchant_name.as_deref(), Some("MARKTKAUF Lehr"));
    let p = parse_receipt("A L D I\nMILCH 0,99 A\nSUMME 0,99", d(2026, 1, 1));
    assert_eq!(p.merchant_name.as_deref(), Some("ALDI"));
    // A payment terminal's domain in the footer names no shop.
    let p = parse_receipt(
        "SATURN ELECTRO HANDELSGES.MBH\nKamp 30\nMAUS 8,97 b\nSUMME 8,97\nServices www.ingenico.de",
        d(2026, 1, 1),
    );
    assert_eq!(
        p.merchant_name.as_deref(),
        Some("SATURN ELECTRO HANDELSGES.MBH")
    );
}

#[test]
fn opening_hours_and_a_printed_count_are_no_items() {
    let text = "AEON\nSUN-THU:1000HRS - 2230 HRS\n1x 000001888854 0.20SR\nPLASTICS BAG\nItem Count 1\n5.03\nTotal 0.20";
    assert_eq!(
        items_of(text),
        vec![it("PLASTICS BAG", Some("000001888854"), "1", "0.20")]
    );
}

#[test]
fn a_printed_rule_and_garble_below_the_list_leave_names_above_their_numbers() {
    // Name first; a rule read as CJK strokes above, garble below: the
    // end of the list must not make it read numbers first.
    let text = "SHOP\nDate : 04/12/17\nニこヨニニニニニニ 日日 ニニヨニニニヨ\n14\" MINI ROLLER REFILL\n2 2.6500 5.30 SR\nBLACK OXIDE PAINT\n1 30.7400 30.74 SR\n=:===4: E=EEE\nTotal (RM) : 36.04";
    assert_eq!(
        items_of(text),
        vec![
            it("14\" MINI ROLLER REFILL", None, "2", "5.30"),
            it("BLACK OXIDE PAINT", None, "1", "30.74"),
        ]
    );
}

#[test]
fn a_unit_of_measure_on_the_numbers_line_is_no_name() {
    let text = "SHOP\nDate 14/03/2018\nWALL'S TOPTEN CHOCOLATE 73ML\n1 UNIT 1.60 1.60 1.60 ZRL\nMAGNUM ALMOND 90ML\n2 PCS 4.50 9.00 9.00 ZRL\nTotal 10.60";
    assert_eq!(
        items_of(text),
        vec![
            it("WALL'S TOPTEN CHOCOLATE 73ML", None, "1", "1.60"),
            it("MAGNUM ALMOND 90ML", None, "2", "9.00"),
        ]
    );
}

#[test]
fn a_name_on_two_lines_notes_and_the_parts_of_a_set() {
    // The rest of a name below its line; a note after a mark is no part
    // of it; a line of figures or a department heading ends it.
    let text = "SHOP\nDate 06/03/2018\nDescription Qty Price Amount\n(T02) BRAISED PORK 1 14.00 14.00\nRICE WITH PEANUT\nOYSTER MEE 9.90\n:Take Away\nHolzkohle 3 kg 5,99 A\nFreizeit, Lernen, Mobilitaet\nTotal 29.89";
    let names: Vec<String> = items_of(text).into_iter().map(|i| i.0).collect();
    assert_eq!(
        names,
        vec![
            "T02) BRAISED PORK RICE WITH PEANUT",
            "OYSTER MEE",
            "Holzkohle 3 kg"
        ]
    );
    // `1 M Coke` under a set: bought with it, for nothing more.
    let text = "McDonald's\n21/03/2018\nQTY ITEM TOTAL\n1 M McChicken 9.50\n1 M Coke\n1 M Fries\n1 9 Nuggets 10.90\n1 Barbecue Sauce\nTakeOut Total 20.40";
    assert_eq!(
        items_of(text),
        vec![
            it("M McChicken", None, "1", "9.50"),
            it("M Coke", None, "1", "0.00"),
            it("M Fries", None, "1", "0.00"),
            it("9 Nuggets", None, "1", "10.90"),
            it("Barbecue Sauce", None, "1", "0.00"),
        ]
    );
}

#[test]
fn the_first_code_line_names_numbers_that_have_no_name() {
    let text = "SHOP\nDate 01/02/2019\nCHOPPING BOARD 35CM\nEZ10HD05 - 24\n8970669 1 X 19.00 19.00\nWD40 277ml\nWA43-A- 24\n079567600084 1 X 11.23 11.23\nTOTAL 30.23";
    let names: Vec<String> = items_of(text).into_iter().map(|i| i.0).collect();
    assert_eq!(names, vec!["CHOPPING BOARD 35CM", "WD40 277ml"]);
}

#[test]
fn an_amount_that_is_a_whole_number_of_unit_prices_gives_the_count() {
    // Item, quantity, unit price, amount, with the count read as part of
    // the item's number (a hardware store's invoice).
    let text = "HARDWARE SDN BHD\nItem Qty S/Price Amount Tax\n1938 2 6.89 13.78 SR\n\
                ROLLER SET\n2225 1 4.77 4.77 SR\nPLASTIC TRAP\nTotal 18.55";
    assert_eq!(
        items_of(text),
        vec![
            it("ROLLER SET", Some("1938"), "2", "13.78"),
            it("PLASTIC TRAP", Some("2225"), "1", "4.77")
        ]
    );
    // Not a count: the unit price does not go into the amount whole.
    let text = "CAFE\nKOPI O 1.60 3.50\nTotal 3.50";
    assert_eq!(items_of(text)[0].2, "1");
}

#[test]
fn a_garbled_rounding_between_two_totals_is_their_difference() {
    // The rounding's amount is unreadable; the total after it is paid.
    let text = "KEDAI\nSub-total 88.97\nTotal Sales Incl GST 88.97\nRounding Adj -J.02\n\
                Total After Adj Incl GST 88.95\nCASH 100.00\nCHANGE 11.05";
    assert_eq!(parse_receipt(text, d(2026, 1, 1)).total, Some(dec("88.95")));
    // Two totals a long way apart are not a rounding.
    let text = "KEDAI\nSub-total 88.97\nTotal Sales 88.97\nRounding Adj X.XX\nTotal 70.00";
    assert_eq!(parse_receipt(text, d(2026, 1, 1)).total, Some(dec("88.97")));
}

#[test]
fn an_l_read_for_a_capital_i_does_not_hide_a_keyword() {
    let text = "KEDAI\nTotal GST 3.45\nTotal Sales (lnclusive of GST) 60.95\nCASH 60.95";
    assert_eq!(parse_receipt(text, d(2026, 1, 1)).total, Some(dec("60.95")));
    assert_eq!(
        super::text::keyword_form("(lncl. GST) LNX"),
        "(INCL. GST) LNX"
    );
}

#[test]
fn a_line_that_begins_with_due_announces_what_is_owed() {
    let text = "BAKERY\nKAYA PUFF 4 1.60 6.40\nQty 8 25.15\nRounding Adj 0.00\nDue 25.15\n\
                Pay 25.15\nChange 0.00\n(Total Included GST @ 6% : 1.42)";
    assert_eq!(parse_receipt(text, d(2026, 1, 1)).total, Some(dec("25.15")));
}
