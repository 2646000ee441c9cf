"""gateway.tables: the one text-table printer the commands share."""

import re

import pytest

from gateway.tables import format_table, table_lines


def test_a_ruled_left_aligned_table_pads_to_the_widest_cell_and_trims_line_ends():
    text = format_table(("a", "bb", "c"), [(1, None, "x"), ("long cell", 2, "")], rule=True)
    assert text.splitlines() == ["a          bb  c",
                                 "---------  --  -",
                                 "1              x",
                                 "long cell  2"]


def test_least_widths_alignment_and_one_separator_per_gap_give_the_fixed_column_layouts():
    rows = [("day 2025-12-31", "12.346", "+4.5%", "ok")]
    lines = table_lines(("period", "m³", "drift", "note"), rows, align="<>>",
                        min_widths=(18, 14, 8), sep=(" ", " ", "  "))
    assert lines == [f"{'period':<18} {'m³':>14} {'drift':>8}  note",
                     f"{'day 2025-12-31':<18} {'12.346':>14} {'+4.5%':>8}  ok"]


def test_a_headerless_indented_table_fits_the_config_summary_device_lines():
    row = ("flow-meter", "tuf-2000m", "id 1", "meter", "every 1 s, 9 points")
    line = format_table(None, [row], min_widths=(18, 16, 20, 7), sep=" ", indent="    ")
    assert line == (f"    {'flow-meter':<18} {'tuf-2000m':<16} {'id 1':<20} {'meter':<7} "
                    "every 1 s, 9 points")  # as config.py's _device_line writes it


def test_a_cell_wider_than_its_least_width_widens_its_whole_column():
    lines = table_lines(("name", "n"), [("a-long-name", 1), ("b", 22)], align="<>",
                        min_widths=(4, 3), sep=" ")
    assert lines == ["name          n", "a-long-name   1", "b            22"]


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"align": "<^"}, "align '<^': expected at most 2 characters, each '<' or '>'"),
    ({"sep": (" ", " ")}, "sep: expected one text or 1 (one per gap); got 2"),
])
def test_a_wrong_layout_says_what_was_given_and_what_is_expected(kwargs, expected):
    with pytest.raises(ValueError, match=re.escape(expected)):
        table_lines(("a", "b"), [(1, 2)], **kwargs)


def test_rows_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match=r"every row needs 2 cells"):
        table_lines(("a", "b"), [(1,)])
