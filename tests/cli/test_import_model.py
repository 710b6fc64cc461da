"""`cryopick import-model`: a Topaz-layout model saved as Topaz saves it (a pickled state dict)
becomes a cryopick model that picks exactly as the original; --from-topaz finds an installed
topaz-em's detectors; `train --init` starts from an imported model."""

import json
import warnings
from pathlib import Path

import pytest
import torch

from cryopick.cli.main import main
from cryopick.io.coordinates import read_picks
from cryopick.workflows.modelio import load_picker


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, dataset_writer) -> Path:
    """A quickly trained topaz-resnet8 (cryopick's copy of Topaz's layout), and its weights written
    the way topaz-em ships its detectors: torch.save of a state dict under Topaz's names."""
    root = dataset_writer(tmp_path_factory.mktemp("import"))
    assert main(["preprocess", str(root / "micrographs"), "--particle-diameter-A", "40", "-o", str(root / "work"),
                 "-q"]) == 0
    assert main(["train", "--micrographs", str(root / "work"), "--particles", str(root / "train.txt"), "-n", "25",
                 "--num-labeled", "40", "--model", "topaz-resnet8", "--units", "8", "--epochs", "2",
                 "--steps-per-epoch", "60", "--batch-size", "64", "-o", str(root / "original"), "-q"]) == 0
    model, _, _ = load_picker(root / "original")
    state = {name.replace("encoder.", "features.features.", 1): t for name, t in model.state_dict().items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.save(state, root / "resnet8_u32.sav", _use_new_zipfile_serialization=False)
    return root


def _ap(root: Path, model: str, name: str) -> float:
    assert main(["extract", "--model", str(root / model), "--micrographs", str(root / "work"),
                 "-o", str(root / f"{name}.txt"), "-q"]) == 0
    assert main(["evaluate", "--picks", str(root / f"{name}.txt"), "--reference", str(root / "test.txt"),
                 "--model", str(root / model), "-o", str(root / f"eval_{name}"), "-q"]) == 0
    return float(json.loads((root / f"eval_{name}" / "metrics.json").read_text())["average_precision"])


@pytest.mark.slow
def test_an_imported_model_picks_exactly_as_the_original(trained: Path) -> None:
    assert main(["import-model", str(trained / "resnet8_u32.sav"), "--micrographs", str(trained / "work"),
                 "-o", str(trained / "imported"), "-q"]) == 0
    record = json.loads((trained / "imported" / "model.json").read_text())
    assert record["architecture"]["name"] == "topaz-resnet8"
    assert record["imported"]["kind"] == "state dict"
    original_ap = _ap(trained, "original", "original")
    assert _ap(trained, "imported", "imported") == original_ap
    original, imported = read_picks(trained / "original.txt"), read_picks(trained / "imported.txt")
    assert original.x_orig_px.tolist() == imported.x_orig_px.tolist()
    assert original.score.tolist() == imported.score.tolist()
    assert original_ap > 0.6  # it learned something, so the comparison means something


@pytest.mark.slow
def test_from_topaz_finds_an_installed_detector(trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    arguments = ["import-model", "--from-topaz", "resnet8_u32", "--particle-diameter-A", "40", "--pixel-size-A",
                 "2", "--downsample", "1", "-o", str(tmp_path / "general"), "-q"]
    assert main(arguments) == 2  # no topaz-em here: says how to get it
    assert "pip install topaz-em" in capsys.readouterr().err
    detectors = tmp_path / "site" / "topaz" / "pretrained" / "detector"
    detectors.mkdir(parents=True)
    (tmp_path / "site" / "topaz" / "__init__.py").write_text("raise RuntimeError('Topaz must not be imported')\n")
    (detectors / "resnet8_u32.sav").write_bytes((trained / "resnet8_u32.sav").read_bytes())
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert main(arguments) == 0
    assert json.loads((tmp_path / "general" / "model.json").read_text())["imported"]["from"] == "topaz-em resnet8_u32"
    assert main([*arguments[:2], "resnet16_u64", *arguments[3:-3], "-o", str(tmp_path / "other")]) == 2
    assert "no pretrained/detector/resnet16_u64.sav" in capsys.readouterr().err


@pytest.mark.slow
def test_train_init_starts_from_the_imported_weights(trained: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not (trained / "imported").exists():
        assert main(["import-model", str(trained / "resnet8_u32.sav"), "--micrographs", str(trained / "work"),
                     "-o", str(trained / "imported"), "-q"]) == 0
    short = ["--micrographs", str(trained / "work"), "--particles", str(trained / "train.txt"), "-n", "25",
             "--num-labeled", "40", "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "32",
             "--learning-rate", "1e-5", "-q"]
    assert main(["train", *short, "--init", str(trained / "imported"), "-o", str(trained / "from_init")]) == 0
    assert main(["train", *short, "--model", "topaz-resnet8", "--units", "8", "-o", str(trained / "scratch")]) == 0
    record = json.loads((trained / "from_init" / "model.json").read_text())
    assert record["training"]["init_model"] == str(trained / "imported")
    # two tiny steps keep what the imported model knew; from scratch they teach nothing
    assert _ap(trained, "from_init", "from_init") > _ap(trained, "scratch", "scratch") + 0.3
    assert main(["train", *short, "--init", str(trained / "imported"), "--model", "conv3",
                 "-o", str(trained / "clash")]) == 2
    assert "differs from the --init model's topaz-resnet8" in capsys.readouterr().err
