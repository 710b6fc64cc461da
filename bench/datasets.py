"""Shared by the benchmarks: the held-out test micrographs of a dataset in the ../shared/data layout."""

from pathlib import Path


def link_test_micrographs(dataset: Path, work: Path) -> tuple[list[str], Path]:
    """Names of the test micrographs (from particles_test.txt) and a folder of links to them, so
    extraction runs on raw test micrographs only, as a user would on new data."""
    lines = (dataset / "particles_test.txt").read_text().splitlines()[1:]
    names = sorted({line.split("\t")[0] for line in lines if line.strip()})
    folder = work / "test_micrographs"
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        link = folder / f"{name}.mrc"
        if not link.exists():
            link.symlink_to((dataset / "micrographs" / f"{name}.mrc").resolve())
    return names, folder
