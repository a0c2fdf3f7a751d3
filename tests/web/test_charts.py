"""The dashboard's server-side SVG charts: valid SVG whatever the data, and drawn where the numbers say."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from web.charts import HEIGHT, LEFT, RIGHT, TOP, WIDTH, Series, line_chart, nice_ticks

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # raises on anything that is not well-formed XML
    assert root.tag == f"{SVG}svg"
    assert root.get("viewBox") == f"0 0 {WIDTH} {HEIGHT}"
    return root


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text")]


def polyline_points(root: ET.Element) -> list[list[tuple[float, float]]]:
    return [
        [(float(x), float(y)) for x, y in (pair.split(",") for pair in line.get("points", "").split())]
        for line in root.iter(f"{SVG}polyline")
    ]


def test_given_no_data_the_chart_is_valid_svg_that_says_so() -> None:
    root = parse(line_chart([Series("loss", [])], title="Training loss", empty="Waiting for the first epoch"))

    assert "Waiting for the first epoch" in texts(root)
    assert root.find(f"{SVG}title") is not None and root.find(f"{SVG}title").text == "Training loss"  # type: ignore[union-attr]
    assert not list(root.iter(f"{SVG}polyline"))


def test_given_a_series_the_line_has_a_point_per_value_inside_the_plot_area() -> None:
    values = [0.9, 0.5, 0.3, 0.2]

    root = parse(line_chart([Series("loss", list(enumerate(values, start=1)))], title="Loss"))

    (points,) = polyline_points(root)
    assert len(points) == len(values)
    assert all(LEFT <= x <= WIDTH - RIGHT and TOP <= y <= HEIGHT for x, y in points)
    assert points[0][0] == LEFT and points[-1][0] == WIDTH - RIGHT  # first and last epoch span the axis
    ys = [y for _, y in points]
    assert ys == sorted(ys)  # a falling loss is drawn going down (SVG y grows downwards)
    assert "loss 0.2" in texts(root)  # the legend reads the latest value


def test_when_a_fixed_domain_is_given_a_run_in_progress_fills_only_its_part_of_the_axis() -> None:
    root = parse(line_chart([Series("mAP", [(1, 0.5), (2, 0.7)])], title="mAP", x_domain=(1, 101)))

    (points,) = polyline_points(root)
    assert points[-1][0] < LEFT + (WIDTH - LEFT - RIGHT) * 0.05


def test_when_names_carry_markup_it_is_escaped_not_drawn() -> None:
    svg = line_chart([Series("<script>x</script>", [(0, 1), (1, 2)])], title='a "quoted" & <b>bold</b> title')

    root = parse(svg)

    assert "<script>" not in svg and not list(root.iter("script")) and not list(root.iter(f"{SVG}script"))
    assert 'a "quoted" & <b>bold</b> title' in texts(root)


def test_a_single_point_is_drawn_as_a_dot_and_several_series_each_get_a_line() -> None:
    one = parse(line_chart([Series("mAP", [(1, 0.4)])], title="one"))
    two = parse(line_chart([Series("a", [(0, 1), (1, 3)]), Series("b", [(0, 2), (1, 0)])], title="two"))

    assert len(list(one.iter(f"{SVG}circle"))) == 1
    assert len(polyline_points(two)) == 2


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0, 1, [0, 0.25, 0.5, 0.75, 1]),
        (0, 0.93, [0, 0.25, 0.5, 0.75, 1]),
        (0, 7, [0, 2, 4, 6, 8]),
        (0, 0, [0, 0.25, 0.5, 0.75, 1]),
        (3, 3, [3, 4, 5, 6]),
    ],
)
def test_axis_ticks_are_round_numbers_covering_the_data(
    low: float, high: float, expected: list[float]
) -> None:
    assert nice_ticks(low, high) == expected


def test_a_series_can_say_what_its_legend_reads() -> None:
    root = parse(
        line_chart([Series("tagged", [(0, 3), (1, 0)], legend="tagged (3)")], title="Photos per minute")
    )

    assert "tagged (3)" in texts(root) and "tagged 0" not in texts(root)
