"""Typed, frozen configuration: every parameter enters once (at the CLI) and flows down from here.

Compute functions never receive these objects; a workflow unpacks them into unit-named numbers.
"""

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from cryopick.errors import ConfigError

NormalizationMethod = Literal["gmm", "affine"]
NORMALIZATIONS: tuple[str, ...] = ("gmm", "affine")
Matching = Literal["optimal", "greedy"]
MATCHINGS: tuple[str, ...] = ("optimal", "greedy")
#: Score every k-th working pixel: the strides the scoring supports.
SCORE_STRIDES_PX: tuple[int, ...] = (1, 2, 4)
#: Filters in the first layer of an architecture built from scratch; later layers scale with it.
DEFAULT_UNITS = 32
#: extract's default score stride in working px, and the one for nets pooling their input 4 x 4 or more
DEFAULT_SCORE_STRIDE_PX, WIDE_SCORE_STRIDE_PX = 2, 4
#: the coarsest input pool (``train --input-pool``; auto reaches it for a ~270 working px particle)
MAX_INPUT_POOL = 8
Objective = Literal["pn", "nnpu", "ge-kl", "ge-binomial"]
ObjectiveChoice = Objective | Literal["auto"]
#: ``--precision``: the arithmetic of training's forward pass (``auto``: bfloat16 where the CPU does it
#: in hardware, else float32; see device.training_dtype).
Precision = Literal["auto", "float32", "bfloat16"]
#: BatchNorm's running statistics while training: "keep" a trained start's, "update" them from the
#: minibatches; "auto" keeps a start's and updates a fresh net's (TrainConfig.keeps_batchnorm_statistics)
BatchNormStatistics = Literal["auto", "keep", "update"]
#: ``--start-pull auto``: from a trained start with fewer labels than START_PULL_BELOW_LABELS, pull
#: every weight back towards it this hard (train.loop.fit); from 100 labels, or from scratch, none.
#: Measured with 10 labels on strong and weak starts (README, *Keeping what a trained start knows*).
START_PULL_FEW_LABELS = 100.0
START_PULL_BELOW_LABELS = 100
StartPull = float | Literal["auto"]
BATCHNORM_STATISTICS: tuple[str, ...] = ("auto", "keep", "update")
PRECISIONS: tuple[str, ...] = ("auto", "float32", "bfloat16")
OBJECTIVES: tuple[str, ...] = ("pn", "nnpu", "ge-kl", "ge-binomial")
#: ``--objective auto``: GE-KL with fewer labels than this, GE-binomial (the paper's choice) from here on.
#: With 10 labels GE-KL had the best or a tied mean AP on every set measured: from a trained start on
#: two particles the start never saw (bench/results/ablation/objective_n10.csv) and from scratch on
#: three sets (bench/results/pu_objectives/); at 100 the objectives are level (same files).
OBJECTIVE_FULL_LABELS = 100
#: ``auto`` and the registered architectures (models.MODEL_NAMES; a test keeps them equal), listed
#: here so that the command line needs no torch to parse.
MODEL_CHOICES: tuple[str, ...] = ("auto", "conv3", "conv6", "resnet8", "topaz-resnet8", "topaz-resnet16",
                                  "topaz-conv31", "topaz-conv63", "topaz-conv127")
#: The paper's default weight of the criterion term for each objective (unused by pn and nnpu).
DEFAULT_OBJECTIVE_WEIGHT: dict[str, float] = {"pn": 1.0, "nnpu": 1.0, "ge-kl": 10.0, "ge-binomial": 1.0}
#: ``--autoencoder auto``: the paper's finding, weight 10 / N up to this many labels, none above.
AUTOENCODER_AUTO_MAX_LABELS = 250
AutoencoderWeight = float | Literal["auto"]
#: Adam's step size from scratch: the paper's 2e-4 scored lower at 500 updates (bench/ablation.py).
LEARNING_RATE_FROM_SCRATCH = 1e-3
#: From a trained start (--init) the larger step undoes it: 10 labels of the enolase dimer, from
#: Topaz's resnet8_u32, 0.918 AP at 2e-4 vs 0.882 at 1e-3 (bench/topaz_models.py, bench/ablation.py).
LEARNING_RATE_FROM_INIT = 2e-4
#: ... with this many labels or more; with fewer, the step halves for every tenfold fewer labels, since
#: few labels pull a good start away: 10 labels of two particles the start never saw (enolase dimer
#: and monomer, from a detector trained without them) gave 0.907 / 0.869 AP at 1e-4 against 0.861 /
#: 0.836 at 2e-4 (bench/results/ablation/init_learning_rate_n10.csv).
LEARNING_RATE_FULL_LABELS = 100


