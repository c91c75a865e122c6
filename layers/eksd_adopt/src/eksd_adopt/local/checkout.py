"""Where the local runtime finds the project's checkout: the handlers, the one ASL file and the testdata.

The local runtime runs what ``cdk deploy`` ships, and that lives beside the package, not in it:
``functions/<name>/handler.py`` and ``infra/workflows/adopt_release.asl.json``. The checkout is named by
``EKSD_ADOPT_CHECKOUT``, or found upward from the working directory (``make demo`` and the tests run
there), then from the installed package (an editable install inside the checkout).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from eksd_adopt.errors import EksdAdoptError

CHECKOUT_ENV = "EKSD_ADOPT_CHECKOUT"
ASL_RELATIVE = Path("infra") / "workflows" / "adopt_release.asl.json"


class CheckoutNotFoundError(EksdAdoptError):
    """No eksd-adopt checkout where the local runtime looked."""


def _is_checkout(path: Path) -> bool:
    return (path / "cdk.json").is_file() and (path / "functions").is_dir() and (path / ASL_RELATIVE).is_file()


@functools.cache
def checkout() -> Path:
    """The checkout's root directory."""
    named = os.environ.get(CHECKOUT_ENV)
    if named:
        root = Path(named).resolve()
        if not _is_checkout(root):
            raise CheckoutNotFoundError(
                f"{CHECKOUT_ENV}={named} is not an eksd-adopt checkout (no cdk.json, functions/)"
            )
        return root
    for start in (Path.cwd().resolve(), Path(__file__).resolve().parent):
        for candidate in (start, *start.parents):
            if _is_checkout(candidate):
                return candidate
    raise CheckoutNotFoundError(
        f"the local runtime needs an eksd-adopt checkout (functions/, {ASL_RELATIVE.as_posix()}): run it from"
        f" one, or set {CHECKOUT_ENV}"
    )


def functions_dir() -> Path:
    return checkout() / "functions"


def workflow_definition() -> Path:
    return checkout() / ASL_RELATIVE


def demo_manifest() -> Path:
    """The real release manifest the demo shapes its releases on."""
    return checkout() / "testdata" / "eksd" / "kubernetes-1-20-eks-1.yaml"
