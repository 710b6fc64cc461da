import pytest

from cryopick.config import (
    LEARNING_RATE_FROM_INIT,
    LEARNING_RATE_FROM_SCRATCH,
    LEARNING_RATE_FULL_LABELS,
    OBJECTIVE_FULL_LABELS,
    START_PULL_BELOW_LABELS,
    START_PULL_FEW_LABELS,
    ExtractConfig,
    SimulateConfig,
    TrainConfig,
    TuningConfig,
    init_learning_rate,
    resolve_autoencoder_weight,
)
from cryopick.errors import ConfigError


def test_autoencoder_auto_follows_the_paper() -> None:
    assert resolve_autoencoder_weight("auto", 10) == pytest.approx(1.0)
    assert resolve_autoencoder_weight("auto", 250) == pytest.approx(0.04)
    assert resolve_autoencoder_weight("auto", 251) == 0.0
    assert resolve_autoencoder_weight(0.3, 10) == 0.3
    assert TrainConfig(expected_particles_per_micrograph=5, autoencoder_weight="auto").resolved_autoencoder_weight(
        100) == pytest.approx(0.1)


@pytest.mark.parametrize("weight", [-1.0, float("nan"), "sometimes"])
def test_bad_autoencoder_weights_are_refused(weight: object) -> None:
    with pytest.raises(ConfigError, match="autoencoder weight"):
        TrainConfig(expected_particles_per_micrograph=5, autoencoder_weight=weight)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="autoencoder weight"):
        TuningConfig(k_fold=3, expected_particles_per_micrograph=(5.0,), autoencoder_weight=(weight,))  # type: ignore[arg-type]


@pytest.mark.parametrize(("changes", "message"), [
    ({"size_px": 63}, "too small"), ({"num_micrographs": 0}, "at least one micrograph"),
    ({"particles_per_micrograph": 0}, "one particle"), ({"snr": 0.0}, "snr"),
    ({"pixel_size_A": float("nan")}, "pixel_size_A"), ({"test_fraction": 1.0}, "test fraction"),
])
def test_bad_simulate_settings_are_refused(changes: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SimulateConfig(**changes)  # type: ignore[arg-type]


def test_an_unknown_precision_is_refused_by_the_config() -> None:
    with pytest.raises(ConfigError, match="precision 'half'"):
        TrainConfig(expected_particles_per_micrograph=5, precision="half")  # type: ignore[arg-type]


def test_the_step_from_a_trained_start_halves_per_tenfold_fewer_labels() -> None:
    assert init_learning_rate(LEARNING_RATE_FULL_LABELS) == pytest.approx(LEARNING_RATE_FROM_INIT)
    assert init_learning_rate(10 * LEARNING_RATE_FULL_LABELS) == pytest.approx(LEARNING_RATE_FROM_INIT)
    assert init_learning_rate(LEARNING_RATE_FULL_LABELS // 10) == pytest.approx(LEARNING_RATE_FROM_INIT / 2)
    assert init_learning_rate(1) == pytest.approx(LEARNING_RATE_FROM_INIT / 4, rel=0.01) == init_learning_rate(0)
    rates = [init_learning_rate(n) for n in range(1, 200)]
    assert rates == sorted(rates)
    config = TrainConfig(expected_particles_per_micrograph=5)
    assert config.resolved_learning_rate(from_init=True, n_labeled=10) == pytest.approx(LEARNING_RATE_FROM_INIT / 2)
    assert config.resolved_learning_rate(from_init=False, n_labeled=10) == LEARNING_RATE_FROM_SCRATCH
    given = TrainConfig(expected_particles_per_micrograph=5, learning_rate=3e-3)
    assert given.resolved_learning_rate(from_init=True, n_labeled=10) == 3e-3


def test_objective_auto_is_ge_kl_with_few_labels_and_ge_binomial_with_many() -> None:
    config = TrainConfig(expected_particles_per_micrograph=5)
    assert config.objective == "auto"
    assert config.resolved_objective(10) == config.resolved_objective(OBJECTIVE_FULL_LABELS - 1) == "ge-kl"
    assert config.resolved_objective(OBJECTIVE_FULL_LABELS) == config.resolved_objective(5000) == "ge-binomial"
    given = TrainConfig(expected_particles_per_micrograph=5, objective="nnpu")
    assert given.resolved_objective(10) == "nnpu"
    with pytest.raises(ValueError, match="resolve the objective"):
        _ = config.resolved_objective_weight  # the weight depends on which objective: resolve it first
    with pytest.raises(ConfigError, match="unknown objective 'ge'"):
        TrainConfig(expected_particles_per_micrograph=5, objective="ge")  # type: ignore[arg-type]


def test_the_score_stride_follows_an_input_pool_unless_given() -> None:
    """Every 2nd working pixel, or every 4th for a net that sees 4 x 4 pooled pixels (a particle over 100 px)."""
    assert [ExtractConfig().resolved_score_stride_px(pool) for pool in (1, 2, 3, 4, 8)] == [2, 2, 2, 4, 4]
    assert ExtractConfig(score_stride_px=1).resolved_score_stride_px(4) == 1
    with pytest.raises(ConfigError, match="score stride must be 1, 2 or 4"):
        ExtractConfig(score_stride_px=3)


def test_start_pull_auto_pulls_a_trained_start_only_with_few_labels() -> None:
    config = TrainConfig(expected_particles_per_micrograph=5)
    assert config.start_pull == "auto"
    assert config.resolved_start_pull(from_init=True, n_labeled=10) == START_PULL_FEW_LABELS
    assert config.resolved_start_pull(from_init=True, n_labeled=START_PULL_BELOW_LABELS - 1) == START_PULL_FEW_LABELS
    assert config.resolved_start_pull(from_init=True, n_labeled=START_PULL_BELOW_LABELS) == 0.0
    assert config.resolved_start_pull(from_init=False, n_labeled=10) == 0.0  # nothing to pull towards
    given = TrainConfig(expected_particles_per_micrograph=5, start_pull=30.0)
    assert given.resolved_start_pull(from_init=True, n_labeled=1000) == 30.0
    assert given.resolved_start_pull(from_init=False, n_labeled=1000) == 0.0
    for bad in (-1.0, "strong"):
        with pytest.raises(ConfigError, match="start_pull"):
            TrainConfig(expected_particles_per_micrograph=5, start_pull=bad)  # type: ignore[arg-type]


def test_batchnorm_statistics_auto_keeps_a_trained_starts_only() -> None:
    config = TrainConfig(expected_particles_per_micrograph=5)
    assert config.keeps_batchnorm_statistics(from_init=True)
    assert not config.keeps_batchnorm_statistics(from_init=False)
    assert not TrainConfig(expected_particles_per_micrograph=5,
                           batchnorm_statistics="update").keeps_batchnorm_statistics(from_init=True)
    assert not TrainConfig(expected_particles_per_micrograph=5,
                           batchnorm_statistics="keep").keeps_batchnorm_statistics(from_init=False)
