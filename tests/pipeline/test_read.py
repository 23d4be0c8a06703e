import pytest

from pipeline.read import as_scanned, default_partitions, set_name


@pytest.mark.parametrize(
    "photos,cores,expected",
    [(30, 2, 2), (5107, 2, 6), (1, 8, 8), (90_000, 2, 90), (90_000, 64, 128), (0, 2, 2)],
)
def test_partitions_are_full_waves_of_bounded_tasks(photos, cores, expected):
    assert default_partitions(photos, cores) == expected


def test_set_names_are_short_safe_and_unique():
    taken = {"train"}
    assert set_name("s3://bucket/fruits/Test/", taken) == "test"
    assert set_name("/data/My Validation Set", taken) == "my_validation_set"
    assert set_name("/data/train", taken) == "train_2"


@pytest.mark.parametrize(
    "listed,scanned",
    [
        ("file:///in/Apple%20Golden%201/0.jpg", "file:/in/Apple Golden 1/0.jpg"),
        ("s3://b/in/A%20b/1.jpg", "s3://b/in/A b/1.jpg"),
    ],
)
def test_listed_files_are_named_as_the_scan_names_them(listed, scanned):
    assert as_scanned(listed) == scanned
