"""The listing: every file under an input, local or S3, in exactly one bucket, with its reason or label."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from pipeline.storage import listing as listing_module
from pipeline.storage.listing import FOLDER_MARKER, NO_LABEL, Listing, label_of, list_local, list_s3
from tests.conftest import s3_test_environment
from tests.pipeline.photo_zoo import DECODE_FAILURES, write_folder_cases


def buckets(listing: Listing) -> dict[str, tuple[str, str]]:
    """{path below the input: (bucket, label or reason)} of a listing."""
    start = len(listing.uri.rstrip("/")) + 1
    found = {path[start:]: ("photo", label) for path, label in zip(listing.paths, listing.labels)}
    found |= {path[start:]: ("skipped", reason) for path, reason in listing.skipped}
    found |= {path[start:]: ("ignored", reason) for path, reason in listing.ignored}
    assert len(found) == listing.files  # no file in two buckets
    return found


def independent_listing(folder: Path) -> set[str]:
    """Every file below `folder` by os.walk, links followed, no filter of any kind."""
    return {
        os.path.relpath(os.path.join(parent, name), folder)
        for parent, _, names in os.walk(folder, followlinks=True)
        for name in names
    }


def test_every_file_lands_in_one_bucket_with_its_reason(tmp_path, sample_photo):
    cases = write_folder_cases(tmp_path, sample_photo)
    listing = list_local(str(tmp_path / "input"))
    found = buckets(listing)
    assert set(found) == set(cases) == independent_listing(tmp_path / "input")
    for relative, (bucket, expected) in cases.items():
        if relative in DECODE_FAILURES:  # read, then skipped by the workers
            bucket, expected = "photo", relative.split("/")[0]
        assert found[relative][0] == bucket, relative
        assert expected == found[relative][1] if bucket == "photo" else expected in found[relative][1], relative
    assert listing.uri == "file:" + str(tmp_path / "input")
    assert listing.paths == sorted(listing.paths) and all(p.startswith("file:/") for p in listing.paths)
    assert listing.sizes[listing.paths.index(listing.uri + "/Banana/link.jpg")] == len(sample_photo)  # the target's


def test_labels_are_the_first_folder_below_the_input():
    assert label_of("Apple/2024/06/x.jpg") == label_of("Apple/x.jpg") == "Apple"
    assert label_of("x.jpg") is None and label_of("/x.jpg") is None


def test_a_link_to_a_folder_above_is_skipped_not_followed(tmp_path, sample_photo):
    (tmp_path / "Apple").mkdir()
    (tmp_path / "Apple" / "a.jpg").write_bytes(sample_photo)
    (tmp_path / "Apple" / "again").symlink_to(tmp_path, target_is_directory=True)
    listing = list_local(str(tmp_path))
    assert listing.paths == [f"file:{tmp_path}/Apple/a.jpg"]
    assert listing.skipped == [(f"file:{tmp_path}/Apple/again/", "link loop: links to a folder above it, not followed")]


def test_an_unreadable_folder_is_skipped_with_its_reason(tmp_path, sample_photo, monkeypatch):
    for label in ("Apple", "Locked"):
        (tmp_path / label).mkdir()
        (tmp_path / label / "a.jpg").write_bytes(sample_photo)
    scandir = os.scandir

    def refusing(path):  # as a folder without read permission answers (tests run as root here)
        if str(path).endswith("Locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr(listing_module.os, "scandir", refusing)
    listing = list_local(str(tmp_path))
    assert listing.labels == ["Apple"]
    assert listing.skipped == [(f"file:{tmp_path}/Locked/", "unreadable folder: Permission denied")]


def test_photos_directly_in_the_input_have_no_label(tmp_path, sample_photo):
    (tmp_path / "a.jpg").write_bytes(sample_photo)
    listing = list_local(str(tmp_path))
    assert listing.paths == [] and listing.skipped == [(f"file:{tmp_path}/a.jpg", NO_LABEL)]
    assert listing.unlabelled == 1


def test_thousands_of_files_list_without_a_call_per_path(tmp_path):
    for label in range(20):
        folder = tmp_path / f"label {label}"
        folder.mkdir()
        for index in range(150):
            (folder / f"{index}.jpg").write_bytes(b"x")
    listing = list_local(str(tmp_path))
    assert len(listing.paths) == 3000 and set(listing.sizes) == {1} and len(set(listing.labels)) == 20


@pytest.fixture
def s3_endpoint(moto_s3, monkeypatch):
    """boto3 on the driver reaches moto's S3 (no Spark needed: the listing runs on the driver)."""
    s3_test_environment(monkeypatch, moto_s3)
    from pipeline.storage import s3

    return s3.client()


def upload_tree(client, bucket: str, folder: Path, prefix: str) -> set[str]:
    """The regular files under `folder` (links and pipes have no S3 equivalent) as objects under `prefix`."""
    client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-3"})
    uploaded = set()
    for parent, _, names in os.walk(folder):
        for name in names:
            path = Path(parent) / name
            if path.is_file() and not path.is_symlink():
                relative = path.relative_to(folder).as_posix()
                client.put_object(Bucket=bucket, Key=prefix + relative, Body=path.read_bytes())
                uploaded.add(relative)
    return uploaded


def test_s3_listing_puts_every_object_in_the_bucket_a_local_listing_does(tmp_path, sample_photo, s3_endpoint):
    write_folder_cases(tmp_path, sample_photo)
    bucket = f"listing-{time.time_ns()}"
    uploaded = upload_tree(s3_endpoint, bucket, tmp_path / "input", "photos/in put/")
    s3_endpoint.put_object(Bucket=bucket, Key="photos/in put/Apple/", Body=b"")  # the console's "Create folder"
    s3_endpoint.put_object(Bucket=bucket, Key="photos/in put-other/Apple/z.jpg", Body=sample_photo)  # a neighbour
    listing = list_s3(f"s3://{bucket}/photos/in put")
    local = buckets(list_local(str(tmp_path / "input")))
    found = buckets(listing)
    assert found.pop("Apple/") == ("ignored", FOLDER_MARKER)
    assert found == {relative: case for relative, case in local.items() if relative in uploaded}
    assert listing.paths[0].startswith(f"s3://{bucket}/photos/in put/") and listing.paths == sorted(listing.paths)


def test_an_s3_prefix_that_cannot_be_listed_says_which(s3_endpoint):
    with pytest.raises(OSError, match="cannot list s3://no-such-bucket-here/x: .*NoSuchBucket"):
        list_s3("s3://no-such-bucket-here/x")


def test_each_photo_has_a_version_from_the_listing_alone(tmp_path, sample_photo, s3_endpoint):
    """Locally the modification time in ns, on S3 the ETag: a rewrite at the same path changes it."""
    photo = tmp_path / "in" / "Kiwi" / "a.jpg"
    photo.parent.mkdir(parents=True)
    photo.write_bytes(sample_photo)
    os.utime(photo, ns=(1, 1_700_000_000_123_456_789))
    assert list_local(str(tmp_path / "in")).versions == ["mtime_ns:1700000000123456789"]
    bucket = f"versions-{time.time_ns()}"
    upload_tree(s3_endpoint, bucket, tmp_path / "in", "p/")
    etag = s3_endpoint.head_object(Bucket=bucket, Key="p/Kiwi/a.jpg")["ETag"]
    assert list_s3(f"s3://{bucket}/p").versions == [f"etag:{etag}"]
    s3_endpoint.put_object(Bucket=bucket, Key="p/Kiwi/a.jpg", Body=sample_photo[::-1])
    assert list_s3(f"s3://{bucket}/p").versions != [f"etag:{etag}"]
