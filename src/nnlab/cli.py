"""The nnlab command line: thin commands that parse options, run an experiment and render its result.

Only this module turns the project's exceptions into messages and exit codes: 2 for bad options or config,
1 for bad data or files, 130 for Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

try:  # typer >= 0.22 vendors click
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover
    from click import exceptions as click_exceptions

from nnlab import __version__
from nnlab.config import ConfidenceConfig, ConfigError, MnistConfig, MoonsConfig, as_dict, default_of, resolve
from nnlab.errors import NnlabError
from nnlab.report import console, print_error


def _crash(exc: BaseException) -> NoReturn:
    """An unforeseen failure: a short message, the full traceback saved to a file."""
    with tempfile.NamedTemporaryFile("w", prefix="nnlab-crash-", suffix=".txt", delete=False, encoding="utf-8") as log:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=log)
    print_error(f"unexpected {type(exc).__name__}: {exc} (full traceback in {log.name}; please report it)")
    sys.exit(1)


class _NnlabGroup(TyperGroup):
    """Runs the commands and turns every failure into one line on stderr and an exit code."""

    def main(self, *args: Any, **kwargs: Any) -> NoReturn:  # type: ignore[override]
        # Run from the console script (arguments from sys.argv), the process ends right after the command:
        # tearing down torch's modules and thread pools would add about half a second to every run.
        exit_now = not args and kwargs.get("args") is None
        kwargs["standalone_mode"] = False
        try:
            self._main_with_messages(*args, **kwargs)
        except SystemExit as finished:
            if not exit_now:
                raise
            code = finished.code if isinstance(finished.code, int) else (0 if finished.code is None else 1)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)

    def _main_with_messages(self, *args: Any, **kwargs: Any) -> NoReturn:
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
        if code == 130:  # Ctrl-C before a command could say what it kept (typer turns it into exit code 130)
            print_error("interrupted; nothing was written")
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=_NnlabGroup,
    name="nnlab",
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

    Examples: nnlab moons --iters 32 · nnlab mnist --epochs 5 · nnlab confidence --top 24
    """


@contextlib.contextmanager
def _stop_on_ctrl_c(what_was_kept: Callable[[], str] = lambda: "") -> Iterator[None]:
    """Ctrl-C: one line saying what was kept, exit code 130. Outputs are written atomically, so every file is
    either complete or as it was before."""
    try:
        yield
    except KeyboardInterrupt:
        kept = what_was_kept()
        print_error(f"interrupted; {kept + '; ' if kept else ''}no output file is half-written")
        raise typer.Exit(130) from None


