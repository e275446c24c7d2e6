"""The console's charts as geometry (web/charts.py): bars proportional to their values on a
round scale, groups in order, weeks bucketed in the platform's zone."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from privguard.web.charts import bar_list, column_chart, nice_step, per_week, week_starts

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(("largest", "step"), [(0, 1), (3, 1), (7, 2), (9, 5), (40, 10),
                                               (41, 20), (130, 50), (999, 500)])
def test_ticks_are_round_and_reach_the_largest_value(largest: int, step: int) -> None:
    assert nice_step(largest) == step
    assert 4 * step >= largest


def test_columns_are_proportional_and_grouped_in_order() -> None:
    chart = column_chart(["w1", "w2"], {"granted": [2, 8], "withdrawn": [4, 0]},
                         width=420, height=200)
    by = {(b.category, b.series): b for b in chart.bars}
    assert by[("w2", "granted")].height == pytest.approx(4 * by[("w1", "granted")].height)
    assert by[("w1", "withdrawn")].height == pytest.approx(2 * by[("w1", "granted")].height)
    assert by[("w2", "withdrawn")].height == 0
    # Every bar stands on the axis, and the scale's top tick is at least the largest value.
    assert all(b.y + b.height == pytest.approx(chart.plot_bottom) for b in chart.bars)
    assert chart.ticks[-1].value >= 8 and chart.ticks[0].value == 0
    # Groups left to right in category order; within a group, series in the order given.
    xs = [b.x for b in chart.bars]
    assert xs == sorted(xs)
    assert chart.rows == [("w1", [2, 4]), ("w2", [8, 0])]


def test_a_series_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError, match="granted"):
        column_chart(["a", "b"], {"granted": [1]})


def test_an_empty_chart_still_has_a_scale() -> None:
    chart = column_chart(["a"], {"x": [0]})
    assert [t.value for t in chart.ticks] == [0, 1] and chart.bars[0].height == 0
    assert bar_list([]).bars == ()


def test_horizontal_bars_scale_to_the_longest() -> None:
    chart = bar_list([("骚扰", 6), ("泄露", 3)])
    assert chart.bars[0].width == pytest.approx(2 * chart.bars[1].width)
    assert chart.bars[0].width <= chart.width - chart.label_width


def test_weeks_start_on_monday_in_shanghai_and_bucket_by_local_date() -> None:
    # Sunday 2026-11-29 20:00 in Shanghai is still Sunday's week; Monday starts a new one.
    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    starts = week_starts(now, 3, SHANGHAI)
    assert starts == [date(2026, 11, 9), date(2026, 11, 16), date(2026, 11, 23)]
    moments = [
        datetime(2026, 11, 23, 15, 59, tzinfo=UTC),  # Mon 23:59 in Shanghai: last week
        datetime(2026, 11, 22, 16, 0, tzinfo=UTC),  # Mon 00:00 in Shanghai: last week
        datetime(2026, 11, 22, 15, 59, tzinfo=UTC),  # Sun 23:59 in Shanghai: the week before
        datetime(2026, 10, 1, tzinfo=UTC),  # before the window: not counted
    ]
    assert per_week(moments, starts, SHANGHAI) == [0, 1, 2]
