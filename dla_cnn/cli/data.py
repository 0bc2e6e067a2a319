"""Commands that write spectra and training sets: ``build-training`` and ``simulate``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dla_cnn.cli._app import _command_line, _fail, _progress, _rate_progress, app, console, out
from dla_cnn.exceptions import DlaCnnError


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
        with _rate_progress("build-training", n_sightlines, t0) as step:
            path = build_training_set(out_path, cfg, workers=workers, hosts=hosts, progress=step,
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
