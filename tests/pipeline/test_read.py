import pytest

from pipeline.read import as_scanned, set_name


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
