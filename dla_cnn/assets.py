"""Files shipped inside the package: the pretrained model and sample sightlines.

``dla_cnn/data/manifest.json`` lists every asset with its sha256 and provenance (the
command that made it).  :func:`asset_path` checks the hash before a file is used, so a
truncated or altered asset is a run-wide :class:`~dla_cnn.exceptions.AssetError`, not a
silently wrong result.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from importlib import resources
from pathlib import Path

from dla_cnn.exceptions import AssetError

DEFAULT_MODEL = "models/dla_cnn_fcn.keras"
SAMPLE_DIR = "sample"
SAMPLE_TRUTH = "sample/truth.ecsv"


def data_dir() -> Path:
    """Directory of the packaged data."""
    return Path(str(resources.files("dla_cnn") / "data"))


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@lru_cache(maxsize=1)
def manifest() -> dict:
    """The asset manifest: ``{"files": {relative path: {"sha256", "provenance"}}}``."""
    path = data_dir() / "manifest.json"
    if not path.exists():
        raise AssetError(f"{path}: asset manifest missing; reinstall dla-cnn")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise AssetError(f"{path}: corrupt asset manifest ({err})") from None


def asset_path(name: str, verify: bool = True) -> Path:
    """Path of a packaged asset, its sha256 checked against the manifest.

    Parameters
    ----------
    name : str
        Path relative to ``dla_cnn/data`` (e.g. ``models/dla_cnn_fcn.keras``).
    verify : bool
        Check the file's sha256.
    """
    path = data_dir() / name
    entry = manifest().get("files", {}).get(name)
    if entry is None:
        raise AssetError(f"{name}: not a packaged dla-cnn asset")
    if not path.exists():
        raise AssetError(f"{path}: packaged asset missing; reinstall dla-cnn")
    if verify and sha256_of(path) != entry["sha256"]:
        raise AssetError(f"{path}: sha256 does not match the manifest (corrupt or altered asset)")
    return path


def default_model_path() -> Path:
    """The pretrained model used by ``scan`` and ``catalog`` by default."""
    return asset_path(DEFAULT_MODEL)


def packaged_models() -> dict[str, Path]:
    """The packaged ``.keras`` models by name (file stem), e.g. ``{"dla_cnn_fcn": Path(...)}``."""
    return {Path(name).stem: data_dir() / name for name in sorted(manifest().get("files", {}))
            if name.startswith("models/") and name.endswith(".keras")}


def resolve_model(spec: str | Path | None) -> Path:
    """The model file a ``--model`` / ``--init-from`` value names.

    Parameters
    ----------
    spec : str, Path or None
        A path to a ``.keras`` file, or the name of a packaged model with or without its
        ``.keras`` suffix (``dla_cnn_fcn``); None means the default packaged model.

    Returns
    -------
    Path
        An existing file (a packaged one has its sha256 checked).

    Raises
    ------
    AssetError
        Neither a file nor a packaged model of that name.
    """
    if spec is None:
        return default_model_path()
    path = Path(spec)
    if path.is_file():
        return path
    models = packaged_models()
    name = path.name[: -len(".keras")] if path.name.endswith(".keras") else path.name
    if path.parent == Path(".") and name in models:
        return asset_path(f"models/{name}.keras")
    raise AssetError(f"{spec}: no such model file, and no packaged model of that name "
                     f"(packaged: {', '.join(models) or 'none'})")


def sample_spectra_dir() -> Path:
    """Directory of the packaged simulated BOSS sightlines (``spec-*.fits``)."""
    asset_path(SAMPLE_TRUTH)
    return data_dir() / SAMPLE_DIR


def sample_truth_path() -> Path:
    """Truth table of the packaged sample sightlines."""
    return asset_path(SAMPLE_TRUTH)
