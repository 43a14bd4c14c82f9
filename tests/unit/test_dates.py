"""Dates in every shape SHEET_FORMAT.md lists, day-first or month-first by setting."""

from __future__ import annotations

from datetime import datetime

import pytest

from pipeline.dates import find_datetime, is_plausible


@pytest.mark.parametrize(
    ("text", "order", "iso"),
    [
        ("2025-03-14 10:30", "DMY", "2025-03-14T10:30"),
        ("14/03/2025 10:30", "DMY", "2025-03-14T10:30"),
        ("03/14/2025 10:30 AM", "MDY", "2025-03-14T10:30"),
        ("03/14/2025 02:30 PM", "MDY", "2025-03-14T14:30"),
        ("14.03.2025", "DMY", "2025-03-14"),
        ("2025年3月14日 10:30", "DMY", "2025-03-14T10:30"),
        ("14 Mar 2025", "DMY", "2025-03-14"),
        ("14 mars 2025 kl 09.15", "DMY", "2025-03-14T09:15"),
        ("March 14, 2025 10:30", "MDY", "2025-03-14T10:30"),
        ("Received: 2O25-03-l4 10:30", "DMY", "2025-03-14T10:30"),  # OCR slips O/0 and l/1
        ("03/04/2025", "DMY", "2025-04-03"),
        ("03/04/2025", "MDY", "2025-03-04"),
    ],
)
def test_shapes(text: str, order: str, iso: str) -> None:
    parsed = find_datetime(text, order)
    assert parsed is not None
    assert parsed.iso() == iso


def test_month_first_date_is_not_guessed_under_day_first() -> None:
    assert find_datetime("03/14/2025 10:30", "DMY") is None


@pytest.mark.parametrize("text", ["", "no date here", "Qty 12 pcs", "45/45/2025", "35/13/2025"])
def test_no_date(text: str) -> None:
    assert find_datetime(text, "DMY") is None


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("64.16.2026 13:89", "2026-10-04T13:09"),  # dotted zeros read as 6 and 8
        ("2026-18-04 13:69", "2026-10-04T13:09"),
        ("12/10/2026 17:99", "2026-10-12T17:09"),
    ],
)
def test_out_of_range_digits_are_mended_when_only_one_reading_fits(text: str, iso: str) -> None:
    parsed = find_datetime(text, "DMY")
    assert parsed is not None and parsed.repaired and parsed.iso() == iso


def test_a_date_valid_in_the_other_order_is_not_mended() -> None:
    assert find_datetime("05/18/2026", "DMY") is None
    assert find_datetime("2028-03-01 10:00", "DMY").repaired is False  # a year is not mended here


def test_a_year_one_misread_digit_off_is_mended_only_to_the_one_plausible_year() -> None:
    from pipeline.dates import mend_year

    now = datetime(2026, 11, 1)
    assert mend_year(datetime(2626, 10, 4, 11, 25), now) == datetime(2026, 10, 4, 11, 25)  # dotted zero
    assert mend_year(datetime(2028, 3, 1, 10, 0), now) is None  # written in the future: 2020 is too old
    assert mend_year(datetime(2019, 3, 1, 10, 0), now) is None  # years off, no slip of a plausible year
    assert mend_year(datetime(2624, 2, 29), datetime(2026, 1, 10)) == datetime(2024, 2, 29)


def test_plausible() -> None:
    now = datetime(2026, 11, 24, 12, 0)
    assert is_plausible(datetime(2026, 11, 20, 9, 0), now)
    assert not is_plausible(datetime(2027, 1, 1), now)
    assert not is_plausible(datetime(2019, 1, 1), now)


def test_a_time_whose_colon_was_lost_right_after_a_date_is_read_and_marked_mended() -> None:
    got = find_datetime("2026 年 9 月 5 日 1053", "DMY")
    assert got is not None and got.iso() == "2026-09-05T10:53" and got.repaired
    got = find_datetime("17.09.2026 0754", "DMY")
    assert got is not None and got.iso() == "2026-09-17T07:54" and got.repaired
    # Four digits that are no time stay out of it: a date alone.
    got = find_datetime("12/03/2026 4711", "DMY")
    assert got is not None and got.iso() == "2026-03-12" and not got.has_time


def test_a_semicolon_for_the_colon_and_a_rule_after_the_minutes_keep_the_clock_time() -> None:
    got = find_datetime("2026 年 9 月 13 日 13;15", "DMY")
    assert got is not None and got.iso() == "2026-09-13T13:15"
    got = find_datetime(": 19 Sep 2026 08:36| SO", "DMY")
    assert got is not None and got.iso() == "2026-09-19T08:36"
    got = find_datetime("19 Sep 2026 08:3l", "DMY")  # a one in the minutes is still a one
    assert got is not None and got.iso() == "2026-09-19T08:31"


def test_a_date_with_a_month_name_run_together_with_its_time_is_read_apart() -> None:
    got = find_datetime("27Sep202608:05 is oO", "DMY")
    assert got is not None and got.iso() == "2026-09-27T08:05"


def test_a_date_and_time_run_together_are_read_apart() -> None:
    got = find_datetime("2026-10-2610:06", "DMY")
    assert got is not None and got.iso() == "2026-10-26T10:06" and not got.repaired
    got = find_datetime("17.09.202607:54", "DMY")
    assert got is not None and got.iso() == "2026-09-17T07:54"
    got = find_datetime("2026-10-301533", "DMY")  # and the colon lost too
    assert got is not None and got.iso() == "2026-10-30T15:33" and got.repaired


def test_a_one_read_as_four_beside_a_speck_is_mended() -> None:
    got = find_datetime('"47.09.2026 07:54', "DMY")
    assert got is not None and got.iso() == "2026-09-17T07:54" and got.repaired


def test_slashes_read_as_ones_are_slashes_when_a_date_comes_of_it() -> None:
    got = find_datetime("1610912026 12:59", "DMY")
    assert got is not None and got.iso() == "2026-09-16T12:59" and got.repaired
    assert find_datetime("4711234567", "DMY") is None  # a number that is no date stays one
