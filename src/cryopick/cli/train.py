r"""Train a picker from labelled particle centres, treating everything else as unlabelled.

Reads the preprocessed micrographs and their geometry (from `cryopick preprocess`), the labelled
centres (original-micrograph pixels; .txt/.csv/.star/.box), and the expected number of particles
per micrograph, which sets the class prior. Trains a fully-convolutional classifier with a
positive-unlabelled objective (chosen by the label count unless given) for a fixed budget (--epochs x
--steps-per-epoch), and saves the model as weights.safetensors + model.json. With
--validation-fraction (off by default) it also holds out whole labelled micrographs, keeps the
epoch with the best held-out average precision and stops early. At the end it picks the
labelled micrographs once as extract would and records how a score maps to the chance that a
pick is a particle (score_calibration in model.json): extract's precision estimate, --auto and
--target-precision need it.

Example usage:
  cryopick train --micrographs work/ --particles labels.star \
      --expected-particles-per-micrograph 150 -o model/
  cryopick train --micrographs work/ --particles labels.txt --expected-particles-per-micrograph 150 \
      --num-labeled 100 --model resnet8 --epochs 20 -o model/
  # from a Topaz general detector (see `cryopick import-model`); --init none: from scratch
  cryopick train --micrographs work/ --particles labels.star -n 150 --init topaz_general/ -o model/
  # 30 labels: add the autoencoder term, and let 3-fold cross-validation choose the count
  cryopick train --micrographs work/ --particles labels.star -n 100 200 400 --autoencoder 0 auto \
      --k-fold 3 -o model/

Objectives (--objective): pn treats every unlabelled region as negative; nnpu is the non-negative
PU risk (Kiryo et al. 2017); ge-kl and ge-binomial fit the labelled positives and ask that the
share of positives the classifier finds among the unlabelled regions match the prior set by
--expected-particles-per-micrograph (ge-binomial compares the whole count distribution of each
minibatch with a binomial, and is the one the Topaz paper found best). auto, the default: ge-kl
with fewer than 100 labelled particles, where it scored higher on our sets, ge-binomial with more.
"""

import argparse
from pathlib import Path

from cryopick.cli.arguments import auto_or_nonnegative, fraction, input_pool, positive_float, positive_int
from cryopick.config import (
    BATCHNORM_STATISTICS,
    DEFAULT_UNITS,
    LEARNING_RATE_FROM_INIT,
    LEARNING_RATE_FROM_SCRATCH,
    LEARNING_RATE_FULL_LABELS,
    MAX_INPUT_POOL,
    MODEL_CHOICES,
    OBJECTIVE_FULL_LABELS,
    OBJECTIVES,
    PRECISIONS,
    START_PULL_BELOW_LABELS,
    START_PULL_FEW_LABELS,
    TrainConfig,
    init_learning_rate,
)
from cryopick.io.formats import FORMAT_HELP, FORMATS

#: The defaults live in TrainConfig (one source for the command line and the Python API); this
#: instance only reads them (the expected count it needs is a placeholder).
DEFAULT = TrainConfig(expected_particles_per_micrograph=1.0)


