"""Shared by the benchmarks: a dataset's training or test micrographs (../shared/data layout)."""

from pathlib import Path


def link_micrographs(dataset: Path, work: Path, split: str) -> tuple[list[str], Path]:
    """Names of the ``split`` ("train" or "test") micrographs, from particles_{split}.txt, and a
    folder of links to them, so a command reads that split only, as a user would."""
    lines = (dataset / f"particles_{split}.txt").read_text().splitlines()[1:]
    names = sorted({line.split("\t")[0] for line in lines if line.strip()})
    folder = work / f"{split}_micrographs"
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        link = folder / f"{name}.mrc"
        if not link.exists():
            link.symlink_to((dataset / "micrographs" / f"{name}.mrc").resolve())
    return names, folder


def link_test_micrographs(dataset: Path, work: Path) -> tuple[list[str], Path]:
    """The held-out test micrographs: extraction runs on raw test micrographs only, as on new data."""
    return link_micrographs(dataset, work, "test")
