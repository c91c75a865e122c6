"""``eksd-adopt verify`` loads only what verifying needs: not the archive copier, httpx, the OCI referrers code
or Powertools (about 0.3 s of a fresh process; measured in `make bench BENCH=verify`, checked structurally here)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from eksd_adopt.attestation.dsse import public_key_pem
from tests.conftest import REPO_ROOT

# Run the real command in a fresh interpreter; report every module it had loaded when it ended.
_PROBE = """
import json, sys
from eksd_adopt.cli.main import main
sys.argv = ["eksd-adopt", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""
# What the verify path must not load; each is loaded by the mirror, the workflow or the attaching side.
NOT_LOADED = (
    "httpx",
    "aws_lambda_powertools",
    "eksd_adopt.archives.copier",
    "eksd_adopt.images.copier",
    "eksd_adopt.images.referrers",
    "eksd_adopt.attestation.attach",
    "yaml",
)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_verify_loads_only_what_verifying_needs(tmp_path: Path) -> None:
    key = tmp_path / "pub.pem"
    key.write_bytes(public_key_pem(ec.generate_private_key(ec.SECP256R1()).public_key()))
    nowhere = f"http://127.0.0.1:{_closed_port()}"
    argv = ["verify", "--stage", "prod", "--channel", "1-20", "--bucket", "b", "--registry", nowhere]
    argv += ["--auth", "none", "--public-key", str(key)]
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": nowhere,  # every AWS call fails at once: the command has loaded what it uses by then
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(argv)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        timeout=120,
        check=False,
    )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["code"] == 2, done.stderr  # an I/O error: the SSM pointer could not be read
    assert "eksd_adopt.attestation.verify" in report["modules"] and "boto3" in report["modules"]
    loaded = [m for m in NOT_LOADED if any(x == m or x.startswith(m + ".") for x in report["modules"])]
    assert not loaded, f"verify loaded {loaded}"
