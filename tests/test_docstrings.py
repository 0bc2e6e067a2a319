"""Every public function that takes parameters documents them (numpy style).

For the packages below, each function exported in ``__all__`` with at least one
parameter must have a docstring with a ``Parameters`` section and a ``Returns`` (or,
for generators, ``Yields``) section.
"""

import importlib
import inspect

import pytest

PACKAGES = (
    "dla_cnn.io",
    "dla_cnn.physics",
    "dla_cnn.simulate",
    "dla_cnn.training",
    "dla_cnn.model",
    "dla_cnn.scan",
    "dla_cnn.absorber",
    "dla_cnn.vet",
    "dla_cnn.plots",
    "dla_cnn.catalog",
    "dla_cnn.report",
)


def _public_functions(package: str):
    module = importlib.import_module(package)
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.isfunction(obj) and inspect.signature(obj).parameters:
            yield name, obj


@pytest.mark.parametrize("package", PACKAGES)
def test_public_functions_document_parameters_and_returns(package):
    missing = []
    for name, func in _public_functions(package):
        doc = inspect.getdoc(func) or ""
        if "Parameters" not in doc or not ("Returns" in doc or "Yields" in doc):
            missing.append(f"{package}.{name}")
    assert not missing, "no numpy-style Parameters and Returns/Yields sections in: " + ", ".join(missing)


@pytest.mark.parametrize("package", PACKAGES)
def test_packages_export_documented_functions(package):
    assert any(True for _ in _public_functions(package)), f"{package} exports no function with parameters"