def add_args(parser: argparse.ArgumentParser) -> None:
    """Register ``train``'s options."""
    parser.add_argument("--micrographs", type=Path, required=True,
                        help="directory written by `cryopick preprocess`")
    parser.add_argument("--particles", type=Path, nargs="+", required=True,
                        help="labelled particle centres in original pixels: files or directories of them "
                             "(RELION particles.star, *_manualpick.star, coordinate_files.star; cryoSPARC .cs; "
                             "EMAN2 .box or _info.json; Topaz .txt; .csv); the micrographs they name are the "
                             "training set")
    parser.add_argument("--particles-format", choices=FORMATS, default=None,
                        help=f"format of --particles (default: from the suffix): {FORMAT_HELP}")
    parser.add_argument("-o", "--output", type=Path, required=True, help="model directory to write")
    parser.add_argument("-n", "--expected-particles-per-micrograph", type=positive_float, nargs="+", required=True,
                        metavar="N", help="how many particles a micrograph holds on average over the dataset, labelled "
                                          "or not; sets the class prior, and the level of the precision extract "
                                          "estimates without a reference (the model records its score calibration and "
                                          "its picks on up to 40 of the preprocessed micrographs, so that extract can "
                                          "scale the count to denser or sparser micrographs: see extract --auto). "
                                          "With --k-fold, several values to choose among (one value N: N/2, N and 2N "
                                          "are tried)")
    parser.add_argument("--num-labeled", type=positive_int, default=DEFAULT.num_labeled,
                        help="use a random subset of this many labels (default: all)")
    parser.add_argument("--model", choices=MODEL_CHOICES, default=DEFAULT.model,
                        help="auto: conv3 when its receptive field spans 2 particle diameters (particles up to "
                             "15 working px across), else resnet8; conv3: the paper's 3-layer net (receptive field "
                             "31 px, fastest); resnet8: a small ResNet (67 px); conv6: six small convolutions (67 "
                             "px, a third of resnet8's training time, less accurate on small particles); "
                             "topaz-resnet8/16, topaz-conv31/63/127: Topaz's own layouts (71/91/31/63/127 px, "
                             "unpooled; what `import-model` rebuilds, pooled too). A particle wider than half "
                             "of resnet8's field is seen through --input-pool (default: %(default)s)")
    parser.add_argument("--input-pool", type=input_pool, default=DEFAULT.input_pool,
                        metavar=f"{{auto,1..{MAX_INPUT_POOL}}}",
                        help="average K x K pixels inside the net before its first layer, so it sees K times "
                             "wider at the same cost (a wide particle's whole outline and surroundings, not a "
                             "part); picks stay at the micrographs' working pixels. auto: with --model auto, the "
                             "smallest K at which the field spans 2 particle diameters (1 for particles up to "
                             "33 working px; a 114 px rod: 4), and the general detector starts it where the "
                             "particle, pooled, is a size it was trained at; else 1 (default: auto)")
    parser.add_argument("--units", type=positive_int, default=DEFAULT_UNITS,
                        help="filters in the first layer; later layers scale with it (default: %(default)s)")
    parser.add_argument("--objective", choices=("auto", *OBJECTIVES), default=DEFAULT.objective,
                        help="pn: unlabelled as negative; nnpu: non-negative PU risk; ge-kl, ge-binomial: "
                             "positives plus a match of the unlabelled positive share to the prior (see below); "
                             f"auto: ge-kl with fewer than {OBJECTIVE_FULL_LABELS} labelled particles (it scored "
                             "higher with 10), ge-binomial from there on (default: %(default)s)")
    parser.add_argument("--objective-weight", type=positive_float, default=DEFAULT.objective_weight,
                        help="weight of the GE term (default: 1 for ge-binomial, 10 for ge-kl)")
    parser.add_argument("--autoencoder", type=auto_or_nonnegative, nargs="+", default=[DEFAULT.autoencoder_weight],
                        metavar="GAMMA",
                        help="weight of the autoencoder term (a decoder reconstructs each region from the "
                             "features; helps with few labels): a number >= 0, or auto = 10/N for N <= 250 "
                             "labelled particles and 0 above (the paper's finding). With --k-fold, several "
                             "values to choose among, e.g. --autoencoder 0 auto (default: 0)")
    parser.add_argument("--k-fold", type=positive_int, default=None, metavar="K",
                        help="first choose --expected-particles-per-micrograph and --autoencoder by K-fold "
                             "cross-validation: the labelled micrographs in K groups, each held out in turn, "
                             "scored by AP against its labels; prints the table (also OUTPUT/tuning.csv) and "
                             "trains the final model on all labels with the best setting. Costs K x settings "
                             "extra trainings")
    parser.add_argument("--label-radius-px", type=positive_float, default=DEFAULT.label_radius_px,
                        help="working pixels around each label that count as positive (default: %(default)s)")
    parser.add_argument("--validation-fraction", type=fraction, default=DEFAULT.validation_fraction,
                        help="share of the labelled micrographs held out to choose the best epoch and stop "
                             "early. Off by default: with sparse labels the held-out AP misjudges epochs "
                             "(on EMPIAR-10146 with 100 labels it cost up to 0.045 test AP); use it when the "
                             "held-out micrographs are fully labelled (default: %(default)s)")
    parser.add_argument("--epochs", type=positive_int, default=DEFAULT.epochs, help="(default: %(default)s)")
    parser.add_argument("--steps-per-epoch", type=positive_int, default=DEFAULT.steps_per_epoch,
                        help="minibatches per epoch (default: %(default)s)")
    parser.add_argument("--batch-size", type=positive_int, default=DEFAULT.batch_size, help="(default: %(default)s)")
    parser.add_argument("--positive-fraction", type=positive_float, default=DEFAULT.positive_fraction,
                        help="share of each minibatch centred on labelled particles (default: 1/16)")
    parser.add_argument("--learning-rate", type=positive_float, default=DEFAULT.learning_rate,
                        help=f"Adam step size (default: {LEARNING_RATE_FROM_SCRATCH:g} from scratch; from an --init "
                             f"model, whose start a larger step undoes, {LEARNING_RATE_FROM_INIT:g} with "
                             f"{LEARNING_RATE_FULL_LABELS} labels or more, halved for every tenfold fewer: "
                             f"{init_learning_rate(10):g} with 10. model.json records the rate used)")
    parser.add_argument("--weight-decay", type=float, default=DEFAULT.weight_decay,
                        help="L2 on weights (default: %(default)s)")
    parser.add_argument("--start-pull", type=auto_or_nonnegative, default=DEFAULT.start_pull, metavar="auto|P",
                        help="from an --init model: after each step pull every weight back towards the start "
                             "by learning rate x P of the way, so few labels refine the start rather than "
                             "overwrite it (a weight then stays within ~1/P of its start); 0 turns it off. "
                             f"`auto`: {START_PULL_FEW_LABELS:g} below {START_PULL_BELOW_LABELS} labels, 0 from "
                             "there on (model.json records the pull used) (default: %(default)s)")
    parser.add_argument("--batchnorm-statistics", choices=BATCHNORM_STATISTICS, default=DEFAULT.batchnorm_statistics,
                        help="BatchNorm's running statistics while training: `keep` the --init model's (they "
                             "describe the many micrographs it learnt on; minibatches built around a few labels "
                             "shift them), `update` them from the minibatches; `auto` keeps a trained start's and "
                             "updates a fresh net's (default: %(default)s)")
    parser.add_argument("--patience", type=positive_int, default=DEFAULT.patience_epochs,
                        help="stop after this many epochs without held-out gain (default: %(default)s)")
    parser.add_argument("--init", default="auto", metavar="auto|general|none|MODEL_DIR",
                        help="start from a trained model's architecture and weights instead of from scratch: "
                             "`general` is the detector that ships with cryopick (a resnet8 trained on the "
                             "training micrographs of the benchmark sets, for particles 15-30 working px "
                             "across); MODEL_DIR a cryopick model or a Topaz one brought in by `cryopick "
                             "import-model`; `none` trains from scratch; `auto` (default) is general when the "
                             "particle is 15-30 working px across (after --input-pool) and --model is auto or "
                             "resnet8, else none. --model and --units come from the start model")
    parser.add_argument("--seed", type=int, default=DEFAULT.seed, help="(default: %(default)s)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the last epoch checkpoint in OUTPUT/checkpoint (after a crash or "
                             "kill); refused if the inputs or settings changed")
    parser.add_argument("--device", default=DEFAULT.device,
                        help="cpu, cuda, cuda:N or auto (CUDA when available) (default: %(default)s)")
    parser.add_argument("--precision", choices=PRECISIONS, default=DEFAULT.precision,
                        help="arithmetic of training's forward pass: `auto` (default) is bfloat16 on a CPU that "
                             "does it in hardware (AVX-512 BF16 or AMX: training steps about 1.25x faster, AP "
                             "unchanged within seed spread, see the README), float32 elsewhere; weights, optimiser "
                             "and scoring stay float32. model.json records which was used")


