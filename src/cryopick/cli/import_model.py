r"""Import a Topaz model (.sav) as a cryopick model directory, without running any of its code.

Reads the general detectors that ship in topaz-em (resnet8_u32/u64, resnet16_u32/u64) and the
models `topaz train` saves (model_epochN.sav), in either of PyTorch's file layouts, with a reader
that only rebuilds tensors: nothing in the file is executed and Topaz is never imported (a file
naming any other code is refused). The network is rebuilt layer for layer and checked against
every layer the file records: Topaz's ResNet8 and ResNet16 (max pooling or none, dropout) and its
convolution stacks conv31, conv63, conv127 (max, average or no pooling), any widths, batch norm
or not; its scores equal `topaz extract`'s. (One exception, a Topaz bug: with max pooling, a
conv stack's score map is shifted in Topaz by 1, 4 or 11 px for conv31/63/127; cryopick scores
each pixel at its own centre.) Anything else is refused, naming the layer. Topaz files do not
record the particle size or the pixel size they are for: state them here, or take them from a
preprocessed directory. Then `cryopick extract --model MODEL_DIR` picks with it (no labels), and
`cryopick train --init MODEL_DIR` starts training from it.

Example usage:
  cryopick import-model --from-topaz resnet16_u64 --micrographs work/ -o topaz_general/
  cryopick import-model saved_models/model_epoch10.sav -o topaz_mine/ \
      --particle-diameter-A 120 --pixel-size-A 1.06 --downsample 8
  cryopick extract --model topaz_general/ --micrographs work/ -o picks.star
  cryopick train --micrographs work/ --particles labels.star -n 150 --init topaz_general/ -o model/
"""

import argparse
from pathlib import Path

from cryopick.cli.arguments import positive_float, positive_int


def add_args(parser: argparse.ArgumentParser) -> None:
    """Register ``import-model``'s options."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("model_file", nargs="?", type=Path, metavar="MODEL.sav", help="a Topaz model file")
    source.add_argument("--from-topaz", metavar="NAME",
                        help="a general detector of the topaz-em installed in this Python environment: "
                             "resnet8_u32, resnet8_u64, resnet16_u32, resnet16_u64 (resnet8/resnet16: the u64 ones)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="model directory to write")
    parser.add_argument("--micrographs", type=Path, default=None, metavar="PREPROCESSED_DIR",
                        help="take the geometry (and normalisation) from a directory written by `cryopick "
                             "preprocess`, instead of the three options below")
    parser.add_argument("--particle-diameter-A", type=positive_float, default=None,
                        help="particle diameter in Angstrom")
    parser.add_argument("--pixel-size-A", type=positive_float, default=None,
                        help="pixel size of the original micrographs in Angstrom")
    parser.add_argument("--downsample", type=positive_int, default=None,
                        help="whole downsampling factor the model works at (Topaz's preprocess -s)")


def run(args: argparse.Namespace) -> int:
    """Run ``import-model``; returns the exit status."""
    import sys

    from cryopick.config import Geometry
    from cryopick.errors import ConfigError
    from cryopick.io.topaz_models import find_topaz_detector
    from cryopick.workflows.import_model import run_import_model

    stated = (args.particle_diameter_A, args.pixel_size_A, args.downsample)
    geometry = None
    if args.micrographs is not None:
        if any(value is not None for value in stated):
            raise ConfigError("give --micrographs or the particle size, pixel size and downsampling, not both")
    elif any(value is None for value in stated):
        raise ConfigError("a Topaz file does not record the geometry: give --particle-diameter-A, --pixel-size-A "
                          "and --downsample, or --micrographs PREPROCESSED_DIR")
    else:
        geometry = Geometry(particle_diameter_A=args.particle_diameter_A, pixel_size_A=args.pixel_size_A,
                            downsample_factor=args.downsample)
    if args.from_topaz is not None:
        source, label = find_topaz_detector(args.from_topaz), f"topaz-em {args.from_topaz}"
    else:
        source, label = args.model_file, None
    run_import_model(source, args.output, geometry=geometry, preprocessed_dir=args.micrographs, source_label=label,
                     command=["cryopick", *sys.argv[1:]])
    return 0
