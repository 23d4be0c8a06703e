"""`predict` on files and folders, and its one line for a run folder it cannot use, without Spark or a model.

The answers themselves (the same features as the job's) are tested on a finished run in test_job.py.
"""

from __future__ import annotations

import json
import os

import pytest

import pipeline.model.predict
from pipeline.cli import main
from pipeline.model.predict import NO_PHOTOS, list_photos
from pipeline.storage.photo_names import EMPTY_FILE


class NamesEveryPhotoKiwi:
    """Stands in for a loaded run: answers each photo as `Predictor.answer` does, with a fixed label."""

    def answer(self, photo: str) -> dict:
        if not os.path.isfile(photo):
            return {"photo": photo, "error": "no such file or folder"}
        return {"photo": photo, "top": [{"label": "Kiwi", "score": 1.0}]}


@pytest.fixture
def folder(tmp_path, sample_photo):
    """Photos in label folders (one nested), one directly in the folder, an empty one, and files that are not photos."""
    root = tmp_path / "new photos"
    for relative in ("Kiwi/a.jpg", "Kiwi/2026/06/b.JPG", "loose.png", "Apple/c.jpeg"):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(sample_photo)
    (root / "Apple" / "empty.jpg").write_bytes(b"")
    (root / "notes.txt").write_text("not a photo")
    (root / "Kiwi" / ".DS_Store").write_bytes(b"\0")
    return root


def test_a_folder_is_the_photos_the_job_would_find_in_it_spelled_below_it(folder):
    given = str(folder) + "/"
    photos = list_photos(["one.jpg", given])
    assert photos.found == [
        ("one.jpg", None),  # a file is taken as given, found or not
        (given + "Apple/c.jpeg", None),
        (given + "Apple/empty.jpg", EMPTY_FILE),
        (given + "Kiwi/2026/06/b.JPG", None),
        (given + "Kiwi/a.jpg", None),
        (given + "loose.png", None),  # no label folder: the job skips it, predict needs no label
    ]
    assert sorted(path for path, _ in photos.ignored) == [given + "Kiwi/.DS_Store", given + "notes.txt"]


def test_a_folder_without_photos_is_one_error_answer(tmp_path):
    (tmp_path / "notes.txt").write_text("not a photo")
    photos = list_photos([str(tmp_path)])
    assert photos.found == [(str(tmp_path), NO_PHOTOS)] and len(photos.ignored) == 1


def test_predict_on_a_folder_answers_each_photo_on_its_line(folder, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(pipeline.model.predict, "load_predictor", lambda run: NamesEveryPhotoKiwi())
    code = main(["predict", "--run", str(tmp_path / "run"), str(folder), str(folder / "Kiwi" / "a.jpg")])
    out, err = capsys.readouterr()
    answers = [json.loads(line) for line in out.splitlines()]
    assert code == 1  # the empty photo
    assert [a["photo"] for a in answers] == [
        *(
            str(folder / p)
            for p in ("Apple/c.jpeg", "Apple/empty.jpg", "Kiwi/2026/06/b.JPG", "Kiwi/a.jpg", "loose.png")
        ),
        str(folder / "Kiwi" / "a.jpg"),
    ]
    assert answers[1] == {"photo": str(folder / "Apple" / "empty.jpg"), "error": EMPTY_FILE}
    assert all(answer["top"][0]["label"] == "Kiwi" for i, answer in enumerate(answers) if i != 1)
    (line,) = err.splitlines()
    assert line.startswith("ignored 2 file(s) that are not photos, e.g. ")


@pytest.mark.parametrize("made", [False, True], ids=["missing", "unfinished"])
def test_a_run_folder_that_cannot_be_used_is_one_line_saying_why(made, tmp_path, capsys, sample_photo):
    run = tmp_path / "output" / "RUN"
    if made:
        run.mkdir(parents=True)
    (tmp_path / "a.jpg").write_bytes(sample_photo)
    assert main(["predict", "--run", str(run), str(tmp_path / "a.jpg")]) == 2
    out, err = capsys.readouterr()
    (line,) = err.splitlines()
    assert out == ""
    if made:
        assert line == f"error: {run} is not a finished run (no _SUCCESS): give the folder of a run that succeeded"
    else:
        assert line == f"error: no such folder: {run} (give the folder of a run that succeeded)"