def run(args: argparse.Namespace) -> int:
    """Run ``train``; returns the exit status."""
    import sys

    from cryopick.config import TrainConfig, TuningConfig
    from cryopick.errors import ConfigError
    from cryopick.workflows.train import run_train

    tuning = None
    counts = list(args.expected_particles_per_micrograph)
    if args.k_fold is not None:
        if len(counts) == 1:
            counts = [counts[0] / 2, counts[0], counts[0] * 2]
        tuning = TuningConfig(k_fold=args.k_fold, expected_particles_per_micrograph=tuple(counts),
                              autoencoder_weight=tuple(args.autoencoder))
    elif len(counts) > 1 or len(args.autoencoder) > 1:
        raise ConfigError("several values of --expected-particles-per-micrograph or --autoencoder need "
                          "--k-fold K to choose among them")
    config = TrainConfig(
        expected_particles_per_micrograph=counts[0], autoencoder_weight=args.autoencoder[0],
        model=args.model, input_pool=args.input_pool, objective=args.objective, objective_weight=args.objective_weight,
        label_radius_px=args.label_radius_px, num_labeled=args.num_labeled,
        validation_fraction=args.validation_fraction, epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch, batch_size=args.batch_size,
        positive_fraction=args.positive_fraction, learning_rate=args.learning_rate,
        weight_decay=args.weight_decay, start_pull=args.start_pull,
        batchnorm_statistics=args.batchnorm_statistics, patience_epochs=args.patience, seed=args.seed,
        device=args.device, precision=args.precision, extra={"units": args.units},
    )
    run_train(config, args.micrographs, args.particles, args.output, particles_format=args.particles_format,
              quiet=args.progress_disabled, command=["cryopick", *sys.argv[1:]], resume=args.resume,
              tuning=tuning, init_model=args.init)
    return 0
