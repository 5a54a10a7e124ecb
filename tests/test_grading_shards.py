"""Many machines: ``--shard K/N`` splits a batch, ``rnnbook-grade merge`` joins it."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import nbformat
import pytest

from rnnbook.grading import cli
from rnnbook.grading.runner import select_shard

ROOT = Path(__file__).resolve().parent.parent


def _nb(kind: str, ex: str):
    return nbformat.read(ROOT / kind / f"{ex}.ipynb", as_version=4)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("course")
    wrong = copy.deepcopy(_nb("solutions", "05_gru"))
    cell = next(c for c in wrong.cells if "h = (1 - z) * n + z * h_prev" in c.source)
    cell.source = cell.source.replace("h = (1 - z) * n + z * h_prev",
                                      "h = z * n + (1 - z) * h_prev")
    notebooks = {"alice": _nb("solutions", "01_rnn_forward"),
                 "bob": _nb("exercises", "01_rnn_forward"),
                 "carol": _nb("solutions", "02_rnn_backward"),
                 "dave": wrong,
                 "erin": _nb("solutions", "03_char_model")}
    for name, nb in notebooks.items():
        nbformat.write(nb, d / f"{name}.ipynb")
    (d / "frank.ipynb").write_text("{not json")
    return d


def _scores(reports):
    """Everything but the feedback text (which names the random inputs of a failure)."""
    return [{k: v for k, v in r.items() if k != "questions"}
            | {"questions": [(q["name"], q["score"], q["max_score"]) for q in r["questions"]]}
            for r in reports]


def test_the_shards_cover_every_submission_once():
    paths = [f"s{i:02d}.ipynb" for i in range(11)]
    shards = [select_shard(paths, (k, 4)) for k in range(1, 5)]
    assert sorted(p for s in shards for p in s) == sorted(paths)
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    with pytest.raises(ValueError, match="1 <= K <= N"):
        select_shard(paths, (5, 4))


def _files(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(folder.iterdir())}


def test_the_joined_gradebook_equals_the_one_machine_gradebook(folder, tmp_path):
    whole, joined, parts_dir = (tmp_path / n for n in ("whole", "joined", "parts"))
    for d in (whole, joined, parts_dir):
        d.mkdir()
    assert cli.main([str(folder), "--json", str(whole / "grades.json"),
                     "--csv", str(whole / "grades.csv"), "--quiet"]) == 0
    parts = []
    for k in (1, 2, 3):
        part = parts_dir / f"part{k}.json"
        assert cli.main([str(folder), "--shard", f"{k}/3", "--json", str(part),
                         "--quiet"]) == 0
        parts.append(part)
        assert 1 <= len(json.loads(part.read_text())) <= 3
    # The parts may come in any order (from a batch system's output folder).
    assert cli.main(["merge", *map(str, reversed(parts)), "--root", str(folder),
                     "--json", str(joined / "grades.json"),
                     "--csv", str(joined / "grades.csv"), "--quiet"]) == 0
    books_whole = {n: t for n, t in _files(whole).items() if n.endswith(".csv")}
    books_joined = {n: t for n, t in _files(joined).items() if n.endswith(".csv")}
    assert len(books_whole) >= 2  # several exercises: one gradebook (and detail) each
    assert books_joined == books_whole
    reports_whole = json.loads((whole / "grades.json").read_text())
    reports_joined = json.loads((joined / "grades.json").read_text())
    assert _scores(reports_joined) == _scores(reports_whole)
    assert [r["score"] for r in reports_whole] == [10, 0, 10, 6, 10, 0]


def test_merge_refuses_a_shard_given_twice(folder, tmp_path, capsys):
    part = tmp_path / "part.json"
    part.write_text(json.dumps([{"submission": "a.ipynb", "exercise": "01_rnn_forward",
                                 "score": 1, "max_score": 10, "error": None,
                                 "questions": []}]))
    with pytest.raises(SystemExit) as exc:
        cli.main(["merge", str(part), str(part)])
    assert exc.value.code == 2
    assert "a.ipynb is in part 1 and in part 2" in capsys.readouterr().err


def test_merge_refuses_what_is_not_a_report(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"not": "a list"}))
    with pytest.raises(SystemExit):
        cli.main(["merge", str(bad)])
    assert "not a JSON report" in capsys.readouterr().err


def test_a_bad_shard_is_a_usage_error(folder, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([str(folder), "--shard", "4/3"])
    assert exc.value.code == 2
    assert "K/N" in capsys.readouterr().err
