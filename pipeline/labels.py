"""The label vocabulary of a sign-off sheet, in English, Swedish and Chinese (SHEET_FORMAT.md)."""

from __future__ import annotations

__all__ = ["COLUMN_LABELS", "FIELD_LABELS", "WEAK_LABELS"]

# Field -> label phrases. Matching is on normalised tokens (lower case, punctuation dropped, each
# CJK character its own token) and the longest phrase wins, so "Customer signature" is a signature
# label and "Received by" a receiver label, never a customer or a time label.
FIELD_LABELS: dict[str, tuple[str, ...]] = {
    "delivery_number": (
        "delivery no", "delivery number", "delivery note no", "delivery note number", "delivery note",
        "order no", "order number", "dn no", "pod no",
        "följesedel", "följesedel nr", "följesedelsnr", "följesedelnummer", "leveransnr",
        "leverans nr", "leveransnummer", "ordernr",
        "送货单号", "单号", "送货单编号",
    ),
    "customer": (
        "customer", "customer name", "consignee", "ship to", "deliver to",
        "kund", "kundnamn", "mottagare",
        "客户", "客户名称", "收货单位", "收货方",
    ),
    "customer_id": (
        "customer no", "customer number", "customer id", "kundnr", "kundnummer", "客户编号",
    ),
    "items": (
        "items", "item list", "articles", "goods", "items delivered", "delivered items", "goods delivered",
        "item details", "artiklar", "varor", "levererade artiklar", "levererade varor",
        "货品", "货品清单", "货品明细", "货物明细", "商品明细", "明细",
    ),
    "time": (
        "received", "received date", "received time", "received date time", "received at",
        "date of receipt", "time of receipt", "date and time of receipt", "receipt date",
        "date", "time", "date time", "delivery date",
        "mottaget", "mottagningsdatum", "datum", "tid", "datum tid", "mottaget datum", "mottaget datum tid",
        "签收时间", "签收日期", "日期", "时间", "收货时间",
    ),
    "receiver": (
        "received by", "receiver", "receiver name", "name", "print name", "name in print",
        "mottagen av", "mottaget av", "namn", "namnförtydligande",
        "签收人", "收货人", "签收人姓名",
    ),
    "signature": (
        "signature", "customer signature", "sign", "signed", "receiver signature",
        "signatur", "underskrift", "kundens underskrift", "mottagarens underskrift",
        "签名", "客户签字", "签字", "客户签名", "签收人签字",
    ),
    "remarks": (
        "remarks", "remark", "notes", "note", "comments", "comment",
        "anmärkning", "anmärkningar", "kommentar", "kommentarer", "övrigt",
        "备注", "说明",
    ),
}

# Short, common words that count as a label only when they look like one (a colon after them, or
# standing alone at the start of a line), not in the middle of a sentence.
WEAK_LABELS = frozenset(
    {"date", "time", "name", "note", "notes", "sign", "signed", "tid", "datum", "namn", "日期", "时间",
     "received", "goods", "items", "kund", "说明", "comment", "comments", "date time"}
)

# Item table column headers -> the column they head.
COLUMN_LABELS: dict[str, tuple[str, ...]] = {
    "sku": (
        "sku", "article no", "article number", "art no", "item no", "item number", "article",
        "product no", "part no", "code", "item code",
        "artikel", "artikelnr", "art nr", "artikelnummer",
        "货号", "编号", "货品编号", "产品编号", "物料编号",
    ),
    "description": (
        "description", "item", "product", "goods", "item description", "designation",
        "benämning", "beskrivning", "produkt", "vara",
        "品名", "货品", "名称", "货品名称", "描述", "产品名称",
    ),
    "qty": (
        "qty", "quantity", "qty pcs", "amount", "count", "pcs",
        "antal", "kvantitet", "st",
        "数量", "件数",
    ),
    "unit": ("unit", "uom", "enhet", "单位"),
}
