"""The nnlab command line: thin commands that parse options, run an experiment and render its result.

Only this module turns the project's exceptions into messages and exit codes: 2 for bad options or config,
1 for bad data or files, 130 for Ctrl-C.
"""

from __future__ import annotations

import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

try:  # typer >= 0.22 vendors click
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover
    from click import exceptions as click_exceptions

from nnlab import __version__
from nnlab.config import ConfigError, MoonsConfig, as_dict, default_of, resolve
from nnlab.errors import NnlabError
from nnlab.report import console, print_error


def _crash(exc: BaseException) -> NoReturn:
    """An unforeseen failure: a short message, the full traceback saved to a file."""
    with tempfile.NamedTemporaryFile(
        "w", prefix="nnlab-crash-", suffix=".txt", delete=False, encoding="utf-8"
    ) as log:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=log)
    print_error(f"unexpected {type(exc).__name__}: {exc} (full traceback in {log.name}; please report it)")
    sys.exit(1)


class _NnlabGroup(TyperGroup):
    """Runs the commands and turns every failure into one line on stderr and an exit code."""

    def main(self, *args: Any, **kwargs: Any) -> NoReturn:  # type: ignore[override]
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except click_exceptions.NoArgsIsHelpError as exc:
            typer.echo(exc.ctx.get_help() if exc.ctx else str(exc))
            sys.exit(0)
        except click_exceptions.ClickException as exc:
            command = exc.ctx.command_path if getattr(exc, "ctx", None) else "nnlab"
            print_error(f"{exc.format_message()} (see '{command} --help')")
            sys.exit(exc.exit_code)
        except typer.Abort:
            print_error("aborted")
            sys.exit(1)
        except NnlabError as exc:
            print_error(str(exc))
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            print_error("interrupted; nothing was written")
            sys.exit(130)
        except Exception as exc:
            _crash(exc)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=_NnlabGroup,
    name="nnlab",
    help="A command-line experiment runner for a classic neural-network lab.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        console.print(f"nnlab {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = None,
) -> None:
    """A command-line experiment runner for a classic neural-network lab.

    Example: nnlab moons --iters 32
    """


def _default_help(config_cls: type, name: str, text: str) -> str:
    return f"{text} [default: {default_of(config_cls, name)}]"


def _parse_int_list(option: str, text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ConfigError(f"{option} {text!r}: must be comma-separated integers, e.g. 0,1,2,4,8") from None


def _parse_name_list(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    return tuple(part.strip() for part in text.split(",") if part.strip())


ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="A TOML preset (see configs/); flags override it, it overrides defaults."),
]


def _moons_help(name: str, text: str) -> str:
    return _default_help(MoonsConfig, name, text)


@app.command()
def moons(
    iters: Annotated[
        int | None, typer.Option(help=_moons_help("iters", "Gradient-descent iterations."))
    ] = None,
    lr: Annotated[float | None, typer.Option(help=_moons_help("lr", "Learning rate."))] = None,
    hidden: Annotated[int | None, typer.Option(help=_moons_help("hidden", "Hidden ReLU units."))] = None,
    samples: Annotated[
        int | None, typer.Option(help=_moons_help("samples", "Points in the data set."))
    ] = None,
    noise: Annotated[
        float | None, typer.Option(help=_moons_help("noise", "Standard deviation of noise on the moons."))
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help=_moons_help("seed", "Seed of the data and the weights."))
    ] = None,
    snapshots: Annotated[
        str | None,
        typer.Option(
            help="Iterations to draw, comma-separated. "
            "[default: 0, the powers of two below --iters, and --iters]"
        ),
    ] = None,
    animate: Annotated[
        bool | None,
        typer.Option(
            "--animate/--no-animate",
            help=_moons_help("animate", "Also write training.gif with the boundary at every iteration."),
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option(help=_moons_help("out", "Output folder."))] = None,
    config: ConfigOption = None,
) -> None:
    """Train the lab's two-layer ReLU network (NumPy, backprop by hand) on two moons.

    Prints the error table and writes decision-boundary pictures and metrics.json into OUT/moons/.

    Example: nnlab moons --iters 32 --snapshots 0,4,32 --animate
    """
    from nnlab.files import prepare_output_dir
    from nnlab.moons import run_moons
    from nnlab.report import moons_metrics, moons_table, print_files

    started = time.perf_counter()
    settings = resolve(
        MoonsConfig,
        config,
        {
            "iters": iters,
            "lr": lr,
            "hidden": hidden,
            "samples": samples,
            "noise": noise,
            "seed": seed,
            "snapshots": _parse_int_list("--snapshots", snapshots),
            "animate": animate,
            "out": None if out is None else str(out),
        },
    )
    folder = prepare_output_dir(Path(settings.out) / "moons")
    result = run_moons(settings)
    console.print(moons_table(result))

    from nnlab import plots

    files = plots.moons_pictures(
        result,
        result.snapshots,
        [folder / f"iteration_{i:03d}.png" for i in result.snapshots],
        folder / "snapshots.png",
    )
    if settings.animate:
        files.append(plots.moons_animation(result, folder / "training.gif"))
    metrics_path = folder / "metrics.json"
    result.files = [str(path) for path in [*files, metrics_path]]
    result.seconds = time.perf_counter() - started
    from nnlab.files import write_json_atomic

    write_json_atomic(metrics_path, moons_metrics(result, as_dict(settings)))
    final = result.history[-1]
    console.print(f"final error {final['error']:.4f}, accuracy {final['accuracy']:.3f}")
    print_files(result.files)
