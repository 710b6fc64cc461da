r"""Label, review and retrain in the browser: a local web app over preprocessed micrographs.

Starts a web server on this machine and prints its address, which carries a random token that
every request needs (so other users of a shared machine can neither read nor change anything);
it opens a browser too where one can show it. The page lists the micrographs with their label
and pick counts and shows each one (the normalised working image; mouse wheel zooms, dragging
pans) with circles of the particle's size:

  click                add a label; click a label (green) to remove it
  click a pick         accept it as a label; shift-click rejects it (hidden from then on)
  slider               the score threshold of the picks drawn; their count follows it
  Accept/Reject shown  every pick drawn on this micrograph at once
  u or Ctrl-Z          undo;  n/p or the arrow keys: next/previous micrograph
  Train                train a new model from the labels as they are (the same training as
                       `cryopick train`, with its defaults), then pick every micrograph with
                       it; the page stays usable meanwhile
  Which next?          order the micrographs by how unsure the model is of their picks
                       (most uncertain first; before any picks, fewest labels first)

Labels are saved after every change, atomically, as RELION manual-pick files in
PROJECT/labels/ (<micrograph>_manualpick.star + coordinate_files.star, original pixels), so
`cryopick train --particles PROJECT/labels/` and RELION read them; rejected picks and the latest
round in PROJECT/app_state.json; each round's labels, model and picks in PROJECT/rounds/.
Starting again on the same PROJECT restores all of it. Ctrl-C stops the server.

Example usage:
  cryopick app --micrographs work/ -n 150 -o project/
  cryopick app --micrographs work/ --model model/ --labels ManualPick/job004/Movies/ -o project/
  # a shorter training budget for quick rounds (the default is `cryopick train`'s)
  cryopick app --micrographs work/ -n 60 --epochs 2 -o project/
"""

import argparse
import os
import sys
from pathlib import Path

from cryopick.cli.arguments import add_picks_options, positive_float, positive_int
from cryopick.config import AppConfig, default_of
from cryopick.io.formats import FORMATS


def add_args(parser: argparse.ArgumentParser) -> None:
    """Register ``app``'s options."""
    parser.add_argument("--micrographs", type=Path, required=True,
                        help="directory written by `cryopick preprocess`: the only micrographs the app serves")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="PROJECT_DIR",
                        help="project directory: labels, rejected picks and training rounds (restored on restart)")
    parser.add_argument("--model", type=Path, default=None,
                        help="a trained model: picks every micrograph with it at the start (round 0), and its "
                             "expected particle count is the default for Train")
    add_picks_options(parser, what="picks to review at the start (files or directories; e.g. from `cryopick extract`)")
    parser.add_argument("--labels", type=Path, nargs="+", default=None,
                        help="labels to start from (files or directories, e.g. a RELION Manual Picking job's "
                             "Movies/); read once, when PROJECT_DIR holds no labels yet")
    parser.add_argument("--labels-format", choices=FORMATS, default=None, help="default: from the suffix")
    parser.add_argument("-n", "--expected-particles-per-micrograph", type=positive_float,
                        default=default_of(AppConfig, "expected_particles_per_micrograph"), metavar="N",
                        help="how many particles a micrograph holds on average, labelled or not, for Train "
                             "(default: the --model's, else asked on the page)")
    parser.add_argument("--epochs", type=positive_int, default=default_of(AppConfig, "epochs"),
                        help="Train's epochs (default: `cryopick train`'s, %(default)s)")
    parser.add_argument("--steps-per-epoch", type=positive_int, default=default_of(AppConfig, "steps_per_epoch"),
                        help="Train's minibatches per epoch (default: `cryopick train`'s, %(default)s)")
    parser.add_argument("--init", default=default_of(AppConfig, "init"), metavar="auto|general|none|MODEL_DIR",
                        help="where Train starts, as `cryopick train --init` (default: %(default)s)")
    parser.add_argument("--device", default=default_of(AppConfig, "device"),
                        help="cpu, cuda, cuda:N or auto, for Train and picking (default: %(default)s)")
    parser.add_argument("--host", default=default_of(AppConfig, "host"),
                        help="address to listen on; another than 127.0.0.1 lets other machines in (they need "
                             "the token too, and it travels unencrypted) (default: %(default)s)")
    parser.add_argument("--port", type=int, default=default_of(AppConfig, "port"),
                        help="port to listen on (default: 0, a free one)")
    parser.add_argument("--no-browser", action="store_true", help="only print the address; open no browser")


def _display_available() -> bool:
    return sys.platform in ("darwin", "win32") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run(args: argparse.Namespace) -> int:
    """Run ``app`` until Ctrl-C; returns the exit status."""
    import dataclasses
    import logging
    import webbrowser

    import torch
    import uvicorn

    from cryopick.app.project import Project
    from cryopick.app.server import bind_socket, create_app, new_token
    from cryopick.app.training import Trainer
    from cryopick.workflows.sources import recorded_geometry

    log = logging.getLogger("cryopick.cli.app")
    config = AppConfig(host=args.host, port=args.port,
                       expected_particles_per_micrograph=args.expected_particles_per_micrograph,
                       epochs=args.epochs, steps_per_epoch=args.steps_per_epoch, init=args.init, device=args.device)
    project = Project(args.micrographs, args.output, labels=args.labels, labels_format=args.labels_format,
                      picks=args.picks, picks_format=args.picks_format)
    if args.model is not None:
        from cryopick.errors import InputError
        from cryopick.io.model_files import load_model

        geometry = recorded_geometry(model_dir=args.model)
        if not geometry.agrees_with(project.geometry):
            raise InputError(args.model, f"geometry {geometry} differs from {project.geometry} of {args.micrographs}")
        if config.expected_particles_per_micrograph is None:
            recorded = load_model(args.model)[1].get("training", {}).get("config", {})
            if recorded.get("expected_particles_per_micrograph"):
                config = dataclasses.replace(config, expected_particles_per_micrograph=float(
                    recorded["expected_particles_per_micrograph"]))
    # the process is ours: leave one core to the server while a round trains
    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))
    trainer = Trainer(project, config, command=["cryopick", *sys.argv[1:]])
    if args.model is not None and project.picks_round is None and project.score_range() is None:
        trainer.start_picking(args.model)
    sock = bind_socket(config.host, config.port)
    host, port = sock.getsockname()[:2]
    shown_host = f"[{host}]" if ":" in host else host
    token = new_token()
    url = f"http://{shown_host}:{port}/?token={token}"
    app = create_app(project, trainer, config, token=token)
    log.info("cryopick app: %d micrographs from %s, project %s", len(project.names), args.micrographs, args.output)
    sys.stdout.write(f"open {url}\n")
    sys.stdout.flush()
    if not args.no_browser and _display_available():
        webbrowser.open(url)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    server.run(sockets=[sock])
    return 0