def init_learning_rate(n_labeled: int) -> float:
    """Adam's step from a trained start: LEARNING_RATE_FROM_INIT, halved per tenfold fewer labels than full."""
    share = min(1.0, max(n_labeled, 1) / LEARNING_RATE_FULL_LABELS)
    return float(LEARNING_RATE_FROM_INIT * share ** math.log10(2))
#: Non-maximum suppression wider than this (working px) would keep one pick per micrograph and costs
#: memory in the square of the radius.
MAX_NMS_RADIUS_PX = 2048
#: A particle narrower than this many working pixels cannot be told from noise by the network.
MIN_PARTICLE_DIAMETER_PX = 3.0


#: Two pixel sizes (or particle sizes) this close, relative to the reference, are the same: headers
#: round them, and a model picks at the scale it learnt within about this much.
SIZE_REL_TOLERANCE = 0.01


def sizes_agree(value: float, reference: float) -> bool:
    """Whether ``value`` is ``reference`` within :data:`SIZE_REL_TOLERANCE` of the reference."""
    return abs(value - reference) <= SIZE_REL_TOLERANCE * reference


def default_of(config: type, name: str) -> Any:
    """One default for both the CLI and the Python API.

    The default of a config dataclass's field: the command line shows the Python API's
    defaults (one source for both).
    """
    spec = {f.name: f for f in dataclasses.fields(config)}[name]
    if spec.default is dataclasses.MISSING:
        raise ValueError(f"{config.__name__}.{name} has no default")
    return spec.default


