"""Convert the Japanese Vowels .ts files of the aeon wheel into one shipped CSV.

Run once; the result is committed as ``japanese_vowels.csv.gz`` next to
``PROVENANCE.md``, which records the wheel, the digests and this command::

    pip download --no-deps aeon==1.6.0 -d /tmp/aeon
    unzip /tmp/aeon/aeon-1.6.0-py3-none-any.whl \\
        'aeon/datasets/data/JapaneseVowels/JapaneseVowels_T*' -d /tmp/aeon
    python scripts/extract_japanese_vowels.py \\
        /tmp/aeon/aeon/datasets/data/JapaneseVowels OUTPUT.csv.gz

The .ts format stores one utterance per line: twelve comma-separated series
(one per LPC cepstrum coefficient) separated by colons, then the class label.
The CSV has one row per frame instead, with the numbers copied as written in
the .ts files (no rounding), so the conversion loses nothing.
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

HEADER = "split,utterance,speaker,frame," + ",".join(f"c{k}" for k in range(1, 13))


def utterances(path: Path):
    """Yield (speaker, frames) per data line; frames is a list of 12-string rows."""
    in_data = False
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.lower() == "@data":
            in_data = True
            continue
        if not in_data:
            continue
        *dims, label = line.split(":")
        series = [d.split(",") for d in dims]
        if len(series) != 12 or len({len(s) for s in series}) != 1:
            raise ValueError(f"{path}: a line without 12 series of equal length")
        yield int(label), [list(frame) for frame in zip(*series)]


def main(src: str, out: str) -> None:
    rows = [HEADER]
    for split in ("train", "test"):
        path = Path(src) / f"JapaneseVowels_{split.upper()}.ts"
        for u, (speaker, frames) in enumerate(utterances(path)):
            for t, frame in enumerate(frames):
                rows.append(",".join([split, str(u), str(speaker), str(t)] + frame))
    data = ("\n".join(rows) + "\n").encode("ascii")
    # mtime=0 and no file name in the gzip header: the same input gives the same bytes.
    with open(out, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0,
                                               filename="", compresslevel=9) as gz:
        gz.write(data)


if __name__ == "__main__":
    main(*sys.argv[1:3])
