"""Fields by label and layout, on stand-in OCR words (no tesseract): left-of and above layouts."""

from __future__ import annotations

import pytest

from pipeline.document import Word
from pipeline.fields import _find_table_header, extract_fields, parse_qty
from pipeline.layout import Layout

H = 40  # text height in px, as at 300 dpi


class Page:
    """Builds words the way tesseract reports them: one box per word, in page pixels."""

    def __init__(self) -> None:
        self.words: list[Word] = []
        self.line = 0

    def text(self, x: int, y: int, text: str, conf: float = 95.0) -> int:
        """Place words of `text` from x on baseline row y; return the x after the last word."""
        self.line += 1
        for part in text.split(" "):
            w = max(H // 2, int(len(part) * H * 0.55))
            self.words.append(Word(part, x, y, w, H, conf, self.line))
            x += w + H // 3
        return x

    def layout(self) -> Layout:
        return Layout(self.words, 2480, 3508)


def form(*placed: tuple[int, int, str]) -> Page:
    """A stand-in page with each (x, y, text) placed as its own line."""
    p = Page()
    for x, y, text in placed:
        p.text(x, y, text)
    return p


def test_labels_left_of_values() -> None:
    p = form(
        (200, 500, "Customer:"),
        (800, 500, "Nordic Timber AB"),
        (800, 560, "Storgatan 12"),
        (200, 700, "Received (date/time):"),
        (800, 700, "14/03/2025 10:30"),
        (200, 800, "Received by:"),
        (800, 800, "Anna Berg"),
    )
    found = extract_fields(p.layout())
    assert found.values["customer"].first_line == "Nordic Timber AB"
    assert found.values["customer"].direction == "right"
    assert found.values["time"].text == "14/03/2025 10:30"
    assert found.values["receiver"].first_line == "Anna Berg"


def test_labels_above_values() -> None:
    p = form(
        (200, 500, "Customer"),
        (200, 560, "Nordic Timber AB"),
        (200, 620, "Storgatan 12"),
        (1300, 500, "Received by"),
        (1300, 560, "Anna Berg"),
        (200, 800, "Date:"),
        (200, 860, "2025-03-14 10:30"),
    )
    found = extract_fields(p.layout())
    assert found.values["customer"].first_line == "Nordic Timber AB"
    assert found.values["customer"].direction == "below"
    assert found.values["receiver"].first_line == "Anna Berg"
    assert found.values["time"].text == "2025-03-14 10:30"


def test_empty_value_followed_by_next_label_is_empty() -> None:
    p = form(
        (200, 700, "Received:"),
        (200, 790, "Received by:"),
        (800, 790, "Anna Berg"),
    )
    found = extract_fields(p.layout())
    assert found.values["time"].words == ()
    assert found.values["receiver"].first_line == "Anna Berg"


def test_longest_label_wins() -> None:
    p = Page()
    p.text(200, 500, "Customer signature:")
    found = extract_fields(p.layout())
    assert {h.field for h in found.labels} == {"signature"}


def test_label_in_a_sentence_is_not_a_label() -> None:
    p = Page()
    p.text(200, 500, "The customer confirms the date and time of receipt below")
    found = extract_fields(p.layout())
    assert found.labels == []


def test_chinese_and_swedish_labels() -> None:
    p = form(
        (200, 500, "客户："),
        (800, 500, "上海恒达物流有限公司"),
        (200, 600, "Mottagen av:"),
        (800, 600, "Åsa Öberg"),
        (200, 700, "签收时间:"),
        (800, 700, "2025年3月14日 10:30"),
    )
    found = extract_fields(p.layout())
    assert found.values["customer"].first_line == "上海恒达物流有限公司"
    assert found.values["receiver"].first_line == "Åsa Öberg"
    assert found.values["time"].text.startswith("2025年3月14日")


def test_item_table_columns_in_any_order() -> None:
    p = form(
        (200, 1000, "Qty"),
        (500, 1000, "Description"),
        (1500, 1000, "Article No."),
        (200, 1070, "12 pcs"),
        (500, 1070, "Pine board 2x4"),
        (1500, 1070, "A-1001"),
        (200, 1140, "3"),
        (500, 1140, "Screws M6"),
        (1500, 1140, "HD-7731"),
        (200, 1400, "Remarks:"),
        (800, 1400, "2 cartons damaged"),
    )
    found = extract_fields(p.layout())
    rows = [(r.sku, r.description, r.qty, r.unit) for r in found.items]
    assert rows == [("A-1001", "Pine board 2x4", 12, "pcs"), ("HD-7731", "Screws M6", 3, None)]


def test_swedish_table_with_units() -> None:
    p = form(
        (200, 1000, "Artikel"),
        (700, 1000, "Benämning"),
        (1800, 1000, "Antal"),
        (200, 1070, "SE-44120"),
        (700, 1070, "Spånskiva 16 mm"),
        (1800, 1070, "3 st"),
    )
    found = extract_fields(p.layout())
    assert [(r.sku, r.description, r.qty, r.unit) for r in found.items] == [("SE-44120", "Spånskiva 16 mm", 3, "st")]


def _rows(found) -> list[tuple[str | None, int | None]]:  # noqa: ANN001
    return [(r.sku, r.qty) for r in found.items]


def test_a_misread_column_heading_is_taken_from_the_words_standing_apart() -> None:
    """ "Item No." read as "tem No.": the SKU column is still found left of the named headings,
    and a shipper's address line above ("Unit 9 ... Tel") does not pass for the table's head."""
    p = form(
        (230, 300, "Unit 9, Dockside Road, Hull HU9 ITY : Tel 01482 555 210"),
        (200, 500, "Items:"),
        (230, 580, "tem No."),
        (600, 580, "Description"),
        (1900, 580, "Qty"),
        (230, 650, "NL-75"),
        (600, 650, "Nails 75 mm, 1 kg"),
        (1900, 650, "3"),
        (230, 720, "HD-7731"),
        (600, 720, "Door hinge"),
        (1900, 720, "12 pcs"),
    )
    assert _rows(extract_fields(p.layout())) == [("NL-75", 3), ("HD-7731", 12)]


def test_item_lines_under_an_items_label_are_read_without_column_heads() -> None:
    """Column heads unread (bold CJK at 150 dpi): SKU-shaped first word, quantity at the end."""
    p = form(
        (200, 500, "货品明细:"),
        (230, 580, "货 叶 品名 歼 重"),
        (230, 650, "HD-7731 门铰链 钢制 11 件"),
        (230, 720, "PK-2040 纸箱 40x30x30 7"),
        (230, 790, "SE-44120 Wood screws M6 x 40 27"),
        (230, 860, "CB-305 扎带 300mm . .26 箱"),
        (200, 900, "签收人:"),
        (200, 960, "刘洋"),
    )
    found = extract_fields(p.layout())
    assert _rows(found) == [("HD-7731", 11), ("PK-2040", 7), ("SE-44120", 27), ("CB-305", 26)]
    assert found.items[0].unit == "件"


def test_a_label_whose_words_ran_together_still_names_its_field() -> None:
    p = Page()
    p.text(200, 700, "Received (datetime):")
    p.text(800, 700, "24/10/2026 09:56")
    assert extract_fields(p.layout()).values["time"].text == "24/10/2026 09:56"


def test_specks_and_a_stamp_frame_above_a_value_are_not_the_value() -> None:
    """A stamp below its label: dust read as "|", the frame's top edge as a flat unsure "ss"."""
    p = Page()
    p.text(200, 500, "Date:")
    p.text(600, 560, "|", conf=79.0)
    p.line += 1
    p.words.append(Word("ss", 230, 600, 290, 12, 27.0, p.line))
    p.text(260, 650, "02/10/2026 08:14")
    p.text(200, 900, "Received by:")
    p.text(700, 900, "Anna Berg")
    assert extract_fields(p.layout()).values["time"].text == "02/10/2026 08:14"


def test_item_codes_are_tidied_as_printed() -> None:
    from pipeline.fields import tidy_sku

    assert tidy_sku("Sw-500") == "SW-500"  # w and W differ only in size
    assert tidy_sku("TB-2x4-240") == "TB-2x4-240"  # case inside the code is kept
    assert tidy_sku("--CB-305") == "CB-305"
    assert tidy_sku("PK:2040") == "PK-2040"
    assert tidy_sku("SE-~44120") == "SE-44120"
    assert tidy_sku("GL - 88") == "GL-88"
    assert tidy_sku("PL.-1200") == "PL-1200"  # a dot beside the dash is a speck
    # One letter shaped like a digit among two or more digits is the digit; letters elsewhere stay.
    assert tidy_sku("SW-S00") == "SW-500" and tidy_sku("SE-4412O") == "SE-44120"
    assert tidy_sku("PT-5L") == "PT-5L" and tidy_sku("PT-SL") == "PT-SL" and tidy_sku("B-2") == "B-2"
    # One capital read twice, small and big, is one capital; a letter printed twice stays two.
    assert tidy_sku("PkK-2040") == "PK-2040" and tidy_sku("SWw-500") == "SW-500" and tidy_sku("SSW-500") == "SSW-500"


def test_a_misread_chinese_heading_of_two_characters_still_heads_its_column() -> None:
    """品名 read as 曲名: two Chinese characters are a whole heading, so the descriptions stay out of the SKUs."""
    p = form(
        (200, 500, "货品明细:"),
        (230, 580, "货号"),
        (600, 580, "曲名"),
        (1900, 580, "数量"),
        (230, 650, "NL-75"),
        (600, 650, "钉子 75mm 1 公斤"),
        (1900, 650, "192 箱"),
    )
    layout = p.layout()
    assert [c[0] for c in _find_table_header(layout)[1]] == ["sku", "description", "qty"]
    found = extract_fields(layout)
    assert _rows(found) == [("NL-75", 192)]
    assert found.items[0].description == "钉子 75mm 1 公斤"


def test_words_after_a_code_in_the_sku_column_are_the_description() -> None:
    """No description heading read at all: "NL-75 Nails 75 mm" in the SKU column is code NL-75."""
    p = form(
        (200, 500, "Items:"),
        (230, 580, "Article No."),
        (1900, 580, "Qty"),
        (230, 650, "NL-75 Nails 75 mm, 1 kg"),
        (1900, 650, "3"),
        (230, 720, "TB-2x4-240 Timber 2x4, 240 cm"),
        (1900, 720, "12 pcs"),
    )
    found = extract_fields(p.layout())
    assert _rows(found) == [("NL-75", 3), ("TB-2x4-240", 12)]
    assert found.items[1].description == "Timber 2x4, 240 cm"


def test_a_chinese_label_with_a_stray_character_inside_still_names_its_field() -> None:
    """签收时间 read 符收时了间 (one misread, one stray), and 签收人 read 签收入: each keeps its field."""
    p = form(
        (200, 600, "签收入:"),
        (800, 600, "张敏"),
        (200, 700, "符收时了间:"),
        (800, 700, "2026-10-16 10:14"),
    )
    found = extract_fields(p.layout())
    assert found.values["receiver"].first_line == "张敏"
    assert found.values["time"].text == "2026-10-16 10:14"


def test_ones_read_as_letters_in_the_quantity_column_are_ones() -> None:
    """ "11 m" at 150 dpi read "iim": in the quantity column that is 11; elsewhere words stay words."""
    p = form(
        (230, 580, "Article No."),
        (600, 580, "Description"),
        (1900, 580, "Qty"),
        (230, 650, "A-1001"),
        (600, 650, "Pine board 45x95 mm"),
        (1900, 650, "iim"),
    )
    assert _rows(extract_fields(p.layout())) == [("A-1001", 11)]
    assert parse_qty("list") == (None, None) and parse_qty("lim", cell=True) == (11, "m")
    assert parse_qty("'8st", cell=True) == (8, "st") and parse_qty(".18", cell=True) == (18, None)
    assert parse_qty("t0", cell=True) == (10, None) and parse_qty("t0") == (None, None)
    assert parse_qty("ll.", cell=True) == (11, None)


def test_an_unsure_speck_beside_a_quantity_is_not_part_of_it() -> None:
    p = form(
        (230, 580, "货号"),
        (600, 580, "品名"),
        (1900, 580, "数量"),
        (230, 650, "SE-44120"),
        (600, 650, "螺丝 M6 x 40"),
    )
    x = p.text(1900, 650, "7 箱")
    p.words.append(Word("1", x + 60, 650, 12, H, 44.0, p.line))
    assert _rows(extract_fields(p.layout())) == [("SE-44120", 7)]


def test_a_bracketed_qualifier_belongs_to_its_label() -> None:
    """ "Recelved by (name):" is the receiver's label whole: its first words are not the value of
    the empty date above it."""
    p = form(
        (200, 500, "DateATime:"),
        (200, 640, "Recelved by (name):"),
        (200, 760, "Signature:"),
    )
    found = extract_fields(p.layout())
    assert found.values["time"].text == ""
    assert [h.phrase for h in found.labels if h.field == "receiver"] == ["received by"]


def test_an_unsure_speck_beside_a_label_does_not_hide_the_value_printed_under_it() -> None:
    p = Page()
    p.text(200, 500, "Ship to:")
    p.words.append(Word("my", 1400, 500, 40, H, 31.0, p.line))
    p.text(200, 560, "Brightwater Supplies Ltd")
    p.text(200, 620, "42 Canal Street")
    p.text(200, 800, "Date:")
    p.text(600, 800, "2026-09-10 16:09")
    found = extract_fields(p.layout())
    assert found.values["customer"].first_line == "Brightwater Supplies Ltd"
    assert found.values["time"].text == "2026-09-10 16:09"


def test_a_value_word_merged_with_a_speck_left_of_the_label_still_belongs_under_it() -> None:
    """ "”2026" boxed from a speck well left of the label: still the first word of the date below it."""
    p = Page()
    p.text(240, 1930, "签收时间:")
    p.text(800, 1930, "，")
    p.line += 1
    p.words.append(Word("”2026", 115, 2010, 430, H, 31.0, p.line))
    for x, t in ((548, "年"), (590, "9"), (630, "月"), (670, "29"), (730, "日"), (780, "10:43")):
        p.words.append(Word(t, x, 2010, 36, H, 93.0, p.line))
    found = extract_fields(p.layout())
    assert found.values["time"].text.startswith("”2026")


# 150 dpi bitonal: "Datum/tid:" read "Datum/id:" ("id" is a word of another label) or "Datum/Ud:";
# "Received (date/time):" read with a brace for a bracket and a letter lost.
@pytest.mark.parametrize(
    "label", ["Datum/id:", "Datum/Ud:", "Received (dae time}:", "Received {date/time]:"]
)
def test_a_misread_time_label_still_names_its_field(label: str) -> None:
    p = Page()
    p.text(200, 700, label)
    p.text(900, 700, "2026-09-30 11:53")
    assert extract_fields(p.layout()).values["time"].text == "2026-09-30 11:53"


def test_a_slashed_word_that_is_no_slip_of_the_label_is_no_label() -> None:
    """"Kund/ID:" is a customer number, not the customer: "id" is nothing like a customer label word."""
    p = Page()
    p.text(200, 700, "Kund/ID:")
    p.text(800, 700, "C-1004")
    assert "customer" not in extract_fields(p.layout()).values


def test_a_label_with_one_garbled_word_still_names_its_field() -> None:
    """150 dpi bitonal: "Items delivered:" read "Items Giivered:"; the rows under it are the items."""
    p = Page()
    p.text(200, 600, "Items Giivered:")
    p.text(200, 700, "PL-1200 Euro pallet 29")
    p.text(200, 760, "CB-305 Cable ties 300 mm 74")
    p.text(200, 900, "Received by:")
    p.text(800, 900, "Sarah Hill")
    found = extract_fields(p.layout())
    assert [(row.sku, row.qty) for row in found.items] == [("PL-1200", 29), ("CB-305", 74)]


def test_a_garbled_word_alone_is_no_label() -> None:
    """One exact word and a colon are not enough when the other word is far from the label's."""
    p = Page()
    p.text(200, 600, "Items Glazed:")
    p.text(200, 700, "PL-1200 Euro pallet 29")
    assert not extract_fields(p.layout()).labels


def test_item_rows_are_found_by_their_shape_when_neither_label_nor_heads_were_read() -> None:
    """A 150 dpi Chinese sheet with "货品明细" and its column heads garbled: the rows alone."""
    p = form(
        (200, 300, "收货单位:"),
        (200, 360, "北京闪城建材有限公司"),
        (200, 430, "北京市朝阳区建国路 99 号"),
        (200, 500, "全品明明:"),
        (230, 580, "货续 厚名 ”数量"),
        (230, 650, "CB-305 扎带 300mm 3 箱"),
        (230, 720, "PL-1200 欧标托盘 8 件"),
        (230, 790, "SW-500 缠绕膜 500mm 238"),
        (200, 900, "签收时间:"),
        (200, 960, "2026 年 10 月 4 日 08:11"),
    )
    found = extract_fields(p.layout())
    assert _rows(found) == [("CB-305", 3), ("PL-1200", 8), ("SW-500", 238)]
    assert found.table_header is None  # rows alone never make a page look more like a sheet


def test_shaped_rows_start_at_the_first_even_with_a_misread_row_after_it() -> None:
    """Label and heads garbled, and the second row's quantity misread ("1e6"): the table still
    starts at its first row, not at the next two rows that read whole."""
    p = form(
        (200, 300, "收货单位:"),
        (200, 360, "北京闪城建材有限公司"),
        (200, 500, "侦品:"),
        (230, 580, "货 人 台 肯 名 数 最"),
        (230, 650, "HD-7802 钢挂锁 228 件"),
        (230, 720, "HD-7731 门匀链钢再 1e6 件"),
        (230, 790, "PK-2040 纸箱 40x30x30 52 件"),
        (230, 860, "SW-500 缠绕膜 500mm 10 件"),
        (200, 960, "签收时间:"),
    )
    assert _rows(extract_fields(p.layout())) == [("HD-7802", 228), ("PK-2040", 52), ("SW-500", 10)]


def test_rows_under_an_items_label_are_found_past_the_gap_of_unread_column_heads() -> None:
    """The heads' line under "货品:" was not read at all: four lines' height of nothing, then rows."""
    p = form(
        (200, 500, "货品:"),
        (230, 700, "HD-7802 铀挂锁 5 件"),
        (230, 770, "HD-7731 门铰链钢制 110 件"),
        (200, 860, "签收人:"),
    )
    assert _rows(extract_fields(p.layout())) == [("HD-7802", 5), ("HD-7731", 110)]


def test_a_size_in_the_description_is_not_the_rows_code() -> None:
    """The code read with a mark before it ("”SFE-44120") and a size after it ("M6x40", "500mm"):
    the code is the SKU, and a row whose code was lost takes no size for one."""
    p = form(
        (200, 500, "货品明细:"),
        (230, 580, "货号 曲名 数昌"),
        (230, 650, "”SE-44120 ”螺丝 M6x40 233"),
        (230, 720, "1001 松木板 45x95 233 米"),
        (230, 790, "_HD-7731 门铰链 钢制 30 件"),
        (230, 860, "SW-500 缠绕膜 500mm 10 件"),
        (200, 960, "签收时间:"),
    )
    assert _rows(extract_fields(p.layout())) == [("SE-44120", 233), ("HD-7731", 30), ("SW-500", 10)]


def test_marks_before_the_code_in_its_column_are_not_part_of_it() -> None:
    """A rule's remains read "i" or "oo." before the code, and a dot beside its dash ("PL.-1200")."""
    p = form(
        (200, 500, "Artiklar:"),
        (230, 580, "Artikelnr"),
        (700, 580, "Benämning"),
        (1800, 580, "Antal"),
        (200, 650, "i A-1001"),
        (700, 650, "Furuplanka 45x95"),
        (1800, 650, "50 m"),
        (200, 720, "oo. GL-88"),
        (700, 720, "Arbetshandskar"),
        (1800, 720, "43"),
        (230, 790, "PL.-1200"),
        (700, 790, "EUR-pall"),
        (1800, 790, "4 st"),
        (200, 860, "i PT-SL"),
        (700, 860, "Väggfärg vit 5 l"),
        (1800, 860, "52"),
    )
    assert _rows(extract_fields(p.layout())) == [("A-1001", 50), ("GL-88", 43), ("PL-1200", 4), ("PT-SL", 52)]


def test_a_lost_quantity_heading_is_found_by_the_numbers_in_line_under_it() -> None:
    """ "Qty" read "ty", too little to name a column: the numbers that end the rows, in one column
    right of the named headings, are the quantities; a number inside a description is not."""
    p = form(
        (200, 500, "Items:"),
        (230, 580, "ItemNo."),
        (600, 580, "Description."),
        (1840, 580, "ty"),
        (230, 650, "GL-88"),
        (600, 650, "Work gloves, size 9"),
        (1860, 650, "48"),
        (230, 720, "NL-75"),
        (600, 720, "Nails 75 mm, 1 kg"),
        (1860, 720, "181 box"),
        (230, 790, "PT-5L"),
        (600, 790, "Wall paint white 5 L"),
        (1860, 790, "1"),
        (200, 900, "Date:"),
    )
    found = extract_fields(p.layout())
    assert [(r.sku, r.description, r.qty) for r in found.items] == [
        ("GL-88", "Work gloves, size 9", 48),
        ("NL-75", "Nails 75 mm, 1 kg", 181),
        ("PT-5L", "Wall paint white 5 L", 1),
    ]


def test_without_a_quantity_column_numbers_out_of_line_are_no_quantities() -> None:
    """No quantity heading, and the numbers ending the descriptions stand anywhere: no quantities
    are made up, the rows stay without them."""
    p = form(
        (200, 500, "Items:"),
        (230, 580, "ItemNo."),
        (600, 580, "Description"),
        (230, 650, "GL-88"),
        (600, 650, "Work gloves, size 9"),
        (230, 720, "NL-75"),
        (600, 720, "Nails 75 mm, 1 kg, a box of 250 nails 200"),
        (230, 790, "PT-5L"),
        (600, 790, "Wall paint 12"),
    )
    assert _rows(extract_fields(p.layout())) == [("GL-88", None), ("NL-75", None), ("PT-5L", None)]


def test_flat_marks_above_a_row_do_not_split_it_in_two() -> None:
    """Two 5 px marks of a rule, a little above a row, read "|": the row's description, printed a
    few pixels higher than its code, stays on the row's line, not on a line of its own."""
    p = form(
        (200, 500, "Artiklar:"),
        (230, 580, "Artikelnr"),
        (700, 580, "Benämning"),
        (1500, 580, "Antal"),
    )
    p.line += 1
    p.words += [Word("|", 1176, 650, 5, 5, 56.0, p.line), Word("|", 1353, 651, 5, 5, 63.0, p.line)]
    p.words.append(Word("EUR-pall", 700, 646, 185, 58, 92.0, p.line))
    p.line += 1
    p.words += [Word("PL-1200", 230, 659, 172, 33, 83.0, p.line), Word("9", 1500, 660, 22, 30, 95.0, p.line)]
    found = extract_fields(p.layout())
    assert [(r.sku, r.description, r.qty) for r in found.items] == [("PL-1200", "EUR-pall", 9)]


def test_a_flat_mark_near_a_lines_top_stays_out_of_it() -> None:
    """A 150 dpi "14 Sep 2026 12:50" under its label, a speck read "‘" at the top edge of its
    "2026": the speck is not part of the value, so the date keeps its clock time."""
    words = [
        Word("Date:", 179, 1714, 76, 25, 93.0, 1),
        Word("‘", 480, 1801, 5, 5, 0.0, 2),
        Word("14", 227, 1797, 93, 63, 8.0, 3),
        Word("Sep", 342, 1800, 90, 50, 93.0, 3),
        Word("2026", 450, 1804, 122, 42, 96.0, 3),
        Word("12:50", 593, 1810, 137, 42, 96.0, 3),
        Word("|", 691, 1786, 74, 23, 54.0, 2),
        Word("oe", 975, 1833, 170, 26, 18.0, 3),
    ]
    words += [Word(f"w{k}", 179 + 120 * k, 2200, 100, 26, 95.0, 4) for k in range(8)]  # the page's text size
    assert "12:50" in extract_fields(Layout(words, 1240, 1754)).values["time"].text


def test_a_table_of_one_unmistakable_row_is_read_without_label_or_heads() -> None:
    """Label and heads garbled, one row: a code with a dash, words, and a quantity with its unit."""
    p = form(
        (200, 300, "收货单位:"),
        (200, 360, "上海恒达物流有限公司"),
        (200, 430, "上海市浦东新区张江路 88 号"),
        (200, 500, "货 . ，"),
        (230, 580, "全 品名 四 败 重"),
        (230, 650, "HD-7731 “ 门匀链 钢制 。 226 件"),
        (200, 760, "签收人: 陈静"),
    )
    found = extract_fields(p.layout())
    assert _rows(found) == [("HD-7731", 226)] and found.table_header is None
    # A line with a code but no unit after its number, or no words between, stands for no table.
    for line in ("DN-2026-004674 Page 1 2", "SE-44120 40 st", "C-1005 Nordic Timber AB 12"):
        assert extract_fields(form((200, 500, "Customer:"), (200, 600, line)).layout()).items == []


def test_one_line_shaped_like_an_item_row_is_no_table() -> None:
    """An address line with a code-like postcode and a number is not an item table."""
    p = form(
        (200, 300, "Unit 9, Dockside Road, Hull HU9 1TY Tel 01482 555 210"),
        (200, 500, "Customer:"),
        (800, 500, "Nordic Timber AB"),
    )
    assert extract_fields(p.layout()).items == []


def test_digits_go_on_across_a_space_only_as_a_thousands_group() -> None:
    """ "1 200 st" is 1200; "149 7" is no number (a speck beside 149: the cell is read without it)."""
    assert parse_qty("1 200 st", cell=True) == (1200, "st")
    assert parse_qty("149 7", cell=True) == (None, None)
    p = form(
        (200, 500, "Items:"),
        (230, 580, "Item No."),
        (600, 580, "Description"),
        (1500, 580, "Qty"),
        (230, 650, "SW-500"),
        (600, 650, "Stretch film 500 mm"),
        (1500, 650, "149"),
    )
    p.words.append(Word("7", 2005, 650, 37, H, 13.0, p.line))
    assert _rows(extract_fields(p.layout())) == [("SW-500", 149)]


def test_an_underscore_before_the_quantity_is_a_speck() -> None:
    """A rule's remains read "_" before the number are no part of it."""
    assert parse_qty("_ 6st", cell=True) == (6, "st")


def test_letters_are_digits_only_inside_the_quantitys_own_word() -> None:
    """ "8 oe" is 8 and a smudged unit, not 80; "23 |" is 23 beside a rule, not 231."""
    assert parse_qty("8 oe", cell=True) == (8, "oe")
    assert parse_qty("23 |", cell=True) == (23, None)
    assert parse_qty("1O", cell=True) == (10, None) and parse_qty("l2 st") == (12, "st")


def test_an_unsure_quantity_is_marked_for_a_second_look() -> None:
    """ "22 st" read "228" with no confidence: the reader reads the cell again (see reader.py)."""
    p = form(
        (230, 580, "Artikel"),
        (600, 580, "Benämning"),
        (1900, 580, "Antal"),
        (230, 650, "PL-1200"),
        (600, 650, "EUR-pall"),
        (230, 720, "HD-7731"),
        (600, 720, "Dörrgångjärn"),
        (1900, 720, "45"),
    )
    p.words.append(Word("228", 1900, 650, 66, H, 0.0, p.line + 1))
    rows = extract_fields(p.layout()).items
    assert [(r.sku, r.qty, r.qty_sure) for r in rows] == [("PL-1200", 228, False), ("HD-7731", 45, True)]


@pytest.mark.parametrize("label", ["日其:", "日斯:", "B 期 :", "等 收 时 间 ，"])
def test_a_garbled_chinese_time_label_is_known_by_the_date_beside_it(label: str) -> None:
    p = form((200, 500, "收货单位:"), (200, 560, "深圳华南电子有限公司"), (200, 700, f"{label} 2026-09-04 13:22"))
    found = extract_fields(p.layout())
    assert found.values["time"].text == "2026-09-04 13:22"
    assert "time" in {h.field for h in found.labels}


def test_of_two_time_labels_the_one_with_a_date_is_the_time() -> None:
    """A company name's "Ltd :" read "Lid :" passes for the Swedish "Tid:" higher on the page; the
    real "Date/Time:" label further down has the date under it."""
    p = form(
        (200, 300, "Consignee:"),
        (200, 380, "Brightwater Supplies Lid :"),
        (200, 450, "42 Canal Street"),
        (200, 900, "Date/Time:"),
        (200, 980, "27 Sep 2026 08:05"),
    )
    assert extract_fields(p.layout()).values["time"].text == "27 Sep 2026 08:05"


def test_a_garbled_chinese_label_without_a_date_is_no_time_label() -> None:
    p = form((200, 500, "收货单位:"), (200, 560, "深圳华南电子有限公司"), (200, 700, "日其: 刘洋"))
    assert "time" not in extract_fields(p.layout()).values


def test_a_speck_right_of_the_time_label_does_not_hide_the_date_under_it() -> None:
    p = form((200, 500, "收货单位:"), (200, 560, "北京闪城建材有限公司"), (200, 700, "签收时间: ， 机"), (200, 770, "2026 年 10 月 4 日 08:11"))
    assert extract_fields(p.layout()).values["time"].text == "2026 年 10 月 4 日 08:11"
    q = form((200, 700, "签收时间: 机"), (200, 770, "刘洋"))
    assert extract_fields(q.layout()).values["time"].text == "机"  # no date under it: the right stays


def test_a_speck_far_left_of_a_value_under_its_label_is_not_where_the_value_starts() -> None:
    p = Page()
    p.text(200, 700, "签收时间:")
    p.words.append(Word("，", 150, 790, 6, 6, 30.0, p.line + 1))
    p.text(300, 770, "2026 年 10 月 4 日 08:11")
    assert extract_fields(p.layout()).values["time"].text == "2026 年 10 月 4 日 08:11"


def test_codes_before_descriptions_are_skus_when_their_column_head_was_not_read() -> None:
    """ "Article No." wrapped over two lines: the header names Description and Qty only."""
    p = form(
        (230, 560, "Article"),
        (230, 610, "No."),
        (600, 610, "Description"),
        (1900, 610, "Qty"),
        (230, 680, "SE-44120 Wood screws M6 x 40"),
        (1900, 680, "46"),
        (230, 750, "PK-2040 Cardboard box 40x30x30"),
        (1900, 750, "8 pcs"),
    )
    found = extract_fields(p.layout())
    assert _rows(found) == [("SE-44120", 46), ("PK-2040", 8)]
    assert found.items[0].description == "Wood screws M6 x 40"


def test_specks_with_a_stray_digit_along_a_rule_are_no_item_line() -> None:
    """ "r t 4" read off a table rule at 150 dpi: no code and no words, so not a row; a wrapped
    description still joins the row above it and keeps that row's second-look boxes."""
    p = form(
        (230, 580, "Item No."),
        (600, 580, "Description"),
        (1900, 580, "Qty"),
        (230, 650, "CB-305"),
        (600, 650, "Cable ties 300 mm"),
        (1900, 650, "20"),
        (600, 700, "black"),
        (230, 750, "r"),
        (600, 750, "t"),
        (1900, 750, "4"),
        (230, 820, "NL-75"),
        (600, 820, "Nails"),
        (1900, 820, "18"),
    )
    rows = extract_fields(p.layout()).items
    assert [(r.sku, r.description, r.qty) for r in rows] == [("CB-305", "Cable ties 300 mm black", 20), ("NL-75", "Nails", 18)]
    assert rows[0].qty_box is not None and rows[0].sku_box is not None
