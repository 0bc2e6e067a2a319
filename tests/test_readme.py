"""The examples of README.md run as written after ``pip install``.

Every ```bash and ```python block of the README, except the set-up block (``pip install``
and ``python -m pytest``, which would run this test again), runs in document order in one
scratch directory: bash blocks with ``set -e``, python blocks with this interpreter.

``DLA_CNN_README_SIZES`` chooses the sizes: ``small`` (default) rewrites the size arguments
with the table :data:`SMALL` below; ``full`` runs the README exactly as written (hours on a
CPU).  Each rewrite must match the README, so an edit that defeats one fails here instead of
silently running at full size.

Commands about the user's own data run on stand-ins made in the scratch directory first
(:func:`make_stand_ins`): ``my_spectra/`` (DLA-free simulated BOSS spectra),
``known_dlas.fits`` (two of their sightlines as catalogued absorbers), ``DR12Q.fits`` with
its spectra under ``boss_spectra/PLATE/``; the Dask scheduler address is that of a
:class:`dask.distributed.LocalCluster` started here (:data:`SCHEDULER`).

The demo's printed counts must be those the README states in its comment on ``dla-cnn demo``
(the README is the one place to update when the packaged model changes).
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
SIZES = os.environ.get("DLA_CNN_README_SIZES", "small")

#: ``small`` sizes: (what, pattern, replacement), applied line by line (re.MULTILINE) to the
#: bash blocks.  Options appended to a command override the ones written before them (the
#: last occurrence of an option wins).
SMALL = [
    ("simulated sightlines", r"^(dla-cnn simulate )\d+", r"\g<1>24"),
    ("training-set sightlines", r"^(dla-cnn build-training .*--n-sightlines )\d+", r"\g<1>64"),
    ("crop-set sightlines", r"^(dla-cnn build-crops -n )\d+", r"\g<1>24"),
    ("per-pixel training", r"^((?:\w+=\S+ )*dla-cnn train .*)$", r"\1 --epochs 1 --steps-per-epoch 2 --batch-size 8"),
    ("absorber-level training", r"^((?:\w+=\S+ )*dla-cnn train-absorber .*)$",
     r"\1 --epochs 1 --calibration-sightlines 24"),
    ("recalibration sightlines", r"^((?:\w+=\S+ )*dla-cnn calibrate-absorber .*)$", r"\1 --sightlines 24 --workers 1"),
    ("report pages", r"^(dla-cnn report .*)$", r"\1 --max-sightlines 3"),
    ("streamed training", r"^((?:\w+=\S+ )*dla-cnn train --stream .*)$",
     r"\1 --validation-sightlines 8 --test-sightlines 8 --stream-workers 1"),
]

#: The README's Dask scheduler address, replaced (in every mode) by a local cluster's.
SCHEDULER = "tcp://scheduler:8786"

#: Run before each bash block: stop at the first failing command, and print each command
#: with the seconds since the block started on stderr.  ``dla-cnn scan`` exits 2 when some
#: sightlines could not be searched (README, "Exit codes"), which the README's simulated
#: skies always have; that is the documented partial success, not a failure of the example.
PRELUDE = r"""set -e
trap 'echo "+ [${SECONDS}s] $BASH_COMMAND" >&2' DEBUG
dla-cnn() { command dla-cnn "$@" || { rc=$?; [ "$1" = scan ] && [ "$rc" = 2 ] || return "$rc"; }; }
"""

#: Blocks not run: installing, and the test suite (which would run this test again).
SETUP = re.compile(r"^\s*(pip install|python -m pytest)\b", re.M)


def readme_blocks(text: str) -> list[tuple[str, str]]:
    """The README's ```bash and ```python blocks as (language, code), in document order."""
    return [(m.group(1), m.group(2)) for m in re.finditer(r"^```(bash|python)\n(.*?)^```", text, re.M | re.S)]


def shrink(code: str, counts: dict[str, int]) -> str:
    """``code`` with the :data:`SMALL` substitutions applied; ``counts`` adds up their matches."""
    for what, pattern, repl in SMALL:
        code, n = re.subn(pattern, repl, code, flags=re.M)
        counts[what] = counts.get(what, 0) + n
    return code


def make_stand_ins(root: Path) -> None:
    """The user's data that the README's examples name, made up in ``root``."""
    from astropy.io import fits
    from astropy.table import Table

    from dla_cnn.assets import sample_spectra_dir
    from dla_cnn.io import read_spectrum
    from dla_cnn.simulate.export import TRUTH_NAME, simulate_to_directory

    # my_spectra/: DLA-free spectra of the user's own; known_dlas.fits names two of them
    res = simulate_to_directory(root / "my_spectra", 12, seed=4242, dla_rate=0.0)
    (root / "my_spectra" / TRUTH_NAME).unlink()
    known = [read_spectrum(str(p))[0] for p in res["files"][:2]]
    Table({"PLATE": [s.plate for s in known], "MJD": [s.mjd for s in known], "FIBERID": [s.fiber for s in known],
           "Z_ABS": [2.5, 2.7], "NHI": [20.6, 21.0]}).write(root / "known_dlas.fits")
    # DR12Q.fits: a DR12Q-style quasar table (with made-up THING_IDs); its spectra in the BOSS layout
    # boss_spectra/PLATE/spec-*.fits
    rows = []
    for i, p in enumerate(sorted(sample_spectra_dir().glob("spec-*.fits.gz"))[:4]):
        plate, mjd, fiber = (int(x) for x in p.name.split(".")[0].split("-")[1:])
        (root / "boss_spectra" / f"{plate:04d}").mkdir(parents=True, exist_ok=True)
        with fits.open(p) as h:
            rows.append((plate, mjd, fiber, 400000000 + i, float(h[2].data["PLUG_RA"][0]),
                         float(h[2].data["PLUG_DEC"][0]), float(h[2].data["Z"][0])))
            h.writeto(root / "boss_spectra" / f"{plate:04d}" / f"spec-{plate:04d}-{mjd}-{fiber:04d}.fits")
    Table(rows=rows, names=("PLATE", "MJD", "FIBERID", "THING_ID", "RA", "DEC", "Z")).write(root / "DR12Q.fits")


