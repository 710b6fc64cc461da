"""One vocabulary across the commands: original-pixel options say so, renamed options keep their old
spelling for a release (with a warning), the help is complete and its examples keep their lines;
coordinates that cannot be right are refused or left out with a warning."""

import re
from pathlib import Path

import numpy as np
import pytest

from cryopick.cli.main import COMMANDS, build_parser, main
from cryopick.io.coordinates import read_picks, write_picks
from cryopick.picks import Picks

DEPRECATED = ["--min-score", "--box-size-px", "--background-radius-px", "--particle-radius-px", "--input-format"]


def _help(command: str) -> str:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    return subparsers.choices[command].format_help()  # type: ignore[union-attr]


@pytest.mark.parametrize("command", list(COMMANDS))
def test_help_names_original_pixels_and_keeps_example_lines(command: str) -> None:
    text = _help(command)
    for old in DEPRECATED:
        assert old not in re.findall(r"--[a-z-]+", text), f"{command} --help still shows {old}"
    parser = build_parser()
    subparser = next(a for a in parser._actions if a.dest == "command").choices[command]  # type: ignore[union-attr]
    for action in subparser._actions:
        for option in action.option_strings:
            if option.endswith("-px") and "original pixels" in (action.help or ""):
                assert option.endswith("-orig-px"), f"{command} {option} is in original pixels"
    for line in text.splitlines():
        if line.lstrip().startswith("cryopick "):  # an example: a continuation joined into it shows as a gap
            assert "     " not in line.split(" #")[0].strip(), f"{command} --help example lost its line break: {line}"


def _scored(tmp_path: Path) -> Path:
    picks = Picks.build(["mic00"] * 5 + ["mic01"] * 5, np.arange(10) * 10.0 + 20, np.full(10, 50.0),
                        np.linspace(-4, 4, 10))
    return write_picks(tmp_path / "scored.txt", picks)


def test_renamed_options_still_work_for_one_release(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scored = _scored(tmp_path)
    assert main(["threshold", "--picks", str(scored), "-o", str(tmp_path / "new.txt"), "--threshold", "0", "-q"]) == 0
    capsys.readouterr()
    assert main(["threshold", str(scored), "-o", str(tmp_path / "old.txt"), "--min-score", "0",
                 "--input-format", "topaz", "-q"]) == 0
    err = capsys.readouterr().err
    assert "--min-score is deprecated" in err
    assert "use --threshold" in err
    assert "--input-format is deprecated" in err
    assert "without --picks is deprecated" in err
    assert (tmp_path / "old.txt").read_text() == (tmp_path / "new.txt").read_text()
    assert len(read_picks(tmp_path / "new.txt")) == 5

    assert main(["convert", str(scored), "-o", str(tmp_path / "b"), "--per-micrograph", "--format", "box",
                 "--box-size-px", "40", "-q"]) == 0
    assert "--box-size-px is deprecated" in capsys.readouterr().err
    assert (tmp_path / "b" / "mic00.box").read_text().split("\n")[0].split("\t")[2:] == ["40", "40"]

    assert main(["simulate", "-o", str(tmp_path / "sim"), "--micrographs", "1", "--size-px", "64", "-q"]) == 0
    assert "--micrographs is deprecated" in capsys.readouterr().err
    assert len(list((tmp_path / "sim" / "micrographs").glob("*.mrc"))) == 1


def test_picks_given_twice_or_not_at_all_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scored = _scored(tmp_path)
    assert main(["threshold", str(scored), "--picks", str(scored), "-o", str(tmp_path / "t.txt"), "-t", "0"]) == 2
    assert "once, with --picks" in capsys.readouterr().err
    assert main(["convert", "-o", str(tmp_path / "t.txt")]) == 2
    assert "--picks" in capsys.readouterr().err
    assert not (tmp_path / "t.txt").exists()


def test_convert_refuses_coordinates_outside_the_micrographs(synthetic_dataset,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    dataset = synthetic_dataset()
    labels = read_picks(dataset / "train.txt")
    # picks from 4x-binned micrographs given as if they were at the originals' pixel size: way out
    binned = write_picks(dataset / "binned.txt", labels.scaled(80.0))
    assert main(["convert", "--picks", str(binned), "-o", str(dataset / "p.cs"), "--micrographs",
                 str(dataset / "micrographs"), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert "binned.txt" in err
    assert "outside their micrograph" in err
    assert "--scale" in err
    assert not (dataset / "p.cs").exists()
    # one stray pick past the edge among many: left out, with a warning
    stray = Picks.concatenate([labels, Picks.build(["mic00"], [300.0], [10.0])])
    write_picks(dataset / "stray.txt", stray)
    assert main(["convert", "--picks", str(dataset / "stray.txt"), "-o", str(dataset / "p.cs"), "--micrographs",
                 str(dataset / "micrographs")]) == 0
    assert "1 of" in capsys.readouterr().err
    assert len(read_picks(dataset / "p.cs")) == len(labels)
    # a scale no change of binning explains
    assert main(["convert", "--picks", str(dataset / "train.txt"), "-o", str(dataset / "big.star"),
                 "--scale", "1e300"]) == 2
    assert "not a change of binning" in capsys.readouterr().err
    assert not (dataset / "big.star").exists()


def test_report_says_which_picks_it_cannot_draw(synthetic_dataset, capsys: pytest.CaptureFixture[str]) -> None:
    dataset = synthetic_dataset()
    labels = read_picks(dataset / "train.txt")
    extra = Picks.concatenate([labels, Picks.build(["elsewhere"] * 3, [5.0, 6.0, 7.0], [5.0, 6.0, 7.0])])
    write_picks(dataset / "extra.txt", extra)
    assert main(["report", "--picks", str(dataset / "extra.txt"), "--micrographs", str(dataset / "micrographs"),
                 "--particle-radius-orig-px", "10", "-o", str(dataset / "r.html")]) == 0
    assert "3 picks on 1 micrographs not among --micrographs (e.g. elsewhere)" in capsys.readouterr().err
    write_picks(dataset / "other.txt", Picks.build(["elsewhere"] * 3, [5.0, 6.0, 7.0], [5.0, 6.0, 7.0]))
    assert main(["report", "--picks", str(dataset / "other.txt"), "--micrographs", str(dataset / "micrographs"),
                 "--particle-radius-orig-px", "10", "-o", str(dataset / "r2.html")]) == 2
    err = capsys.readouterr().err
    assert "other.txt" in err
    assert "no micrograph in common" in err
    assert "mic00" in err
    assert not (dataset / "r2.html").exists()