def _default_help(config_cls: type, name: str, text: str) -> str:
    return f"{text} (default: {default_of(config_cls, name)})"


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
    iters: Annotated[int | None, typer.Option(help=_moons_help("iters", "Gradient-descent iterations."))] = None,
    lr: Annotated[float | None, typer.Option(help=_moons_help("lr", "Learning rate."))] = None,
    hidden: Annotated[int | None, typer.Option(help=_moons_help("hidden", "Hidden ReLU units."))] = None,
    samples: Annotated[int | None, typer.Option(help=_moons_help("samples", "Points in the data set."))] = None,
    noise: Annotated[
        float | None, typer.Option(help=_moons_help("noise", "Standard deviation of noise on the moons."))
    ] = None,
    seed: Annotated[int | None, typer.Option(help=_moons_help("seed", "Seed of the data and the weights."))] = None,
    snapshots: Annotated[
        str | None,
        typer.Option(
            help="Iterations to draw, comma-separated. (default: 0, the powers of two below --iters, and --iters)"
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
    from nnlab.files import prepare_output_dir, write_json_atomic
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
    with _stop_on_ctrl_c():
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
        write_json_atomic(metrics_path, moons_metrics(result, as_dict(settings)))
        final = result.history[-1]
        console.print(f"final error {final['error']:.4f}, accuracy {final['accuracy']:.3f}")
        print_files([*result.files, str(_write_index(settings.out))])


def _mnist_help(name: str, text: str) -> str:
    return _default_help(MnistConfig, name, text)


DatasetOption = Annotated[
    str | None,
    typer.Option(help="mnist, fashion-mnist, kmnist or mnist-5k (the 5000 digits bundled offline). (default: mnist)"),
]
DataDirOption = Annotated[
    Path | None,
    typer.Option(
        help="A folder with the four IDX files (raw or .gz), or where downloads go. "
        "(default: $NNLAB_DATA_DIR, else ~/.cache/nnlab)"
    ),
]
FallbackOption = Annotated[
    bool | None,
    typer.Option(
        "--fallback/--no-fallback",
        help="Use the bundled mnist-5k subset when MNIST can be neither found nor downloaded. (default: fallback)",
    ),
]
DeviceOption = Annotated[
    str | None, typer.Option(help="auto (cuda, then mps, then cpu), cpu, cuda or mps. (default: auto)")
]
QuietOption = Annotated[bool | None, typer.Option("--quiet", help="No progress bars.")]


def _load_data(settings: Any) -> Any:
    """Load the dataset the settings name, and say what was loaded.

    The loading runs on a helper thread while this one imports torch and scikit-learn (and checks --device):
    decompression releases the GIL, so the two overlap, whereas an import on a helper thread would hold the GIL
    for long stretches and stall this one.
    """
    from concurrent.futures import ThreadPoolExecutor

    from nnlab.data import load_dataset
    from nnlab.report import print_warning

    pool = ThreadPoolExecutor(max_workers=1)
    try:
        loading = pool.submit(load_dataset, settings.dataset, settings.data_dir, fallback=settings.fallback)
        _check_device(settings.device)
        dataset = loading.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    for warning in dataset.warnings:
        print_warning(warning)
    console.print(f"data: {dataset.summary()}", markup=False)
    return dataset


def _show_progress(quiet: bool) -> bool:
    return not quiet and console.is_terminal


@app.command()
def mnist(
    epochs: Annotated[int | None, typer.Option(help=_mnist_help("epochs", "Training epochs per model."))] = None,
    models: Annotated[
        str | None,
        typer.Option(help=_mnist_help("models", "Models to train, comma-separated (linear, full, conv).")),
    ] = None,
    dataset: DatasetOption = None,
    data_dir: DataDirOption = None,
    fallback: FallbackOption = None,
    batch_size: Annotated[
        int | None,
        typer.Option(help="Minibatch size. (default: 32..512 by data size; 32 for 4000 images, 512 for 60000)"),
    ] = None,
    lr: Annotated[
        float | None,
        typer.Option(
            help="Peak learning rate for every model. (default: tuned per model: linear 0.015, full 0.005, conv 0.016)"
        ),
    ] = None,
    optimizer: Annotated[str | None, typer.Option(help=_mnist_help("optimizer", "adam, adamw or sgd."))] = None,
    momentum: Annotated[float | None, typer.Option(help=_mnist_help("momentum", "SGD momentum."))] = None,
    weight_decay: Annotated[float | None, typer.Option(help=_mnist_help("weight_decay", "Weight decay."))] = None,
    schedule: Annotated[
        str | None,
        typer.Option(help=_mnist_help("schedule", "Learning-rate schedule: onecycle or constant.")),
    ] = None,
    shuffle: Annotated[
        bool | None,
        typer.Option("--shuffle/--no-shuffle", help="Reshuffle the training data every epoch. (default: shuffle)"),
    ] = None,
    precision: Annotated[
        str | None,
        typer.Option(
            help=_mnist_help("precision", "auto (bf16 for conv and full on AMX CPUs and GPUs), fp32 or bf16.")
        ),
    ] = None,
    freeze_first: Annotated[
        float | None,
        typer.Option(
            help="Freeze the first layer after this fraction of training (1: never). (default: conv 0.5, others 1)"
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option(help=_mnist_help("seed", "Seed of weights and shuffling."))] = None,
    device: DeviceOption = None,
    train_size: Annotated[int | None, typer.Option(help="Train on the first N training images. (default: all)")] = None,
    eval_size: Annotated[
        int | None,
        typer.Option(
            help=_mnist_help("eval_size", "Accuracy on the first N training and test images (the lab's protocol).")
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option(help=_mnist_help("out", "Output folder."))] = None,
    config: ConfigOption = None,
    quiet: QuietOption = None,
) -> None:
    """Train the lab's linear, fully connected and convolutional networks and compare them.

    Prints an accuracy table; writes checkpoints, learning curves, confusion matrices and metrics.json into
    OUT/mnist/.

    Example: nnlab mnist --epochs 5 --dataset fashion-mnist --data-dir /usr/share/datasets/fashion-mnist
    """
    settings = resolve(
        MnistConfig,
        config,
        {
            "epochs": epochs,
            "models": _parse_name_list(models),
            "dataset": dataset,
            "data_dir": None if data_dir is None else str(data_dir),
            "fallback": fallback,
            "batch_size": batch_size,
            "lr": lr,
            "optimizer": optimizer,
            "momentum": momentum,
            "weight_decay": weight_decay,
            "schedule": schedule,
            "shuffle": shuffle,
            "precision": precision,
            "freeze_first": freeze_first,
            "seed": seed,
            "device": device,
            "train_size": train_size,
            "eval_size": eval_size,
            "out": None if out is None else str(out),
            "quiet": quiet,
        },
    )
    from nnlab.files import prepare_output_dir

    folder = prepare_output_dir(Path(settings.out) / "mnist")
    data = _load_data(settings)
    kept: list[str] = []
    with _stop_on_ctrl_c(lambda: f"kept the checkpoints of finished models: {', '.join(kept)}" if kept else ""):
        _run_mnist(settings, data, folder, kept)


def _check_device(device: str) -> None:
    from nnlab.classifier import resolve_device

    try:
        resolve_device(device)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _run_mnist(settings: MnistConfig, data: Any, folder: Path, kept: list[str]) -> None:
    from nnlab.files import write_json_atomic
    from nnlab.mnist import ModelResult, run_mnist
    from nnlab.report import TrainingProgress, dataset_record, mnist_metrics, mnist_table, print_files

    files: list[Path] = []

    def save_checkpoint(model: ModelResult) -> None:
        path = model.classifier.save(
            folder / f"{model.name}.pt", {"dataset": dataset_record(data, settings.train_size)}
        )
        model.checkpoint = str(path)
        kept.append(str(path))
        files.append(path)
        if not _show_progress(settings.quiet):
            return
        console.print(f"{model.name}: test accuracy {model.test_accuracy_all:.4f} in {model.fit_seconds:.1f} s")

    with TrainingProgress(_show_progress(settings.quiet)) as bar:
        result = run_mnist(settings, data, progress=bar.update, on_model_done=save_checkpoint)
    from nnlab import plots

    console.print(mnist_table(result))
    for model in result.models.values():
        console.print(model.lab_line(), markup=False)
    histories = {name: model.classifier.history_ for name, model in result.models.items()}
    used = dataset_record(data, settings.train_size)["train_size"]
    sizes = f"{data.name}: {used} training images, {settings.epochs} epochs"
    files.append(plots.learning_curves(histories, folder / "learning_curves.png", title=sizes))
    files += plots.confusion_matrices(
        [model.confusion for model in result.models.values()],
        data.classes,
        [
            f"{name} on {data.name}: test accuracy {model.test_accuracy_all:.4f}"
            for name, model in result.models.items()
        ],
        [folder / f"confusion_{name}.png" for name in result.models],
    )
    metrics_path = folder / "metrics.json"
    write_json_atomic(metrics_path, mnist_metrics(result, as_dict(settings)))
    print_files([str(path) for path in [*files, metrics_path, _write_index(settings.out)]])


@app.command()
def confidence(
    top: Annotated[
        int | None,
        typer.Option(help=_default_help(ConfidenceConfig, "top", "How many most and least confident images.")),
    ] = None,
    model: Annotated[
        str | None, typer.Option(help=_default_help(ConfidenceConfig, "model", "The network: conv, full or linear."))
    ] = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            help="A checkpoint written by 'nnlab mnist'. (default: OUT/mnist/MODEL.pt, trained now if missing)"
        ),
    ] = None,
    dataset: DatasetOption = None,
    data_dir: DataDirOption = None,
    fallback: FallbackOption = None,
    device: DeviceOption = None,
    out: Annotated[Path | None, typer.Option(help=_default_help(ConfidenceConfig, "out", "Output folder."))] = None,
    config: ConfigOption = None,
    quiet: QuietOption = None,
) -> None:
    """Find the test images the network is most and least sure of (log-domain softmax confidence).

    Prints a per-class table and the expected calibration error; writes image grids, calibration and per-class
    figures and confidence.json into OUT/confidence/.

    Example: nnlab confidence --top 24 --model conv
    """
    settings = resolve(
        ConfidenceConfig,
        config,
        {
            "top": top,
            "model": model,
            "checkpoint": None if checkpoint is None else str(checkpoint),
            "dataset": dataset,
            "data_dir": None if data_dir is None else str(data_dir),
            "fallback": fallback,
            "device": device,
            "out": None if out is None else str(out),
            "quiet": quiet,
        },
    )
    from nnlab.files import prepare_output_dir

    path = settings.checkpoint_path()
    if settings.checkpoint is not None and not path.is_file():
        raise ConfigError(f"--checkpoint {path}: no such file; train one with 'nnlab mnist' or drop --checkpoint")
    folder = prepare_output_dir(Path(settings.out) / "confidence")
    data = _load_data(settings)
    half = len(data.test_labels) // 2
    if settings.top > half:
        raise ConfigError(f"--top {settings.top}: must be at most half the test set ({half})")
    with _stop_on_ctrl_c():
        _run_confidence(settings, data, path, folder)


def _trained_classifier(settings: ConfidenceConfig, data: Any, path: Path) -> Any:
    """The checkpoint's classifier; trained with the 'nnlab mnist' defaults (and saved) when there is none."""
    from nnlab.classifier import NNClassifier
    from nnlab.files import prepare_output_dir
    from nnlab.report import dataset_record, print_warning

    if path.is_file():
        classifier = NNClassifier.load(path, model=settings.model, device=settings.device)
        trained_on = classifier.metadata_.get("dataset", {}).get("name")
        if trained_on and trained_on != data.name:
            print_warning(f"{path} was trained on {trained_on}, not on {data.name}")
        console.print(f"model: {settings.model} from {path}", markup=False)
        return classifier
    console.print(f"no checkpoint at {path}: training {settings.model} with the 'nnlab mnist' defaults", markup=False)
    defaults = MnistConfig(
        dataset=settings.dataset, data_dir=settings.data_dir, device=settings.device, models=(settings.model,)
    )
    from nnlab.report import TrainingProgress

    classifier = NNClassifier(model=settings.model, **defaults.classifier_params())
    with TrainingProgress(_show_progress(settings.quiet)) as bar:
        classifier.fit(data.train_images, data.train_labels, progress=lambda event: bar.update(settings.model, event))
    prepare_output_dir(path.parent, "--checkpoint")
    classifier.save(path, {"dataset": dataset_record(data)})
    console.print(f"saved {path} for next time", markup=False)
    return classifier


def _run_confidence(settings: ConfidenceConfig, data: Any, path: Path, folder: Path) -> None:
    from nnlab import plots
    from nnlab.confidence import analyse
    from nnlab.files import write_json_atomic
    from nnlab.report import confidence_metrics, confidence_table, describe_classes, print_files

    classifier = _trained_classifier(settings, data, path)
    logits = classifier.decision_function(data.test_images)
    result = analyse(logits, data.test_labels, data.classes, settings.top, settings.model, data.name)
    console.print(confidence_table(result))
    console.print(f"the {settings.top} most confident: {describe_classes(result.class_counts(result.most))}")
    console.print(f"the {settings.top} least confident: {describe_classes(result.class_counts(result.least))}")
    wrong = int((result.predictions[result.least] != result.labels[result.least]).sum())
    console.print(f"{wrong} of the {settings.top} least confident are misclassified; ECE {result.ece:.4f}")
    where = f"{settings.model} on {data.name}"
    files = [
        plots.image_grid(result, data.test_images, result.most, folder / "most_confident.png",
                         f"the {settings.top} most confident test images ({where})"),
        plots.image_grid(result, data.test_images, result.least, folder / "least_confident.png",
                         f"the {settings.top} least confident test images ({where})"),
        plots.calibration_plot(result, folder / "calibration.png"),
        plots.per_class_plot(result, folder / "per_class.png"),
    ]  # fmt: skip
    metrics_path = write_json_atomic(folder / "confidence.json", confidence_metrics(result, str(path), data))
    print_files([str(p) for p in [*files, metrics_path, _write_index(settings.out)]])


def _write_index(out: str | Path) -> Path:
    from nnlab.index import write_index

    return write_index(Path(out))


@app.command()
def index(
    out: Annotated[Path, typer.Option(help="Output folder. (default: outputs)")] = Path("outputs"),
) -> None:
    """Rewrite OUT/index.html (every picture and table, openable in a browser) and list every output file.

    Example: nnlab index --out outputs
    """
    from nnlab.files import prepare_output_dir
    from nnlab.index import describe, output_files

    if not out.is_dir():
        raise ConfigError(f"--out {out}: no such folder; run nnlab moons, mnist or confidence first")
    prepare_output_dir(out)
    page = _write_index(out)
    for relative in output_files(out):
        console.print(f"  {out / relative}  [dim]{describe(relative)}[/]")
    console.print(f"open {page.resolve().as_uri()} in a browser to see them all", markup=False)


@app.command()
def info() -> None:
    """Versions, device, threads, and which datasets are available here (and whether a download is tried).

    Example: nnlab info
    """
    import importlib.metadata
    import platform

    from rich.table import Table

    from nnlab.data import DATASETS, default_data_dir, downloads_allowed, subset_csv_path

    table = Table(title=f"nnlab {__version__}", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("python", f"{platform.python_version()} ({sys.executable})")
    for package in ("numpy", "scipy", "scikit-learn", "matplotlib", "torch", "torchvision", "typer", "rich", "mlxtend"):
        try:
            version = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            version = "[red]not installed[/]"
        table.add_row(package, version)
    import torch

    from nnlab.classifier import bf16_is_fast, resolve_device

    device = resolve_device("auto")
    table.add_row(
        "device (auto)", f"{device}" + (f" ({torch.cuda.get_device_name()})" if device.type == "cuda" else "")
    )
    table.add_row("torch threads", str(torch.get_num_threads()))
    table.add_row("bf16 training (precision auto)", "yes, for conv and full" if bf16_is_fast(device) else "no (fp32)")
    data_dir = default_data_dir()
    table.add_row("data folder", f"{data_dir} (set NNLAB_DATA_DIR or pass --data-dir to change)")
    for name, dataset_info in DATASETS.items():
        if dataset_info.torchvision_class is None:
            try:
                where = str(subset_csv_path()) if subset_csv_path().is_file() else "[red]missing[/]"
            except NnlabError as exc:
                where = f"[red]{exc}[/]"
            table.add_row(name, f"bundled: {where}")
            continue
        folder = data_dir / dataset_info.torchvision_class / "raw"
        table.add_row(name, f"local copy in {folder}" if _has_idx_files(folder) else "not downloaded yet")
    debian = Path("/usr/share/datasets/fashion-mnist")
    table.add_row(
        "Debian Fashion-MNIST",
        f"{debian} (use --data-dir {debian})"
        if _has_idx_files(debian)
        else "not installed (apt-get install dataset-fashion-mnist)",
    )
    table.add_row(
        "downloads",
        "tried when a dataset is not found locally" if downloads_allowed() else "off (NNLAB_OFFLINE is set)",
    )
    console.print(table)


def _has_idx_files(folder: Path) -> bool:
    """True when ``folder`` holds all four IDX files (an incomplete set counts as absent here)."""
    from nnlab.data import idx_folder_files

    try:
        return idx_folder_files(folder) is not None
    except NnlabError:
        return False