def command_env(tmp_path: Path) -> dict[str, str]:
    """The environment of the README commands: ``dla-cnn`` and ``python`` of this installation."""
    env = dict(os.environ, MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="3", COLUMNS="200")
    bindir = Path(sys.executable).parent
    if not (bindir / "dla-cnn").exists():  # no console script: the module does the same
        bindir = tmp_path / "bin"
        bindir.mkdir()
        (bindir / "dla-cnn").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m dla_cnn.cli "$@"\n')
        (bindir / "dla-cnn").chmod(0o755)
        (bindir / "python").symlink_to(sys.executable)
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    return env


def readme_demo_claims(text: str) -> dict[str, str]:
    """The demo's numbers as the README states them."""
    m = re.search(r"scan the (\d+) packaged simulated BOSS sightlines \((\d+) searchable\).*?"
                  r"(\d+) DLAs and (\d+) sub-DLAs; completeness as DLA ([\d.]+), purity ([\d.]+)", text, re.S)
    assert m, "README: the comment on `dla-cnn demo` no longer states its counts in the expected words"
    return dict(zip(("sightlines", "searched", "dla", "subdla", "completeness", "purity"), m.groups()))


def demo_printed(output: str) -> dict[str, str]:
    """The same numbers as ``dla-cnn demo`` printed them."""
    found = {}
    for pattern, keys in ((r"absorbers in the (\d+) packaged sample sightlines", ("sightlines",)),
                          (r"\((\d+) sightlines searched, (\d+) DLAs, (\d+) sub-DLAs\)", ("searched", "dla", "subdla")),
                          (r"completeness \(as DLA\) ([\d.]+), purity ([\d.]+)", ("completeness", "purity"))):
        m = re.search(pattern, output)
        assert m, f"dla-cnn demo printed no line matching {pattern!r}:\n{output}"
        found.update(zip(keys, m.groups()))
    return found


@pytest.mark.slow
def test_readme_examples_run_as_written(tmp_path, monkeypatch):
    assert SIZES in ("small", "full"), f"DLA_CNN_README_SIZES must be small or full (got {SIZES!r})"
    text = README.read_text()
    blocks = readme_blocks(text)
    setup = [code for lang, code in blocks if lang == "bash" and SETUP.search(code)]
    assert len(setup) == 1, "README: expected one set-up block (pip install / python -m pytest)"
    blocks = [(lang, code) for lang, code in blocks if not (lang == "bash" and SETUP.search(code))]
    assert any("dla-cnn demo" in code for _, code in blocks), "README: no block runs dla-cnn demo"
    if SIZES == "small":  # every rewrite must still match, else the README would run at full size
        counts: dict[str, int] = {}
        blocks = [(lang, shrink(code, counts) if lang == "bash" else code) for lang, code in blocks]
        unmatched = [what for what, n in counts.items() if n == 0]
        assert not unmatched, f"small-size rewrites that no longer match the README: {unmatched}"

    scratch = tmp_path / "work"
    scratch.mkdir()
    make_stand_ins(scratch)
    env = command_env(tmp_path)
    with contextlib.ExitStack() as stack:
        address = None
        if any(SCHEDULER in code for _, code in blocks):
            distributed = pytest.importorskip("dask.distributed")
            monkeypatch.chdir(tmp_path)  # the workers' directory is not the commands' one, as on a cluster
            cluster = stack.enter_context(distributed.LocalCluster(
                n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=":0"))
            address = cluster.scheduler_address
        for i, (lang, code) in enumerate(blocks):
            if lang == "python":
                script = tmp_path / f"block{i}.py"
                script.write_text(code)
                cmd = [sys.executable, str(script)]
            else:
                if address:
                    code = code.replace(SCHEDULER, address)
                script = tmp_path / f"block{i}.sh"
                script.write_text(PRELUDE + code)
                cmd = ["bash", str(script)]
            res = subprocess.run(cmd, cwd=scratch, env=env, capture_output=True, text=True)
            assert res.returncode == 0, (f"README {lang} block {i} failed (exit {res.returncode}):\n{code}\n"
                                         f"--- stdout\n{res.stdout[-6000:]}\n--- stderr\n{res.stderr[-6000:]}")
            if "dla-cnn demo" in code:
                assert demo_printed(res.stdout) == readme_demo_claims(text), (
                    "dla-cnn demo's counts differ from the README's comment on it:\n" + res.stdout[-3000:])
