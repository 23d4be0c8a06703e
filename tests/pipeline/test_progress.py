import io

import pytest

from pipeline.job.progress import Console


def test_a_stage_says_done_or_failed_and_keeps_its_time():
    stream = io.StringIO()
    console = Console(stream)
    with console.stage("list photos"):
        pass
    with pytest.raises(ValueError), console.stage("load model"):
        raise ValueError("weights file not found")
    lines = stream.getvalue().splitlines()
    assert lines[1].startswith("[list photos] done in ")
    assert lines[3].startswith("[load model] failed after ")  # not "done": the error line follows it
    assert set(console.timings) == {"list photos", "load model"}
