"""A Debian ``docker-registry`` (distribution 2.8) on a free 127.0.0.1 port with temporary storage.

Used by the tests, the demo and the benchmarks as a real OCI registry: filesystem storage under a
temporary directory, the in-memory blob descriptor cache, deletes enabled, no auth, plain HTTP.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx
import yaml

REGISTRY_BINARY = "/usr/bin/docker-registry"


class RegistryStartError(RuntimeError):
    """docker-registry is missing or did not come up."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalRegistry:
    """Context manager: ``with LocalRegistry() as registry: registry.url`` -> ``http://127.0.0.1:PORT``."""

    def __init__(self, root: Path | None = None, *, binary: str = REGISTRY_BINARY) -> None:
        self._own_root = root is None
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="eksd-registry-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.binary = binary
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> LocalRegistry:
        if not Path(self.binary).is_file():
            raise RegistryStartError(f"{self.binary} not found: install Debian's docker-registry package")
        # The port is picked then bound by the registry: another process may take it in between,
        # so a registry that exits at once is started again on another port.
        for _ in range(5):
            self.port = free_port()
            config = self.root / "config.yml"
            config.write_text(yaml.safe_dump(self._config()))
            log = (self.root / "registry.log").open("wb")
            self.process = subprocess.Popen(
                [self.binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT, env=self._env()
            )
            log.close()
            if self._wait_ready():
                return self
            self._terminate()
        raise RegistryStartError(f"docker-registry did not start; see {self.root / 'registry.log'}")

    def _config(self) -> dict[str, object]:
        return {
            "version": 0.1,
            "log": {"level": "error", "accesslog": {"disabled": True}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.root / "data")},
                "cache": {"blobdescriptor": "inmemory"},
                "delete": {"enabled": True},
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": {"addr": self.host, "secret": "local-registry"},  # fixed secret: no warning per start
        }

    @staticmethod
    def _env() -> dict[str, str]:
        # A REGISTRY_* variable in the caller's environment would override the config file.
        return {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}

    def _wait_ready(self, timeout: float = 15.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                return False
            try:
                if httpx.get(f"{self.url}/v2/", timeout=1.0).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        return False

    def _terminate(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def stop(self) -> None:
        self._terminate()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def blob_path(self, digest: str) -> Path:
        """Where the registry keeps a blob's bytes (tests use it to prove what was, or was not, stored)."""
        hexd = digest.split(":", 1)[1]
        return self.root / "data" / "docker" / "registry" / "v2" / "blobs" / "sha256" / hexd[:2] / hexd / "data"

    def __enter__(self) -> LocalRegistry:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
