"""The k-fold table beside a model: written for people and for --resume, reused only by the same run."""

from pathlib import Path

from cryopick.io.training_files import saved_tuning, write_tuning


def test_the_tuning_table_is_reused_only_for_the_same_inputs_and_settings(tmp_path: Path) -> None:
    identity = {"config": {"seed": 0}, "particles_sha256": ["ab"], "tuning": {"k_fold": 3}}
    record = {"k_fold": 3, "rows": [{"mean_ap": 0.5}], "chosen": {"mean_ap": 0.5}, "distinguishable": True}
    assert saved_tuning(tmp_path, identity) is None  # nothing saved yet
    write_tuning(tmp_path, identity, record, "expected_particles_per_micrograph,chosen\n50,yes\n")
    assert (tmp_path / "tuning.csv").read_text() == "expected_particles_per_micrograph,chosen\n50,yes\n"
    assert saved_tuning(tmp_path, identity) == record
    assert saved_tuning(tmp_path, {**identity, "particles_sha256": ["cd"]}) is None  # other labels
    assert saved_tuning(tmp_path, {**identity, "tuning": {"k_fold": 4}}) is None  # other settings
