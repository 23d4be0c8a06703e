import pytest

from pipeline.contract.errors import InputError
from pipeline.job.photo_rows import named_sets, no_photos, open_photo_set, photo_frame, set_name, slices
from pipeline.storage.listing import Listing, list_local


def test_set_names_are_short_safe_and_unique():
    taken = {"train"}
    assert set_name("s3://bucket/fruits/Test/", taken) == "test"
    assert set_name("/data/My Validation Set", taken) == "my_validation_set"
    assert set_name("/data/train", taken) == "train_2"


def test_sets_are_named_after_their_folders_after_those_named_already():
    named = named_sets(["/d/train", "/d/Test", "/e/test/"], [("train", "/d/in")])
    assert named == [("train", "/d/in"), ("train_2", "/d/train"), ("test", "/d/Test"), ("test_2", "/e/test/")]


@pytest.mark.parametrize(
    "photos,partitions,expected",
    [(5107, 6, (852, 6)), (30, 2, (15, 2)), (100, 12, (9, 12)), (7, 6, (2, 4)), (1, 4, (1, 1)), (10, 1, (10, 1))],
)
def test_photos_are_cut_into_consecutive_slices_no_more_than_planned(photos, partitions, expected):
    assert slices(photos, partitions) == expected


def test_the_photo_frame_has_the_planned_slices_in_path_order(spark, tmp_path, sample_photo):
    for label in ("Apple", "Kiwi"):
        (tmp_path / label).mkdir()
        for index in range(15):
            (tmp_path / label / f"{index:02}.jpg").write_bytes(sample_photo)
    listing = list_local(str(tmp_path))
    before = spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch")
    frame = photo_frame(spark, listing, 4)
    assert spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch") == before  # the session's own again
    assert frame.rdd.getNumPartitions() == 4
    parts = frame.rdd.glom().collect()
    assert [len(part) for part in parts] == [8, 8, 8, 6]
    rows = [row for part in parts for row in part]
    assert [r.path for r in rows] == listing.paths and {r.size for r in rows} == {len(sample_photo)}
    assert [r.label for r in rows] == ["Apple"] * 15 + ["Kiwi"] * 15


def test_inputs_without_a_photo_to_read_are_refused_in_one_line(tmp_path, sample_photo):
    (tmp_path / "flat").mkdir()
    for index in range(3):
        (tmp_path / "flat" / f"{index}.jpg").write_bytes(sample_photo)
    with pytest.raises(InputError, match=r"no label folders in .*flat: expected one folder per label, .*flat/<Label>/"):
        open_photo_set("train", str(tmp_path / "flat"))
    (tmp_path / "photo.jpg").write_bytes(sample_photo)
    with pytest.raises(InputError, match="input must be a folder"):
        open_photo_set("train", str(tmp_path / "photo.jpg"))
    with pytest.raises(InputError, match="input must be a local folder or s3://"):
        open_photo_set("train", "hdfs://namenode/photos")
    empty = Listing("file:/in", skipped=[("file:/in/A/e.jpg", "empty file (0 bytes)")])
    assert (
        no_photos("/in", empty) == "none of the 1 photos under /in can be read (file:/in/A/e.jpg: empty file (0 bytes))"
    )
