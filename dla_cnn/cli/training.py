"""Commands that train and calibrate models.

``train`` and ``calibrate`` for the per-pixel model; ``build-crops`` and ``train-absorber`` for the
absorber-level stage of the two-stage finder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dla_cnn.cli._app import _command_line, _fail, _rate_progress, app, console, out
from dla_cnn.exceptions import ConfigError, DlaCnnError


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
    from dla_cnn.backend import import_keras, preload_tensorflow

    keras = import_keras()
    preload_tensorflow()  # Keras would import it when saving, mid-run and loudly

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
    p_crowded: float = typer.Option(0.0, "--p-crowded", help="Share of crowded sightlines (DLAs at 1-3 per unit z, "
                                    "no minimum separation)."),
) -> None:
    """Simulate sightlines, run the per-pixel model and cut labelled candidate crops for the absorber stage."""
    from dla_cnn.absorber.data import CropSetConfig, build_crop_set
    from dla_cnn.assets import resolve_model
    from dla_cnn.model import load_model

    try:
        if not 0.0 <= p_crowded <= 1.0:
            raise ConfigError(f"--p-crowded must lie in [0, 1], got {p_crowded}")
        stage1, _ = load_model(resolve_model(model))
        cfg = CropSetConfig(n_sightlines=n_sightlines, seed=seed, sky=sky, p_crowded=p_crowded)
        with _rate_progress("build-crops", n_sightlines) as step:
            path = build_crop_set(cfg, stage1, out_path, workers=workers, progress=step)
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
    calibration_sightlines: int = typer.Option(40000, "--calibration-sightlines",
                                               help="Simulated sightlines at natural absorber incidence (seed 7300+) for the "
                                                    "confidence and error calibration."),
    min_confidence: float = typer.Option(0.5, "--min-confidence", help="Default catalog threshold stored in the card."),
    init_from: Optional[Path] = typer.Option(None, "--init-from",
                                             help="Start from a two-stage finder's absorber-level model (NAME_absorber.keras)."),
    preset: str = typer.Option("absorber", "--preset", help="Architecture: absorber (default), absorber-small or absorber-small-wide."),
    augment: bool = typer.Option(False, "--augment",
                                 help="Change half of each batch's crops: continuum errors of a few per cent, extra "
                                      "noise (x1-1.3) and mis-reported errors (x0.87-1.15); validation crops stay."),
) -> None:
    """Train the absorber-level model, calibrate it on fresh simulated skies and write the two-stage finder."""
    from dla_cnn.backend import import_keras, preload_tensorflow

    keras = import_keras()
    preload_tensorflow()  # Keras would import it when saving, mid-run and loudly

    from dla_cnn.absorber.augment import CropAugment
    from dla_cnn.absorber.calibrate import calibrate_finder
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
        crop_augment = CropAugment() if augment else None
        res = train_absorber_model([str(p) for p in train_crops], val_crops,
                                   out_path.with_name(out_path.stem + "_run.keras"),
                                   AbsorberTrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed),
                                   model_cfg=ABSORBER_PRESETS[preset], verbose=1 if console.is_terminal else 2,
                                   init_weights=init_from, augment=crop_augment)
        if res["transferred"]:
            n_layers = sum(1 for layer in res["model"].layers if layer.weights)
            console.print(f"started {len(res['transferred'])} of {n_layers} layers from {init_from}", highlight=False)
        stage_cfg = StageConfig(min_confidence=min_confidence)
        with _rate_progress("calibration", calibration_sightlines) as step:
            cal, summary = calibrate_finder(AbsorberStage(res["model"], cfg=stage_cfg), stage1, calibration_sightlines,
                                            seed=7300 + seed, progress=step)
        info = {"training": {"train_crops": [str(p) for p in train_crops], "val_crops": str(val_crops),
                             "init_from": str(init_from) if init_from else None,
                             "init_layers": res["transferred"], "epochs": epochs,
                             "augment": crop_augment.to_dict() if crop_augment else None,
                             "batch_size": batch_size, "lr": lr, "seed": seed, "n_train": res["n_train"],
                             "seconds_this_invocation": round(res["seconds"], 1), "backend": keras.backend.backend(),
                             "command": _command_line()},
                "calibration_summary": summary}
        path = save_two_stage(stage1_path, out_path, res["model"], cal, stage_cfg, info, ABSORBER_PRESETS[preset])
    except DlaCnnError as err:
        _fail(err)
    out.print(f"wrote {path} (two-stage finder): calibration on {summary['n_candidates']} candidates, "
              f"{_scales_text(cal)}")


@app.command("calibrate-absorber")
def calibrate_absorber(
    model_path: Path = typer.Argument(..., help="Two-stage finder .keras file (its card is updated)."),
    n_sightlines: int = typer.Option(40000, "--sightlines", "-n",
                                     help="Simulated sightlines at natural absorber incidence."),
    seed: int = typer.Option(7300, "--seed", help="Seed of the simulation (one no crop set used)."),
    workers: int = typer.Option(2, "--workers", "-j", help="Simulation processes."),
    cells: bool = typer.Option(True, "--cells/--no-cells",
                               help="Also fit maps per region and measured type within each S/N bin."),
    snr_bins: str = typer.Option("sightline", "--snr-bins",
                                 help="Bin the confidence maps by the sightline's S/N or each candidate's local S/N "
                                      "(sightline, local)."),
    err_snr_bins: str = typer.Option("", "--err-snr-bins",
                                     help="Bin the error scales by this S/N instead (sightline, local; "
                                          "default: as --snr-bins)."),
) -> None:
    """Refit a two-stage finder's confidence maps and error scales on fresh simulated skies."""
    from dla_cnn.backend import import_keras

    import_keras()
    from dla_cnn.absorber.calibrate import SNR_EDGES, calibrate_finder
    from dla_cnn.absorber.load import load_stage
    from dla_cnn.model import load_model, write_card

    try:
        for name, value in (("--snr-bins", snr_bins), ("--err-snr-bins", err_snr_bins or snr_bins)):
            if value not in SNR_EDGES:  # checked before the long simulation
                raise ConfigError(f"{name} must be one of {', '.join(SNR_EDGES)}, not {value!r}")
        stage1, card = load_model(model_path)
        stage = load_stage(model_path, card)
        if stage is None:
            raise ConfigError(f"{model_path}: a one-stage model (calibrate it with dla-cnn calibrate)")
        with _rate_progress("calibration", n_sightlines) as step:
            cal, summary = calibrate_finder(stage, stage1, n_sightlines, seed, workers, cells, progress=step,
                                            snr_kind=snr_bins, err_snr_kind=err_snr_bins or None)
    except DlaCnnError as err:
        _fail(err)
    card["stage2"]["calibration"] = cal.to_dict()
    card["stage2"]["calibration_summary"] = summary
    card["stage2"].setdefault("commands", {})["calibrate"] = _command_line()
    write_card(model_path, card)
    out.print(f"calibrated {model_path}: {summary['n_candidates']} candidates, {len(summary['cells'])} cell maps, "
              f"{_scales_text(cal)}")


