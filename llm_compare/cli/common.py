"""What several subcommands share: where models are looked up, and arguments checked alike."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from llm_compare.core.errors import ConfigurationError
from llm_compare.services.discovery.model_dirs import MODELS_DIR_HELP, model_dirs

# How `run` and `bench` name models on the command line.
MODEL_REF_HELP = (
    "model id from scan, a path to a GGUF file or model folder, NAME#MODEL for a saved endpoint, "
    "or BASE_URL#MODEL (BASE_URL alone: the server's only model); repeat for more"
)
API_KEY_ENV_HELP = "the environment variable holding the API key of BASE_URL models (its name, never the key)"


def default_models_dirs() -> list[str]:
    """The directories every command searches unless told others: as the dashboard's (model_dirs)."""
    return model_dirs()


def models_dirs(args: argparse.Namespace) -> list[str]:
    """The --models-dir folders given (a script sees only what it names), else the usual ones."""
    return model_dirs(args.models_dirs)


def other_app_folders(args: argparse.Namespace) -> list:
    """Other apps' model folders to search besides the directories (Ollama, LM Studio, the Hugging
    Face cache): those present and not switched off on the Models page; none with --no-other-apps."""
    from llm_compare.services.discovery.other_apps import enabled_app_folders

    return [] if args.no_other_apps else enabled_app_folders()


def add_no_other_apps(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument(
        "--no-other-apps",
        action="store_true",
        dest="no_other_apps",
        help="do not search Ollama's, LM Studio's and the Hugging Face cache's models",
    )
    # Its name before: scripts that use it keep working.
    parser.add_argument("--no-stores", action="store_true", dest="no_other_apps", help=argparse.SUPPRESS)
    return parser


def add_models_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--models-dir", action="append", dest="models_dirs", metavar="DIR", help=MODELS_DIR_HELP
    )


def argument_type(check: Callable[[str], str]) -> Callable[[str], str]:
    """An argparse `type` from a check that raises ConfigurationError: its message becomes the
    usage error. Checked here, not only by the engine: a run whose models all fail to start is
    still bad usage, and text that is not UTF-8 must not wait for the models to load."""

    def convert(value: str) -> str:
        try:
            return check(value)
        except ConfigurationError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert
