"""The ``dla-cnn`` command line: a thin layer that parses options and calls the library.

Every command prints one line per problem and exits non-zero on failure, never a
traceback: run-wide errors (bad options, missing model) stop the command; a bad
spectrum in a batch becomes a one-line error and the other sightlines go on.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Optional

import numpy as np
import typer
from rich.console import Console

from dla_cnn.exceptions import DlaCnnError

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep TensorFlow's start-up chatter off the terminal

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Find and measure damped Lyman-alpha absorbers in quasar spectra with a CNN.",
)
console = Console(stderr=True)
out = Console()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    """Find and measure damped Lyman-alpha absorbers in quasar spectra with a CNN."""
    if version:
        from dla_cnn import __version__

        out.print(f"dla-cnn {__version__}")
        raise typer.Exit(0)


def _command_line() -> str:
    return "dla-cnn " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _fail(err: Exception, code: int = 1) -> None:
    console.print(f"[red]error:[/red] {err}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _for_inference() -> None:
    """Run the models in the fastest installed Keras backend unless the user chose one."""
    from dla_cnn.backend import choose_inference_backend

    choose_inference_backend()


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn(),
        console=console, transient=False, disable=not console.is_terminal and os.environ.get("DLA_CNN_PROGRESS") != "1",
    )


def _rate_step(prog, task, t0: float):
    """A progress callback ``(done, total=None)`` that also shows sightlines per second since ``t0``."""
    import time

    def step(done: int, total: int | None = None) -> None:
        rate = done / max(time.perf_counter() - t0, 1e-9)
        extra = {} if total is None else {"total": total}
        prog.update(task, completed=done, rate=f"{rate:.0f} sightlines/s", **extra)

    return step


# --------------------------------------------------------------------------- build-training
@app.command("build-training")
def build_training(
    out_path: Path = typer.Option(Path("training_sets/default.h5"), "--out", help="Output HDF5 file."),
    n_sightlines: int = typer.Option(1000, "--n-sightlines", "-n", help="Number of sightlines."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, identical file)."),
    source: str = typer.Option("simulator", "--source", help="'simulator', or a directory / quasar table of DLA-free spectra."),
    quasar_catalog: Optional[Path] = typer.Option(None, "--quasar-catalog", help="Quasar catalog giving z_qso for real hosts."),
    exclude: Optional[Path] = typer.Option(None, "--exclude", help="Catalog of known absorbers; their sightlines are not hosts."),
    workers: int = typer.Option(1, "--workers", "-j", help="Processes (the output does not depend on it)."),
    log_nhi_min: float = typer.Option(19.3, help="Lowest injected log N_HI."),
    log_nhi_max: float = typer.Option(22.5, help="Highest injected log N_HI."),
    p_none: float = typer.Option(0.2, help="Share of sightlines with no injected absorber."),
    sky: str = typer.Option("fixed", "--sky", help="Simulated hosts: 'fixed' settings, or 'train' (randomised per sightline)."),
) -> None:
    """Inject synthetic absorbers into DLA-free sightlines and write a labelled training set."""
    import time

    from dla_cnn.training import BuildConfig, build_training_set, collect_hosts
    from dla_cnn.training.inject import InjectionConfig

    try:
        cfg = BuildConfig(n_sightlines=n_sightlines, seed=seed, source=source, sky=sky,
                          injection=InjectionConfig(log_nhi_min=log_nhi_min, log_nhi_max=log_nhi_max, p_none=p_none))
        hosts = None
        if source != "simulator":
            if not Path(source).exists():
                raise typer.BadParameter(f"{source}: no such file or directory", param_hint="--source")
            hosts, problems = collect_hosts(source, quasar_catalog, exclude)
            for p in problems:
                console.print(f"[yellow]skipped:[/yellow] {p}", highlight=False, soft_wrap=True)
            console.print(f"{len(hosts)} host sightlines from {source}")
        t0 = time.perf_counter()
        with _progress() as prog:
            task = prog.add_task("build-training", total=n_sightlines, rate="")
            path = build_training_set(out_path, cfg, workers=workers, hosts=hosts, progress=_rate_step(prog, task, t0),
                                      command=_command_line())
        dt = time.perf_counter() - t0
        out.print(f"wrote {path} ({n_sightlines} sightlines, {n_sightlines / dt:.0f}/s, {path.stat().st_size / 1e6:.1f} MB)")
    except DlaCnnError as err:
        _fail(err)


# --------------------------------------------------------------------------- simulate
@app.command()
def simulate(
    n: int = typer.Argument(..., help="Number of sightlines."),
    out_dir: Path = typer.Option(..., "--out", help="Output directory for spec-*.fits files and truth.ecsv."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    dla_rate: float = typer.Option(0.0, "--dla-rate", help="Injected DLAs per unit redshift of searched path (0: DLA-free)."),
    snr: str = typer.Option("boss", "--snr", help="S/N distribution: 'boss' (peaked near 4) or 'loguniform' (1-30)."),
    sky: str = typer.Option("fixed", "--sky", help="Simulator settings: 'fixed' (defaults), 'train' (randomised per "
                            "sightline) or 'heldout' (outside the training ranges, for accuracy measurements)."),
) -> None:
    """Write N simulated BOSS sightlines (spec-PLATE-MJD-FIBER.fits) plus a truth table."""
    from dla_cnn.simulate.export import simulate_to_directory

    try:
        with _progress() as prog:
            task = prog.add_task("simulate", total=n, rate="")
            res = simulate_to_directory(out_dir, n, seed=seed, dla_rate=dla_rate, snr_distribution=snr, sky=sky,
                                        progress=lambda k: prog.update(task, completed=k))
        out.print(f"wrote {n} spectra to {out_dir} and {res['n_truth']} absorbers (log N_HI >= 19.0) to {res['truth']}")
    except DlaCnnError as err:
        _fail(err)


# --------------------------------------------------------------------------- train
@app.command()
def train(
    train_set: Optional[Path] = typer.Argument(None, help="HDF5 training set from build-training (with --stream: "
                                               "optional, its validation and test splits replace the generated sets)."),
    out_path: Path = typer.Option(..., "--out", help="Output model (.keras); its card is NAME.card.json."),
    preset: str = typer.Option("fcn", "--preset", help="Model preset: fcn (default) or parks2018."),
    epochs: int = typer.Option(10, "--epochs", help="Epochs."),
    batch_size: int = typer.Option(32, "--batch-size", help="Sightlines (fcn) or windows (parks2018) per batch."),
    lr: float = typer.Option(1e-3, "--lr", help="Peak learning rate (cosine decay)."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the last checkpoint."),
    patience: int = typer.Option(4, "--patience", help="Early-stopping patience (epochs)."),
    steps_per_epoch: Optional[int] = typer.Option(None, "--steps-per-epoch", help="Limit batches per epoch."),
    calibrate: bool = typer.Option(True, "--calibrate/--no-calibrate", help="Fit the N_HI/error/confidence calibration."),
    init_from: Optional[Path] = typer.Option(None, "--init-from",
                                             help="Start from this model's weights (fine-tuning; layers matched by name)."),
    validation_steps: Optional[int] = typer.Option(None, "--validation-steps",
                                                   help="Validation batches per epoch (default: the whole split)."),
    stream: bool = typer.Option(False, "--stream", help="Train on sightlines simulated on the fly (never repeated; "
                                "seeded by --seed) instead of a stored set; --steps-per-epoch defaults to 1000."),
    recipe: Optional[Path] = typer.Option(None, "--recipe", help="The stream's recipe: a build-training config as JSON "
                                          "(e.g. training_sets/sim60k.json; its seed is not used); implies --stream."),
    stream_workers: Optional[int] = typer.Option(None, "--stream-workers",
                                                 help="Processes simulating the stream (default: cores - 1)."),
    validation_sightlines: int = typer.Option(2000, "--validation-sightlines",
                                              help="Size of the stream's fixed validation set."),
    test_sightlines: int = typer.Option(2000, "--test-sightlines",
                                        help="Test sightlines evaluated for the card (the stream's fixed test set)."),
) -> None:
    """Train a model on a training set or a stream of simulated sightlines (GPU when one is visible, else CPU)."""
    from dla_cnn.backend import import_keras

    keras = import_keras()

    from dla_cnn.model.train import devices, train as train_model

    try:
        found = devices()
        console.print(f"backend {keras.backend.backend()}, devices: {', '.join(found)}", highlight=False)
        if keras.backend.backend() == "tensorflow" and not any("GPU" in d.upper() for d in found):
            console.print("note: on a CPU, KERAS_BACKEND=jax trains the fcn preset about twice as fast as "
                          "TensorFlow (benchmarks/RESULTS.md)", highlight=False)
        source = train_set
        if stream or recipe is not None:
            from dla_cnn.model.stream import StreamSpec, default_workers
            from dla_cnn.training.stream import load_recipe

            source = StreamSpec(load_recipe(recipe), default_workers() if stream_workers is None else stream_workers,
                                validation_sightlines, str(train_set) if train_set else None)
        elif train_set is None:
            raise typer.BadParameter("give a training set, or --stream", param_hint="TRAIN_SET")
        model, card = train_model(source, out_path, preset, epochs, batch_size, lr, seed, resume, patience,
                                  steps_per_epoch, log=lambda s: console.print(s, highlight=False),
                                  command=_command_line(), verbose=1 if console.is_terminal else 2,
                                  init_from=init_from, validation_steps=validation_steps, calibrate=calibrate,
                                  test_sightlines=test_sightlines)
    except DlaCnnError as err:
        _fail(err)
    m = {k: float("nan") if v is None else v for k, v in card["metrics_test"].items()}  # nan: empty test split
    out.print(f"wrote {out_path}: test pixel accuracy {m['pixel_accuracy']:.4f}, offset RMSE {m['offset_rmse_px']:.2f} px, "
              f"N_HI RMSE {m['log_nhi_rmse_dex']:.3f} dex ({card['samples_per_s']:.0f} samples/s, "
              f"wall {card['wall_time_s']:.0f} s)")


@app.command()
def calibrate(
    model_path: Path = typer.Argument(..., help="Model .keras file (its card is updated)."),
    train_set: Path = typer.Argument(..., help="Training set whose held-out split is used."),
    split: str = typer.Option("validation", "--split", help="Held-out split to fit on."),
    max_sightlines: int = typer.Option(3000, "--max-sightlines", help="Sightlines used."),
) -> None:
    """Fit a model's N_HI calibration, error scales and confidence map on a held-out split."""
    from dla_cnn.model import load_model, write_card
    from dla_cnn.scan.calibrate import fit_calibration

    try:
        model, card = load_model(model_path)
        cal, summary = fit_calibration(model, train_set, split, max_sightlines)
    except DlaCnnError as err:
        _fail(err)
    card["calibration"] = cal.to_dict()
    card["calibration_summary"] = summary
    write_card(model_path, card)
    out.print(f"calibrated {model_path}: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                                     for k, v in summary.items()))


# --------------------------------------------------------------------------- two-stage finder
@app.command("build-crops")
def build_crops(
    out_path: Path = typer.Option(Path("training_sets/crops_train.npz"), "--out", help="Output crop set (.npz)."),
    n_sightlines: int = typer.Option(16000, "--n-sightlines", "-n", help="Simulated sightlines."),
    seed: int = typer.Option(100, "--seed", help="Random seed (same seed, same crops)."),
    sky: str = typer.Option("train", "--sky", help="Sky preset: train (randomised per sightline), fixed or heldout."),
    model: Optional[Path] = typer.Option(None, "--model", help="Per-pixel model proposing candidates (default: packaged)."),
    workers: int = typer.Option(2, "--workers", "-j", help="Simulation processes."),
) -> None:
    """Simulate sightlines, run the per-pixel model and cut labelled candidate crops for the absorber stage."""
    import time

    from dla_cnn.absorber.data import CropSetConfig, build_crop_set
    from dla_cnn.assets import resolve_model
    from dla_cnn.model import load_model

    try:
        stage1, _ = load_model(resolve_model(model))
        cfg = CropSetConfig(n_sightlines=n_sightlines, seed=seed, sky=sky)
        t0 = time.perf_counter()
        with _progress() as prog:
            task = prog.add_task("build-crops", total=n_sightlines, rate="")
            path = build_crop_set(cfg, stage1, out_path, workers=workers, progress=_rate_step(prog, task, t0))
        out.print(f"wrote {path} ({n_sightlines} sightlines, {path.stat().st_size / 1e6:.0f} MB)")
    except DlaCnnError as err:
        _fail(err)


@app.command("train-absorber")
def train_absorber(
    train_crops: list[Path] = typer.Argument(..., help="Crop set(s) to train on (build-crops); several are concatenated."),
    val_crops: Path = typer.Option(..., "--val", help="Crop set for validation (another seed)."),
    out_path: Path = typer.Option(..., "--out", help="Output two-stage finder (.keras); NAME_absorber.keras beside it."),
    model: Optional[Path] = typer.Option(None, "--model", help="Per-pixel model of the first stage (default: packaged)."),
    epochs: int = typer.Option(6, "--epochs", help="Epochs (a rerun with the same --out resumes)."),
    batch_size: int = typer.Option(128, "--batch-size", help="Crops per batch."),
    lr: float = typer.Option(1e-3, "--lr", help="Peak learning rate (cosine decay)."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    calibration_sightlines: int = typer.Option(4000, "--calibration-sightlines",
                                               help="Simulated sightlines at natural absorber incidence (seed 7000+) for the "
                                                    "confidence and error calibration."),
    min_confidence: float = typer.Option(0.5, "--min-confidence", help="Default catalog threshold stored in the card."),
    init_from: Optional[Path] = typer.Option(None, "--init-from",
                                             help="Start from a two-stage finder's absorber-level model (NAME_absorber.keras)."),
    preset: str = typer.Option("absorber", "--preset", help="Architecture: absorber (default) or absorber-small."),
) -> None:
    """Train the absorber-level model, calibrate it on fresh simulated skies and write the two-stage finder."""
    from dla_cnn.backend import import_keras

    keras = import_keras()

    from dla_cnn.absorber.calibrate import fit_stage_calibration, run_on_simulated
    from dla_cnn.absorber.data import CropSetConfig
    from dla_cnn.absorber.load import save_two_stage
    from dla_cnn.absorber.stage import AbsorberStage, StageConfig
    from dla_cnn.absorber.train import AbsorberTrainConfig, train_absorber_model
    from dla_cnn.assets import resolve_model
    from dla_cnn.model import load_model

    try:
        stage1_path = resolve_model(model)
        stage1, _ = load_model(stage1_path)
        console.print(f"backend {keras.backend.backend()}", highlight=False)
        from dla_cnn.absorber.model import ABSORBER_PRESETS

        if preset not in ABSORBER_PRESETS:
            raise typer.BadParameter(f"unknown preset {preset!r} (choose from {', '.join(ABSORBER_PRESETS)})")
        for p in [*train_crops, val_crops]:
            if not Path(p).is_file():
                raise typer.BadParameter(f"{p}: no such file")
        init_from = resolve_model(init_from) if init_from else None
        res = train_absorber_model([str(p) for p in train_crops], val_crops,
                                   out_path.with_name(out_path.stem + "_run.keras"),
                                   AbsorberTrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed),
                                   model_cfg=ABSORBER_PRESETS[preset], verbose=1 if console.is_terminal else 2,
                                   init_weights=init_from)
        stage_cfg = StageConfig(min_confidence=min_confidence)
        rows = run_on_simulated(AbsorberStage(res["model"], cfg=stage_cfg), stage1,
                                CropSetConfig(n_sightlines=calibration_sightlines, seed=7000 + seed, p_natural=1.0),
                                workers=2)
        cal, summary = fit_stage_calibration(rows)
        info = {"training": {"train_crops": [str(p) for p in train_crops], "val_crops": str(val_crops),
                             "init_from": str(init_from) if init_from else None, "epochs": epochs,
                             "batch_size": batch_size, "lr": lr, "seed": seed, "n_train": res["n_train"],
                             "seconds_this_invocation": round(res["seconds"], 1), "backend": keras.backend.backend(),
                             "command": _command_line()},
                "calibration_summary": summary}
        path = save_two_stage(stage1_path, out_path, res["model"], cal, stage_cfg, info, ABSORBER_PRESETS[preset])
    except DlaCnnError as err:
        _fail(err)
    out.print(f"wrote {path} (two-stage finder): calibration on {summary['n_candidates']} candidates, "
              f"z error scale {cal.z_err_scale:.2f}, log N error scale {cal.nhi_err_scale:.2f}")


# --------------------------------------------------------------------------- scan
def _detect_config(min_confidence: Optional[float], single_stage: bool):
    from dla_cnn.exceptions import ConfigError
    from dla_cnn.scan.detect import DetectConfig

    if min_confidence is not None and not 0.0 <= min_confidence <= 1.0:
        raise ConfigError(f"--min-confidence must be within 0..1 (got {min_confidence})")
    return DetectConfig(min_confidence=min_confidence, two_stage=not single_stage)


def _print_absorbers(results) -> None:
    """Print the absorbers: a rich table where it fits, else plain columns (ids are never cut)."""
    from rich.table import Table as RichTable

    header = ("sightline", "z_qso", "type", "z_abs", "+-", "log N_HI", "+-", "confidence", "S/N")
    rows = [(a["sightline_id"], f"{a['z_qso']:.3f}", a["type"], f"{a['z_abs']:.4f}", f"{a['z_abs_err']:.4f}",
             f"{a['log_nhi']:.2f}", f"{a['log_nhi_err']:.2f}", f"{a['confidence']:.2f}", f"{a['snr']:.1f}")
            for r in results for a in r.absorber_rows()]
    if not rows:
        out.print("no absorbers found")
        return
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    if out.is_terminal and sum(widths) + 3 * len(widths) + 1 <= out.width:
        tab = RichTable(title="absorbers found", show_lines=False)
        for col in header:
            tab.add_column(col, justify="right", no_wrap=True)
        for row in rows:
            tab.add_row(*row)
        out.print(tab)
        return
    # pipes and narrow terminals: plain columns, one line per absorber, left to the terminal to wrap
    out.print(f"absorbers found: {len(rows)}", highlight=False)
    for row in (header, *rows):
        line = "  ".join([row[0].ljust(widths[0])] + [v.rjust(w) for v, w in zip(row[1:], widths[1:])])
        out.print(line, highlight=False, soft_wrap=True)


@app.command()
def scan(
    paths: list[str] = typer.Argument(..., help="Spectrum files, directories or globs."),
    z_qso: Optional[float] = typer.Option(None, "--z-qso", help="Quasar redshift (overrides the file's)."),
    model: Optional[Path] = typer.Option(None, "--model", help="Model .keras file or packaged model name (default: dla_cnn_fcn)."),
    out_path: Optional[Path] = typer.Option(None, "--out", help="Write the catalog here (FITS; .ecsv for ECSV)."),
    plot_dir: Optional[Path] = typer.Option(None, "--plot", help="Write one PNG per sightline into this directory."),
    quasar_catalog: Optional[Path] = typer.Option(None, "--quasar-catalog",
                                                  help="Quasar catalog supplying z_qso (and the RA/Dec, THING_ID and "
                                                       "TARGETID the files lack)."),
    min_confidence: Optional[float] = typer.Option(None, "--min-confidence",
                                                   help="Report absorbers at or above this confidence (default: the model's, 0.5 for "
                                                        "the packaged finder; 0 keeps every candidate)."),
    single_stage: bool = typer.Option(False, "--single-stage", help="Skip the absorber-level stage (per-pixel votes decide)."),
) -> None:
    """Find absorbers in one or many spectra and print (and optionally write) the catalog."""
    _for_inference()
    from dla_cnn.io import iter_spectra
    from dla_cnn.io._fits import fits_engine
    from dla_cnn.scan.pipeline import Scanner

    try:
        scanner = Scanner(model, _detect_config(min_confidence, single_stage))
        results = list(scanner.scan(iter_spectra(paths, z_qso=z_qso, quasar_catalog=quasar_catalog,
                                                 engine=fits_engine()),
                                    keep_curves=plot_dir is not None))
    except DlaCnnError as err:
        _fail(err)
    bad = [r for r in results if r.status != "ok"]
    if results and len(bad) < len(results):
        _print_absorbers(results)
    else:
        out.print("no sightline could be searched")
    for r in bad:
        console.print(f"[red]{r.status}:[/red] {r.row['file'] or r.row['sightline_id']}: {r.row['message']}",
                      highlight=False, soft_wrap=True)
    if out_path is not None:
        from dla_cnn.catalog import absorber_table, sightline_table, write_catalog

        written = write_catalog(out_path, absorber_table([a for r in results for a in r.absorber_rows()]),
                                sightline_table([r.row for r in results]),
                                scanner.catalog_meta(_command_line()),
                                format="ecsv" if str(out_path).endswith(".ecsv") else "fits")
        out.print("wrote " + ", ".join(str(p) for p in written), highlight=False, soft_wrap=True)
    if plot_dir is not None:
        from dla_cnn.plots import plot_sightline

        for r in results:
            if r.sightline is not None:
                plot_sightline(r.sightline, Path(plot_dir) / f"{r.row['sightline_id']}.png", r.detections, r.prob, r.votes)
        out.print(f"plots in {plot_dir}")
    if not results or len(bad) == len(results):
        raise typer.Exit(1)
    if bad:
        raise typer.Exit(2)


# --------------------------------------------------------------------------- catalog
@app.command()
def catalog(
    source: Path = typer.Argument(..., help="Directory of spectra, or a DR12Q-style quasar table (with --spectra-dir)."),
    out_path: Path = typer.Option(Path("catalogs/catalog.fits"), "--out", help="Output catalog (FITS, or .ecsv)."),
    spectra_dir: Optional[Path] = typer.Option(None, "--spectra-dir", help="Where the quasar table's spectra are."),
    model: Optional[Path] = typer.Option(None, "--model", help="Model .keras file or packaged model name (default: dla_cnn_fcn)."),
    workers: int = typer.Option(1, "--workers", "-j", help="Local processes reading spectra."),
    resume: bool = typer.Option(False, "--resume", help="Continue a killed run from its checkpoints."),
    restart: bool = typer.Option(False, "--restart", help="Discard the checkpoints of an unfinished run and start afresh."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="dask.distributed scheduler address."),
    shard_size: int = typer.Option(256, "--shard-size", help="Sightlines per checkpoint."),
    batch_size: int = typer.Option(128, "--batch-size", help="Sightlines per inference batch."),
    min_confidence: Optional[float] = typer.Option(None, "--min-confidence",
                                                   help="Report absorbers at or above this confidence (default: the model's, 0.5 for "
                                                        "the packaged finder; 0 keeps every candidate)."),
    single_stage: bool = typer.Option(False, "--single-stage", help="Skip the absorber-level stage (per-pixel votes decide)."),
) -> None:
    """Build a DLA catalog over many sightlines (resumable; local cores or Dask)."""
    _for_inference()
    import time

    from dla_cnn.scan.builder import build_catalog

    t0 = time.perf_counter()
    try:
        with _progress() as prog:
            task = prog.add_task("catalog", total=None, rate="")
            step = _rate_step(prog, task, t0)

            res = build_catalog(source, out_path, model, spectra_dir, workers, resume, scheduler, shard_size,
                                batch_size, detect=_detect_config(min_confidence, single_stage), progress=step,
                                command=_command_line(),
                                fmt="ecsv" if str(out_path).endswith(".ecsv") else "fits", restart=restart)
    except DlaCnnError as err:
        _fail(err)
    dt = time.perf_counter() - t0
    counts = (f"{res['n_sightlines']} sightlines ({res['n_ok']} ok, {res['n_skipped']} skipped, {res['n_error']} error), "
              f"{res['n_dla']} DLAs, {res['n_subdla']} sub-DLAs")
    if res["already_finished"]:
        out.print(f"{res['path']}: this run has already finished, nothing to resume: {counts}", highlight=False)
    else:
        out.print(f"wrote {', '.join(res['paths'])}: {counts} in {dt:.1f} s", highlight=False, soft_wrap=True)
    if res["n_sightlines"] and res["n_error"] == res["n_sightlines"]:
        console.print("[red]error:[/red] no sightline could be read or searched (every row is an error; "
                      "see the message column of SIGHTLINES)", highlight=False)
        raise typer.Exit(1)


# --------------------------------------------------------------------------- vet
@app.command()
def vet(
    catalog_path: Path = typer.Argument(..., help="dla-cnn catalog (FITS or ECSV)."),
    truth: Path = typer.Argument(..., help="Truth table: dla-cnn truth ECSV or a published DLA catalog."),
    dz: float = typer.Option(0.015, "--dz", help="Match window |z_det - z_true|."),
    plots: Optional[Path] = typer.Option(None, "--plots", help="Directory for the vetting figures."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the full report as JSON."),
) -> None:
    """Completeness, purity, redshift and N_HI accuracy of a catalog against a truth catalog."""
    from rich.table import Table as RichTable

    from dla_cnn.vet import vet_files, vet_plots

    try:
        report = vet_files(catalog_path, truth, dz=dz)
    except (DlaCnnError, OSError, ValueError) as err:
        _fail(err)
    tab = RichTable(title=f"vetting {catalog_path.name} against {truth.name}")
    for col in ("metric", "value", "detail"):
        tab.add_column(col)
    for metric, value, detail in report.summary_rows():
        if isinstance(value, float) and value != value:  # NaN: a target not reached, or nothing to measure
            text = "not reached" if "threshold" in metric else "n/a"
        else:
            text = f"{value:.4g}" if isinstance(value, float) else str(value)
        tab.add_row(metric, text, "" if text == "not reached" and "nan" in str(detail) else str(detail))
    out.print(tab)
    if json_out:
        json_out.write_text(report.to_json())
    if plots:
        for p in vet_plots(report, plots):
            out.print(f"wrote {p}")


# --------------------------------------------------------------------------- plot
@app.command()
def plot(
    spectrum: Optional[Path] = typer.Argument(None, help="A spectrum file to draw."),
    catalog_path: Optional[Path] = typer.Option(None, "--catalog", help="Catalog whose absorbers to draw (else the model is run)."),
    summary: Optional[Path] = typer.Option(None, "--summary", help="Draw the summary figure of this catalog."),
    out_path: Path = typer.Option(Path("dla_cnn_plot.png"), "--out", help="Output PNG."),
    z_qso: Optional[float] = typer.Option(None, "--z-qso", help="Quasar redshift."),
    model: Optional[Path] = typer.Option(None, "--model", help="Model .keras file or packaged model name."),
) -> None:
    """Draw a sightline with its absorbers and the model's curves, or a catalog summary."""
    _for_inference()
    from dla_cnn import plots

    try:
        if summary is not None:
            from dla_cnn.catalog import read_catalog

            absorbers, sightlines, _ = read_catalog(summary)
            out.print(f"wrote {plots.plot_catalog_summary(absorbers, sightlines, out_path)}")
            return
        if spectrum is None:
            raise typer.BadParameter("give a SPECTRUM or --summary CATALOG")
        from dla_cnn.io import read_spectrum
        from dla_cnn.scan.pipeline import Scanner

        sl = read_spectrum(str(spectrum), z_qso=z_qso)[0]
        scanner = Scanner(model)
        res = next(iter(scanner.scan([sl], keep_curves=True)))
        dets = res.detections
        if catalog_path is not None:
            from dla_cnn.catalog import read_catalog
            from dla_cnn.scan.detect import Detection

            absorbers, _, _ = read_catalog(catalog_path)
            rows = absorbers[absorbers["sightline_id"] == sl.sightline_id]
            dets = [Detection(np.nan, float(r["z_abs"]), float(r["z_abs_err"]), float(r["log_nhi"]), float(r["log_nhi_err"]),
                              float(r["confidence"]), str(r["type"]), float(np.asarray(r["lambda_obs"])), np.nan, np.nan,
                              np.nan, np.nan) for r in rows]
        out.print(f"wrote {plots.plot_sightline(sl, out_path, dets, res.prob, res.votes)}")
    except DlaCnnError as err:
        _fail(err)


# --------------------------------------------------------------------------- report
@app.command()
def report(
    catalog_path: Path = typer.Argument(..., help="dla-cnn catalog (FITS or ECSV)."),
    out_dir: Path = typer.Option(..., "--out", help="Report directory (open OUT/index.html in a browser)."),
    spectra: Optional[Path] = typer.Option(None, "--spectra", help="Directory of the catalog's spectra (for the figures)."),
    truth: Optional[Path] = typer.Option(None, "--truth", help="Truth table: add the vetting metrics and figures."),
    sightlines: str = typer.Option("absorbers", "--sightlines", help="Sightline pages for: absorbers, all or none."),
    max_sightlines: Optional[int] = typer.Option(None, "--max-sightlines", help="At most this many sightline pages."),
    model: Optional[Path] = typer.Option(None, "--model", help="Model drawing the per-pixel curves (default: packaged)."),
    curves: bool = typer.Option(True, "--curves/--no-curves", help="Run the model for its curves (with --spectra)."),
) -> None:
    """Write a static HTML report of a catalog: index, absorber table, one page per sightline."""
    import time

    from dla_cnn.report import write_report

    if spectra is not None and curves:
        _for_inference()
    t0 = time.perf_counter()
    try:
        with _progress() as prog:
            task = prog.add_task("report", total=None, rate="")
            res = write_report(catalog_path, out_dir, spectra=spectra, truth=truth, sightlines=sightlines,
                               max_sightlines=max_sightlines, model=model, curves=curves,
                               progress=_rate_step(prog, task, t0), command=_command_line())
    except DlaCnnError as err:
        _fail(err)
    for note in res.notes:
        console.print(f"note: {note}", highlight=False, soft_wrap=True)
    out.print(f"wrote {res.index} ({res.n_pages} sightline pages, {res.n_spectra} with spectra) "
              f"in {time.perf_counter() - t0:.1f} s")


# --------------------------------------------------------------------------- export
@app.command()
def export(
    catalog_path: Path = typer.Argument(..., help="dla-cnn catalog (FITS or ECSV)."),
    fmt: str = typer.Option("picca", "--format", help="Output format: picca (DLA catalog, HDU DLACAT)."),
    out_path: Path = typer.Option(..., "--out", help="File to write."),
    min_log_nhi: float = typer.Option(20.3, "--min-log-nhi", help="Export absorbers with log N_HI at or above this."),
    min_confidence: Optional[float] = typer.Option(None, "--min-confidence",
                                                   help="Export absorbers at or above this confidence (default: all in the catalog)."),
    id_column: str = typer.Option("auto", "--id-column", help="Line-of-sight id: auto, THING_ID (SDSS/BOSS) or TARGETID (DESI)."),
) -> None:
    """Write a catalog's absorbers in another program's format (picca's DLA mask catalog)."""
    from dla_cnn.catalog.export import EXPORT_FORMATS, export_picca

    try:
        if fmt.lower() not in EXPORT_FORMATS:
            from dla_cnn.exceptions import ConfigError

            raise ConfigError(f"unknown export format {fmt!r} (known: {', '.join(EXPORT_FORMATS)})")
        res = export_picca(catalog_path, out_path, min_log_nhi=min_log_nhi, min_confidence=min_confidence,
                           id_column=id_column)
    except DlaCnnError as err:
        _fail(err)
    out.print(f"wrote {res.path}: {res.n_dla} absorbers on {res.n_los} lines of sight (HDU DLACAT, {res.id_column})",
              highlight=False, soft_wrap=True)


# --------------------------------------------------------------------------- demo
@app.command()
def demo(
    out_path: Path = typer.Option(Path("catalogs/demo.fits"), "--out", help="Catalog to write."),
    plots: Optional[Path] = typer.Option(Path("catalogs/demo_plots"), "--plots", help="Directory for figures."),
) -> None:
    """Scan the packaged sample sightlines with the packaged model, write a catalog and vet it."""
    _for_inference()
    import time

    from rich.table import Table as RichTable

    from dla_cnn.assets import sample_spectra_dir, sample_truth_path
    from dla_cnn.scan.builder import build_catalog
    from dla_cnn.vet import vet_files, vet_plots

    t0 = time.perf_counter()
    try:
        res = build_catalog(sample_spectra_dir(), out_path, command=_command_line())
        report = vet_files(out_path, sample_truth_path())
    except DlaCnnError as err:
        _fail(err)
    dt = time.perf_counter() - t0
    from dla_cnn.catalog import read_catalog

    absorbers, sightlines, _ = read_catalog(out_path)
    tab = RichTable(title=f"absorbers in the {res['n_sightlines']} packaged sample sightlines")
    for col in ("sightline", "type", "z_abs", "log N_HI", "confidence"):
        tab.add_column(col, justify="right")
    for r in absorbers:
        tab.add_row(str(r["sightline_id"]), str(r["type"]), f"{r['z_abs']:.4f} +- {r['z_abs_err']:.4f}",
                    f"{r['log_nhi']:.2f} +- {r['log_nhi_err']:.2f}", f"{r['confidence']:.2f}")
    out.print(tab)
    out.print(f"wrote {res['path']} ({res['n_ok']} sightlines searched, {res['n_dla']} DLAs, "
              f"{res['n_subdla']} sub-DLAs) in {dt:.1f} s")
    out.print(f"against the simulated truth: completeness (as DLA) {report.completeness_dla:.2f}, "
              f"purity {report.purity:.2f}, sigma(dz) {report.dz_mad_std:.4f}, "
              f"dlog N {report.dlogn_median:+.2f} +- {report.dlogn_mad_std:.2f}")
    if plots is not None:
        from dla_cnn.plots import plot_catalog_summary

        plot_catalog_summary(absorbers, sightlines, Path(plots) / "summary.png")
        vet_plots(report, plots)
        out.print(f"figures in {plots}")


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