def _scales_text(cal) -> str:
    """The calibration's error scales in one line (global, then per S/N bin and measured type)."""
    text = f"z error scale {cal.z_err_scale:.2f}, log N error scale {cal.nhi_err_scale:.2f}"
    if cal.err_scales:
        text += " (per S/N bin and type: " + ", ".join(
            f"{k} {z:.2f}/{n:.2f}" for k, (z, n) in sorted(cal.err_scales.items())) + ")"
    return text


@app.command("export-onnx")
def export_onnx_cmd(
    model: Path = typer.Argument(..., help="Finder .keras file (or packaged model name) to export."),
    tolerance: float = typer.Option(1e-3, "--tolerance", help="Largest accepted difference of the raw outputs."),
) -> None:
    """Export a finder's networks to ONNX (NAME.onnx, NAME_absorber.onnx) for scanning without Keras."""
    from dla_cnn.backend import import_keras

    import_keras()
    from dla_cnn.assets import resolve_model
    from dla_cnn.model.export import export_onnx

    try:
        path = resolve_model(model)
        section = export_onnx(path, tolerance=tolerance)
    except DlaCnnError as err:
        _fail(err)
    for key in ("stage1", "stage2"):
        if key in section:
            e = section[key]
            out.print(f"wrote {path.with_name(e['file'])} (largest difference from Keras {e['max_abs_diff']:.2g})",
                      highlight=False)
    out.print(f"recorded in {path.with_name(path.name[:-len('.keras')] + '.card.json')}", highlight=False)