def _positive(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ConfigError(f"{name} must be a positive number, got {value!r}")


@dataclass(frozen=True)
class Geometry:
    """How big the particle is and how the micrographs were resampled: stated once, recorded."""

    particle_diameter_A: float
    pixel_size_A: float  # of the original micrographs
    downsample_factor: int  # original pixels per working pixel

    def __post_init__(self) -> None:
        _positive("particle_diameter_A", self.particle_diameter_A)
        _positive("pixel_size_A", self.pixel_size_A)
        if not isinstance(self.downsample_factor, int) or self.downsample_factor < 1:
            raise ConfigError(
                f"downsample_factor must be a whole number >= 1, got {self.downsample_factor!r}"
            )
        if 2 * self.particle_radius_px < MIN_PARTICLE_DIAMETER_PX:
            raise ConfigError(
                f"downsampling by {self.downsample_factor} leaves the {self.particle_diameter_A:g} A "
                f"particle {2 * self.particle_radius_px:.1f} px across (pixel size "
                f"{self.pixel_size_A:g} A); it must stay >= {MIN_PARTICLE_DIAMETER_PX:g} px: "
                "downsample less"
            )

    @property
    def particle_diameter_orig_px(self) -> float:
        """The particle diameter in original pixels."""
        return self.particle_diameter_A / self.pixel_size_A

    @property
    def particle_radius_orig_px(self) -> float:
        """The particle radius in original pixels."""
        return self.particle_diameter_orig_px / 2

    @property
    def particle_radius_px(self) -> float:
        """Radius in working (downsampled) pixels."""
        return self.particle_radius_orig_px / self.downsample_factor

    @property
    def working_pixel_size_A(self) -> float:
        """The size of a working (downsampled) pixel, in Angstroms."""
        return self.pixel_size_A * self.downsample_factor

    def agrees_with(self, reference: "Geometry") -> bool:
        """The same downsampling, and pixel and particle sizes within the tolerance of ``reference``'s."""
        return (self.downsample_factor == reference.downsample_factor
                and sizes_agree(self.pixel_size_A, reference.pixel_size_A)
                and sizes_agree(self.particle_diameter_A, reference.particle_diameter_A))

    def to_json(self) -> dict[str, Any]:
        """The geometry as recorded in preprocess.json and model.json."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Geometry":
        """The geometry recorded by :meth:`to_json`."""
        return cls(
            particle_diameter_A=float(data["particle_diameter_A"]),
            pixel_size_A=float(data["pixel_size_A"]),
            downsample_factor=int(data["downsample_factor"]),
        )


def choose_downsample_factor(
    particle_diameter_A: float, pixel_size_A: float, *, target_diameter_px: float = 20.0
) -> int:
    """The whole factor that brings the particle closest to ``target_diameter_px`` across.

    Topaz's advice is a particle of roughly 10-30 working pixels: enough to see its shape, small
    enough for the receptive field and for speed.
    """
    _positive("particle_diameter_A", particle_diameter_A)
    _positive("pixel_size_A", pixel_size_A)
    diameter_orig_px = particle_diameter_A / pixel_size_A
    return max(1, round(diameter_orig_px / target_diameter_px))


@dataclass(frozen=True)
class PreprocessConfig:
    """Settings of ``preprocess``: the particle size and how to downsample and normalise."""

    particle_diameter_A: float
    pixel_size_A: float | None = None  # None: read from each micrograph's header
    downsample_factor: int | None = None  # None: chosen from the particle size
    normalization: NormalizationMethod = "gmm"
    gmm_samples_per_micrograph: int = 20_000
    gmm_samples_total: int = 1_000_000  # the EM cost is bounded however many micrographs
    seed: int = 0

    def __post_init__(self) -> None:
        _positive("particle_diameter_A", self.particle_diameter_A)
        if self.pixel_size_A is not None:
            _positive("pixel_size_A", self.pixel_size_A)
        if self.downsample_factor is not None and self.downsample_factor < 1:
            raise ConfigError(f"downsample factor must be >= 1, got {self.downsample_factor}")
        if self.normalization not in NORMALIZATIONS:
            raise ConfigError(f"unknown normalization {self.normalization!r}: use gmm or affine")
        if self.gmm_samples_per_micrograph < 100:
            raise ConfigError("gmm_samples_per_micrograph must be >= 100")


def check_autoencoder_weight(weight: AutoencoderWeight) -> None:
    """Refuse an autoencoder weight that is neither ``auto`` nor a finite number >= 0."""
    if weight == "auto":
        return
    if not (isinstance(weight, (int, float)) and math.isfinite(weight) and weight >= 0):
        raise ConfigError(f"autoencoder weight must be 'auto' or a number >= 0, got {weight!r}")


def resolve_autoencoder_weight(weight: AutoencoderWeight, n_labeled: int) -> float:
    """``auto``: 10 / N for N <= 250 labelled particles, else 0 (the paper's Figure 5 finding)."""
    if weight == "auto":
        return 10.0 / n_labeled if 0 < n_labeled <= AUTOENCODER_AUTO_MAX_LABELS else 0.0
    return float(weight)


@dataclass(frozen=True)
class TuningConfig:
    """Cross-validation over the training micrographs to choose what users would otherwise guess."""

    k_fold: int
    expected_particles_per_micrograph: tuple[float, ...]
    autoencoder_weight: tuple[AutoencoderWeight, ...]

    def __post_init__(self) -> None:
        if self.k_fold < 2:
            raise ConfigError(f"--k-fold must be >= 2, got {self.k_fold}")
        if not self.expected_particles_per_micrograph or not self.autoencoder_weight:
            raise ConfigError("tuning needs at least one value of each setting")
        for count in self.expected_particles_per_micrograph:
            _positive("expected_particles_per_micrograph", count)
        for weight in self.autoencoder_weight:
            check_autoencoder_weight(weight)


@dataclass(frozen=True)
class TrainConfig:
    """Settings of ``train``: the model, the PU objective and the optimisation."""

    expected_particles_per_micrograph: float
    model: str = "auto"  # "auto": chosen from the particle's size in working pixels (models.choose_architecture)
    input_pool: int | None = None  # None: by the particle's size with --model auto (models.choose_input_pool), else 1
    objective: ObjectiveChoice = "auto"  # "auto": by the label count (resolved_objective)
    objective_weight: float | None = None  # None: the paper's default for the objective
    label_radius_px: float = 3.0
    num_labeled: int | None = None  # None: use every label
    validation_fraction: float = 0.0  # see the train CLI help: sparse labels make a poor judge
    epochs: int = 10
    steps_per_epoch: int = 200
    batch_size: int = 256
    positive_fraction: float = 1 / 16
    learning_rate: float | None = None  # Adam; None: LEARNING_RATE_FROM_SCRATCH, or init_learning_rate(labels)
    weight_decay: float = 0.0
    start_pull: StartPull = "auto"  # from an --init model: decay towards its weights (resolved_start_pull)
    batchnorm_statistics: BatchNormStatistics = "auto"  # see BatchNormStatistics
    autoencoder_weight: AutoencoderWeight = 0.0  # "auto": 10 / N labels for N <= 250, else 0
    patience_epochs: int | None = 4  # None: no early stopping
    seed: int = 0
    device: str = "auto"
    precision: Precision = "auto"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _positive("expected_particles_per_micrograph", self.expected_particles_per_micrograph)
        if self.precision not in PRECISIONS:
            raise ConfigError(f"unknown precision {self.precision!r}: use one of {PRECISIONS}")
        _positive("label_radius_px", self.label_radius_px)
        if self.learning_rate is not None:
            _positive("learning_rate", self.learning_rate)
        if self.objective != "auto" and self.objective not in OBJECTIVES:
            raise ConfigError(f"unknown objective {self.objective!r}: use auto or one of {OBJECTIVES}")
        if self.model not in MODEL_CHOICES:
            raise ConfigError(f"unknown model {self.model!r}: use one of {MODEL_CHOICES}")
        if self.input_pool is not None and not 1 <= self.input_pool <= MAX_INPUT_POOL:
            raise ConfigError(f"--input-pool must be 1 to {MAX_INPUT_POOL}, got {self.input_pool}")
        if self.objective_weight is not None:
            _positive("objective_weight", self.objective_weight)
        check_autoencoder_weight(self.autoencoder_weight)
        if self.num_labeled is not None and self.num_labeled < 1:
            raise ConfigError(f"num_labeled must be >= 1, got {self.num_labeled}")
        if not 0 <= self.validation_fraction < 1:
            raise ConfigError(f"validation_fraction must be in [0, 1), got {self.validation_fraction}")
        for name in ("epochs", "steps_per_epoch", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.positive_fraction < 1:
            raise ConfigError(f"positive_fraction must be in (0, 1), got {self.positive_fraction}")
        if round(self.batch_size * self.positive_fraction) < 1:
            raise ConfigError("batch_size * positive_fraction must leave at least one positive")
        if self.weight_decay < 0:
            raise ConfigError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.start_pull != "auto" and not (isinstance(self.start_pull, (int, float)) and self.start_pull >= 0):
            raise ConfigError(f"start_pull must be auto or a number >= 0, got {self.start_pull!r}")
        if self.batchnorm_statistics not in BATCHNORM_STATISTICS:
            raise ConfigError(f"unknown batchnorm_statistics {self.batchnorm_statistics!r}: use one of "
                              f"{BATCHNORM_STATISTICS}")
        if self.patience_epochs is not None and self.patience_epochs < 1:
            raise ConfigError(f"patience must be >= 1 epoch, got {self.patience_epochs}")

    def resolved_learning_rate(self, *, from_init: bool, n_labeled: int) -> float:
        """The given rate, else the measured default for a fresh net, or for a trained start and this many labels."""
        if self.learning_rate is not None:
            return self.learning_rate
        return init_learning_rate(n_labeled) if from_init else LEARNING_RATE_FROM_SCRATCH

    def resolved_start_pull(self, *, from_init: bool, n_labeled: int) -> float:
        """The pull towards a trained start: the one given, or ``auto``'s.

        ``auto``: START_PULL_FEW_LABELS below START_PULL_BELOW_LABELS labels, else none. From
        scratch there is nothing to pull towards: none.
        """
        if not from_init:
            return 0.0
        if self.start_pull == "auto":
            return START_PULL_FEW_LABELS if n_labeled < START_PULL_BELOW_LABELS else 0.0
        return float(self.start_pull)

    def keeps_batchnorm_statistics(self, *, from_init: bool) -> bool:
        """Whether BatchNorm normalises with the start's statistics while training, not the minibatches'.

        A trained start's statistics describe the data it learnt on, many micrographs; re-estimating
        them from minibatches built around a few labels shifted every feature at once (measured: the
        first 25 updates from the shipped detector cost 0.02-0.03 AP on two sets; kept, they gained
        0.006-0.017). A fresh net has no statistics to keep.
        """
        return from_init and self.batchnorm_statistics != "update"

    def resolved_objective(self, n_labeled: int) -> Objective:
        """The objective given, or ``auto``'s: GE-KL below OBJECTIVE_FULL_LABELS labels, else GE-binomial."""
        if self.objective != "auto":
            return self.objective
        return "ge-kl" if n_labeled < OBJECTIVE_FULL_LABELS else "ge-binomial"

    def resolved_autoencoder_weight(self, n_labeled: int) -> float:
        """The autoencoder weight to train with, ``auto`` resolved from the label count."""
        return resolve_autoencoder_weight(self.autoencoder_weight, n_labeled)

    @property
    def resolved_objective_weight(self) -> float:
        """The objective's weight to train with: the one given, or the paper's default (objective resolved)."""
        if self.objective_weight is not None:
            return self.objective_weight
        if self.objective == "auto":
            raise ValueError("resolve the objective from the label count first (resolved_objective)")
        return DEFAULT_OBJECTIVE_WEIGHT[self.objective]


@dataclass(frozen=True)
class ExtractConfig:
    """Settings of ``extract``: the threshold, suppression and how micrographs are scored."""

    threshold: float = -6.0  # log-likelihood ratio
    nms_radius_px: float | None = None  # None: the particle radius from the model's Geometry
    batch_size: int | None = None  # GPU only (None: 8); a CPU scores one micrograph per core
    tile_size_px: int = 1024
    device: str = "auto"
    score_stride_px: int | None = None  # score every k-th working px (1/k^2 of the work); None: by the model
    pixel_size_A: float | None = None  # raw micrographs' pixel size; None: each one's header
    box_size_orig_px: float | None = None  # EMAN2 .box output's box; None: the particle diameter

    def __post_init__(self) -> None:
        if self.score_stride_px is not None and self.score_stride_px not in SCORE_STRIDES_PX:
            raise ConfigError(f"score stride must be 1, 2 or 4 working px, got {self.score_stride_px}")
        if not math.isfinite(self.threshold):
            raise ConfigError(f"threshold must be a finite number, got {self.threshold}")
        if self.nms_radius_px is not None:
            _positive("nms_radius_px", self.nms_radius_px)
            if self.nms_radius_px > MAX_NMS_RADIUS_PX:
                raise ConfigError(f"NMS radius {self.nms_radius_px:g} working px is wider than any micrograph "
                                  f"(at most {MAX_NMS_RADIUS_PX} px): use about the particle radius")
        if self.batch_size is not None and self.batch_size < 1:
            raise ConfigError(f"batch size must be >= 1, got {self.batch_size}")
        if self.tile_size_px < 16:
            raise ConfigError(f"tile size must be >= 16 px, got {self.tile_size_px}")
        if self.pixel_size_A is not None:
            _positive("pixel_size_A", self.pixel_size_A)
        if self.box_size_orig_px is not None:
            _positive("box_size_orig_px", self.box_size_orig_px)

    def resolved_score_stride_px(self, input_pool: int) -> int:
        """The stride given; else 2, or 4 for a net that pools 4 x 4 pixels or more first (a wide particle).

        Centres land within k/2 working px: 1 px of a ~20 px particle at 2, and 2 px of one over
        100 px across (the size that gets a 4 x 4 input pool) at 4, where it scores 1/4 of the pixels.
        """
        if self.score_stride_px is not None:
            return self.score_stride_px
        return WIDE_SCORE_STRIDE_PX if input_pool >= WIDE_SCORE_STRIDE_PX else DEFAULT_SCORE_STRIDE_PX


@dataclass(frozen=True)
class ThresholdChoice:
    """How ``extract`` and ``threshold`` choose the score cut from the estimated precision (no reference).

    ``auto``: the threshold of best estimated F1; ``target_precision``: the lowest threshold whose
    estimated precision reaches it. Neither: the threshold is the one given.
    """

    auto: bool = False
    target_precision: float | None = None

    def __post_init__(self) -> None:
        if self.auto and self.target_precision is not None:
            raise ConfigError("give --auto or --target-precision, not both")
        if self.target_precision is not None and not 0 < self.target_precision < 1:
            raise ConfigError(f"target precision must be in (0, 1), got {self.target_precision}")

    @property
    def active(self) -> bool:
        """Whether a threshold is to be chosen from the estimate."""
        return self.auto or self.target_precision is not None


@dataclass(frozen=True)
class EvaluateConfig:
    """Settings of ``evaluate``: how close a pick must be to a reference, and how they are matched."""

    match_radius_orig_px: float
    matching: Matching = "optimal"

    def __post_init__(self) -> None:
        _positive("match_radius_orig_px", self.match_radius_orig_px)
        if self.matching not in MATCHINGS:
            raise ConfigError(f"unknown matching {self.matching!r}: use optimal or greedy")


@dataclass(frozen=True)
class ParticlesConfig:
    """Settings of ``particles``: the box and how its images are normalised."""

    box_size_orig_px: int
    background_radius_orig_px: float | None = None  # None: 3/4 of the box's half-width (RELION's default)
    invert_contrast: bool = True  # particles white, as RELION's and cryoSPARC's classifiers expect
    pixel_size_A: float | None = None  # None: from each micrograph's header
    voltage_kV: float = 300.0
    spherical_aberration_mm: float = 2.7
    amplitude_contrast: float = 0.1

    def __post_init__(self) -> None:
        if self.box_size_orig_px < 8:
            raise ConfigError(f"box size must be >= 8 px, got {self.box_size_orig_px}")
        for name in ("background_radius_orig_px", "pixel_size_A"):
            if getattr(self, name) is not None:
                _positive(name, getattr(self, name))
        _positive("voltage_kV", self.voltage_kV)
        if not 0 <= self.amplitude_contrast < 1:
            raise ConfigError(f"amplitude contrast must be in [0, 1), got {self.amplitude_contrast}")

    @property
    def resolved_background_radius_orig_px(self) -> float:
        """The background radius to normalise with: the one given, or RELION's default."""
        if self.background_radius_orig_px is not None:
            return self.background_radius_orig_px
        return 0.75 * self.box_size_orig_px / 2


@dataclass(frozen=True)
class ReportConfig:
    """Settings of ``report``: what the page draws and how many thumbnails."""

    particle_radius_orig_px: float  # circles drawn, and the match radius against a reference
    threshold: float | None = None  # picks drawn; None: best F1 with a reference, else best estimated F1, else 0
    max_micrographs: int = 48  # thumbnails; the plots use every micrograph
    thumbnail_px: int = 384  # longest side
    matching: Matching = "optimal"

    def __post_init__(self) -> None:
        _positive("particle_radius_orig_px", self.particle_radius_orig_px)
        if self.threshold is not None and not math.isfinite(self.threshold):
            raise ConfigError(f"threshold must be finite, got {self.threshold}")
        if self.max_micrographs < 0:
            raise ConfigError(f"max micrographs must be >= 0, got {self.max_micrographs}")
        if self.thumbnail_px < 64:
            raise ConfigError(f"thumbnail size must be >= 64 px, got {self.thumbnail_px}")


@dataclass(frozen=True)
class AppConfig:
    """Settings of ``app``: where it listens, and what its "Train" button runs.

    Training uses :class:`TrainConfig`'s defaults except for the budget (``epochs`` x
    ``steps_per_epoch``), which the command line may shorten, and the expected count, which a
    model may record or the page asks for.
    """

    host: str = "127.0.0.1"
    port: int = 0  # 0: a free port
    expected_particles_per_micrograph: float | None = None  # None: from --model, else asked on the page
    epochs: int = TrainConfig.epochs
    steps_per_epoch: int = TrainConfig.steps_per_epoch
    init: str = "auto"  # as `train --init`
    device: str = "auto"
    max_body_bytes: int = 64 * 1024  # a request body larger than this is refused (413)
    view_max_px: int = 2048  # longest side of the image sent to the page; larger working images are cropped

    def __post_init__(self) -> None:
        if not self.host:
            raise ConfigError("host must not be empty")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be 0 (a free one) or 1-65535, got {self.port}")
        if self.expected_particles_per_micrograph is not None:
            _positive("expected_particles_per_micrograph", self.expected_particles_per_micrograph)
        for name in ("epochs", "steps_per_epoch"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_body_bytes < 1024:
            raise ConfigError(f"max_body_bytes must be >= 1024, got {self.max_body_bytes}")
        if self.view_max_px < 256:
            raise ConfigError(f"view_max_px must be >= 256, got {self.view_max_px}")


@dataclass(frozen=True)
class SimulateConfig:
    """Settings of ``simulate``: how many synthetic micrographs, their particles, noise and split."""

    num_micrographs: int = 8
    size_px: int = 768  # each (square) micrograph's edge
    pixel_size_A: float = 2.0
    particle_diameter_A: float = 96.0
    particles_per_micrograph: int = 60
    snr: float = 0.2  # particle signal variance over noise variance
    test_fraction: float = 0.25  # share of micrographs in particles_test.txt
    seed: int = 0

    def __post_init__(self) -> None:
        if self.num_micrographs < 1 or self.particles_per_micrograph < 1:
            raise ConfigError("a synthetic dataset needs at least one micrograph and one particle on each")
        if self.size_px < 64:
            raise ConfigError(f"--size-px {self.size_px} is too small; use >= 64")
        for name in ("pixel_size_A", "particle_diameter_A", "snr"):
            _positive(name, getattr(self, name))
        if not 0 <= self.test_fraction < 1:
            raise ConfigError(f"test fraction must be in [0, 1), got {self.test_fraction}")
