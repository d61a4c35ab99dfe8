import math

import pytest

from stillframe import Dots, Interval, Quantity, sampling_from_dict
from stillframe.errors import InvalidParameter, MissingParameter
from stillframe.geometry import plan_geometry
from stillframe.sampling import from_huawei, from_ice, from_mps


def test_interval():
    assert Interval(10).resolve(35).times == [0, 10, 20, 30]
    assert Interval(10).resolve(30).times == [0, 10, 20]  # 30 s is the end, not a frame
    s = Interval(10, start=5, count=5).resolve(32)
    assert s.times == [5, 15, 25]
    assert (s.requested, s.dropped) == (5, 2)
    assert "35.000 s is at or past the end" in s.reason
    assert Interval(0, count=4).resolve(20).times == [0, 5, 10, 15]
    assert Interval(0, start=4, count=4).resolve(20).times == [4, 8, 12, 16]


def test_dots_and_quantity():
    s = Dots([3, 1, 50, 2]).resolve(10)
    assert s.times == [3, 1, 2]  # in the order given
    assert s.dropped == 1
    assert Quantity(4).resolve(8).times == [0, 2, 4, 6]
    q = Quantity(5, every=3).resolve(10)
    assert q.times == [0, 3, 6, 9]
    assert q.dropped == 1


@pytest.mark.parametrize(
    "make",
    [
        lambda: Interval(-1),
        lambda: Interval(math.nan),
        lambda: Interval(0),
        lambda: Interval(1, count=0),
        lambda: Dots([1, -2]),
        lambda: Quantity(0),
        lambda: Quantity(2, every=0),
    ],
)
def test_bad_specs(make):
    with pytest.raises(InvalidParameter):
        make()
    with pytest.raises(MissingParameter):
        Dots([])


def test_mps_time_is_milliseconds():
    spec = from_mps({"Time": "2500", "Interval": "5", "Num": "3"})
    assert spec == Interval(5.0, start=2.5, count=3)
    assert from_mps({"Time": 1000}) == Dots([1.0])  # one snapshot: sync mode
    assert from_mps({"Num": 4}) == Interval(10.0, count=4)  # default interval 10 s
    assert from_mps({"Interval": 0, "Num": 4}).resolve(40).times == [0, 10, 20, 30]
    with pytest.raises(InvalidParameter):
        from_mps({"Num": 0})
    with pytest.raises(InvalidParameter):
        from_mps({"Time": "soon"})


def test_ice_and_huawei():
    assert from_ice({"SpecifiedOffsetTime": 3000, "Count": 2, "Interval": 4}) == Interval(4.0, start=3.0, count=2)
    assert from_huawei({"type": "time", "time": 5}) == Interval(5.0)
    assert from_huawei({"type": "time"}) == Interval(12.0)
    assert from_huawei({"type": "dots", "dots": [1, 2.5]}) == Dots([1.0, 2.5])
    assert from_huawei({"type": "quantity", "quantity": 3}) == Quantity(3)
    assert from_huawei({"type": "quantity", "quantity": 3, "quantity_time": 2}) == Quantity(3, 2.0)
    for bad in ({"type": "quantity", "quantity": 11}, {"type": "time", "time": 101}, {"type": "frames"}):
        with pytest.raises(InvalidParameter):
            from_huawei(bad)
    with pytest.raises(MissingParameter):
        from_huawei({"type": "dots"})
    assert sampling_from_dict({"type": "dots", "dots": [1]}) == Dots([1.0])
    assert sampling_from_dict({"Time": 0, "Num": 2}) == Interval(10.0, count=2)
    assert sampling_from_dict({"Count": 2, "Interval": 1}) == Interval(1.0, count=2)


def test_geometry():
    g = plan_geometry(1920, 1080, 0, width=480)
    assert (g.width, g.height) == (480, 270)
    g = plan_geometry(1920, 1080, 0, height=101)
    assert (g.width, g.height) == (180, 102)  # even sides for 4:2:0
    g = plan_geometry(1920, 1080, 0, width=100, height=100)
    assert (g.width, g.height) == (100, 100)
    g = plan_geometry(1080, 1920, 90, max_length=480)
    assert (g.width, g.height, g.scale_w, g.scale_h) == (270, 480, 480, 270)
    g = plan_geometry(640, 480, 0, aspect_ratio="16:9")
    assert (g.width, g.height, g.image_w, g.image_h) == (854, 480, 640, 480)
    g = plan_geometry(320, 100, 0, aspect_ratio="16:9")
    assert (g.width, g.height) == (320, 180)
    g = plan_geometry(640, 360, 0, max_length=1000)
    assert (g.width, g.height) == (640, 360)  # max_length never enlarges


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("5", 5.0),
        ("7.25", 7.25),
        ("90s", 90.0),
        ("1500ms", 1.5),
        ("1.5ms", 0.0015),
        ("250us", 0.00025),
        ("01:30", 90.0),
        ("1:05.5", 65.5),
        ("00:00:05", 5.0),
        ("100:00:00", 360000.0),
        ("-00:01", -1.0),
        ("0.1234567", 0.123456),  # as FFmpeg: to the microsecond
    ],
)
def test_times_in_ffmpegs_syntax(text, seconds):
    from stillframe._timespec import parse_time

    assert parse_time(text) == seconds


@pytest.mark.parametrize("text", ["abc", "", "5 s", "5m", "1:60", "60:00", "1::2", "1e3", "00:01ms"])
def test_anything_else_names_the_syntax(text):
    from stillframe._timespec import parse_time

    with pytest.raises(ValueError, match=r"is not a time.*\[HH:\]MM:SS"):
        parse_time(text)


def test_times_typed_as_strings_in_samplings_and_service_dicts():
    assert Interval("00:00:10", start="500ms").resolve(31).times == [0.5, 10.5, 20.5, 30.5]
    assert Dots(["1.5", "01:00", "250ms"]).times == [1.5, 60.0, 0.25]
    assert Quantity(2, every="2s").every == 2.0
    # A plain number in a string keeps the field's unit; a time with a unit is converted to it.
    for start in ("1500", "1.5s", "1500ms", "00:00:01.5"):
        assert from_mps({"Time": start, "Interval": "00:10", "Num": 3}) == Interval(10, start=1.5, count=3)
    assert from_ice({"SpecifiedOffsetTime": "2s", "Count": 2, "Interval": "5"}) == Interval(5, start=2.0, count=2)
    assert from_huawei({"type": "dots", "dots": ["1.5", "00:00:02", 3]}) == Dots([1.5, 2.0, 3.0])
    assert from_huawei({"type": "time", "time": "00:30"}) == Interval(30)
    assert from_huawei({"type": "quantity", "quantity": 2, "quantity_time": "1500ms"}) == Quantity(2, 1.5)
    for bad, field in [({"Time": "soon"}, "Time"), ({"Interval": "10 s"}, "Interval")]:
        with pytest.raises(InvalidParameter, match=f"{field}: '.*' is not a time"):
            from_mps(bad)
    with pytest.raises(InvalidParameter, match="thumbnail_para.dots: 'abc' is not a time"):
        from_huawei({"type": "dots", "dots": ["1", "abc"]})
    with pytest.raises(InvalidParameter, match="Dots time: 'x' is not a time"):
        Dots(["x"])
    # Negative times are refused where they were before.
    with pytest.raises(InvalidParameter, match=">= 0"):
        Dots(["-00:01"])
    with pytest.raises(InvalidParameter, match="Time must be >= 0"):
        from_mps({"Time": "-1s"})
