"""The functions as Lambda runs them, in this process: each ``functions/<name>/handler.py`` loaded as its own
module, and the context object Powertools reads. The local runtime, the tests and the benchmarks use these."""

from __future__ import annotations

import importlib.util
import sys
import uuid
from dataclasses import dataclass, field
from types import ModuleType

from eksd_adopt.local.checkout import checkout, functions_dir

ACCOUNT = "123456789012"
REGION = "us-east-1"


@dataclass
class LambdaContext:
    """What Powertools reads from a Lambda context."""

    function_name: str = "eksd-adopt-local"
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:eksd-adopt-local"
    memory_limit_in_mb: int = 256
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "local"
    log_stream_name: str = "local"

    @classmethod
    def of(cls, function: str) -> LambdaContext:
        """The context of the deployed function for ``functions/<function>`` (named as the stack names it)."""
        name = f"eksd-adopt-{function.replace('_', '-')}"
        return cls(name, f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}")

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def load_handler(function: str) -> ModuleType:
    """A fresh module of ``functions/<function>/handler.py``: every function's file is called handler.py,
    so each gets its own module name, registered first as an import would (pydantic resolves a handler's
    annotations through ``sys.modules``)."""
    path = functions_dir() / function / "handler.py"
    if not path.is_file():
        raise LookupError(f"function {function}: no {path.relative_to(checkout())}")
    spec = importlib.util.spec_from_file_location(f"eksd_adopt_fn_{function}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
