"""course_lib.tables.table: decimals per column, stable HTML, clear errors."""

import numpy as np
import pandas as pd
import pytest

from course_lib.tables import table

FRAME = pd.DataFrame({"firm": ["A", "B<C"], "price": [1.23456, 2.5], "count": [1000, 20],
                      "share": [0.1234, np.nan]})


def _html(styler) -> str:
    return styler.to_html()


def test_decimals_per_column_and_integers_with_separators():
    html = _html(table(FRAME, {"price": 2, "share": "{:.1%}"}, index=False))
    for cell in (">1.23<", ">2.50<", ">1,000<", ">20<", ">12.3%<"):
        assert cell in html
    assert "1.2346" not in html and "nan" not in html.lower()


def test_default_three_decimals_and_html_escaped_text():
    html = _html(table(FRAME))
    assert ">1.235<" in html and ">0.123<" in html
    assert "B&lt;C" in html and "B<C" not in html


def test_same_html_on_every_call_and_ids_from_labels_not_numbers():
    first = _html(table(FRAME, 2))
    assert first == _html(table(FRAME, 2))
    shifted = FRAME.assign(price=FRAME["price"] * (1 + 1e-15))  # last-bit noise: same id
    assert _html(table(shifted, 2)) == first
    other = _html(table(FRAME.rename(columns={"price": "cost"}), 2))
    assert other.split('id="')[1][:20] != first.split('id="')[1][:20]
    captioned = _html(table(FRAME, 2, caption="exogenous prices"))
    assert captioned.split('id="')[1][:20] != first.split('id="')[1][:20]
    assert "exogenous prices" in captioned


def test_numbers_right_text_left_and_padding():
    html = _html(table(FRAME))
    assert "text-align: right" in html and "padding" in html
    assert "td.col0 {\n  text-align: left;" in html  # the text column


def test_index_hidden_on_request():
    assert "row_heading" in _html(table(FRAME))
    assert "row_heading" not in _html(table(FRAME, index=False))


def test_bad_input_is_explained():
    with pytest.raises(TypeError, match="DataFrame"):
        table(FRAME["price"])
    with pytest.raises(KeyError, match="cost"):
        table(FRAME, {"cost": 2})
    with pytest.raises(ValueError, match="at least 0"):
        table(FRAME, -1)
