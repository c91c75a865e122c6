"""Image mirror: a release-shaped set between two local registries, eksd-adopt vs ``skopeo copy --all`` per image.

The set: the 17 images of ``kubernetes-1-20-eks-1``, each an OCI index of linux/amd64 + linux/arm64,
4-6 layers per platform (1 MiB to 200 MiB of random bytes), a 20 MiB base layer per arch in all 17
images and a 6 MiB layer per arch in 8 of them: about 1.5 GiB unique. It is generated once per run
into a source ``docker-registry``; each tool copies it into its own fresh ``docker-registry``
(cold; deleted before the other tool runs, the order alternating over an even number of rounds),
then, in the last round, again (warm: everything present). skopeo runs image after image, as ``skopeo sync``
does, with ``--all --preserve-digests`` and its blob-info cache cleared before the cold run.
Ours runs in a subprocess (process start and imports counted, like skopeo's). Peak RSS is taken
from the kernel (``wait4``) for a copy of one image holding a single 1 GiB layer.
Goals: cold >= 1.5x skopeo, warm >= 10x skopeo, peak RSS on the 1 GiB layer <= 200 MiB.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

MIB = 1024 * 1024
REPO_ROOT = Path(__file__).resolve().parent.parent
UNIQUE_TARGET = int(1.5 * 1024**3) - 2 * 26 * MIB * 1  # minus the shared layers (counted once)
SKOPEO_CACHE = Path("/var/lib/containers/cache/blob-info-cache-v1.boltdb")
WARM_ROUNDS = 3
COLD_ROUNDS = 2 * int(os.environ.get("EKSD_BENCH_COLD_PAIRS", "2"))  # even: each tool first as often
CONCURRENCY = int(os.environ.get("EKSD_BENCH_IMAGES", "8"))
BLOB_CONCURRENCY = int(os.environ.get("EKSD_BENCH_BLOBS", "6"))
# put: each blob in its committing PUT (what a plain OCI target gets); patch: one PATCH then PUT (ECR's way)
UPLOAD = os.environ.get("EKSD_BENCH_UPLOAD", "put")


def _image_names() -> list[tuple[str, str]]:
    """(repository, tag) of every image in kubernetes-1-20-eks-1, as upstream names them."""
    from eksd_adopt.plan import plan_release
    from eksd_adopt.release.validate import validate_manifest

    text = (REPO_ROOT / "testdata" / "eksd" / "kubernetes-1-20-eks-1.yaml").read_text()
    release = validate_manifest(text, source="kubernetes-1-20-eks-1.yaml").require_valid(strict=False)
    plan = plan_release(release, prefix="eksd")
    names = []
    for job in plan.images:
        reference = job.source_reference
        names.append((reference.repository, reference.tag or "latest"))
    return names


def _layer_plan(names: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Per image: unique layer sizes (per platform) and which shared layers it has, ~1.5 GiB unique in all."""
    rng = random.Random(7)
    raw = [[rng.uniform(0, 1) ** 2.2 for _ in range(rng.randint(2, 4))] for _ in names]
    scale = UNIQUE_TARGET / 2 / sum(sum(sizes) for sizes in raw)  # 2 platforms
    images = []
    for index, ((repository, tag), sizes) in enumerate(zip(names, raw, strict=True)):
        layer_sizes = [int(min(200 * MIB, max(1 * MIB, s * scale))) for s in sizes]
        shared = ["base"] + (["common"] if index % 2 == 0 and index < 16 else [])
        images.append({"repository": repository, "tag": tag, "layer_sizes": layer_sizes, "shared": shared})
    return images


def _publish(source_url: str, images: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from concurrent.futures import ThreadPoolExecutor

    from eksd_adopt.local.images import SharedLayer, publish_image

    shared = {"base": SharedLayer("base", 20 * MIB), "common": SharedLayer("common", 6 * MIB)}

    def one(image: dict[str, Any]) -> dict[str, Any]:
        digest = publish_image(
            source_url,
            image["repository"],
            image["tag"],
            layer_sizes=image["layer_sizes"],
            shared_layers=[shared[name] for name in image["shared"]],
            seed="bench",
        )
        return {**image, "digest": digest}

    # Publish the shared layers once first so parallel publishers do not race on them.
    first = one(images[0])
    with ThreadPoolExecutor(4) as pool:
        return [first, *pool.map(one, images[1:])]


def _jobs(images: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "component": "bench",
            "asset": image["repository"].rsplit("/", 1)[-1] + "-image",
            "source": f"public.ecr.aws/{image['repository']}:{image['tag']}",
            "known_digest": image["digest"],
            "target_repository": f"eksd/staging/{image['repository']}",
            "tag": image["tag"],
        }
        for image in images
    ]


def _worker(source_url: str, target_url: str, jobs_path: str) -> None:
    """In a fresh process: copy every job with the copier as the CLI and the function build it; print a JSON line."""
    from eksd_adopt.images.job import build_copier
    from eksd_adopt.images.settings import MirrorImageSettings
    from eksd_adopt.plan import ImageCopyJob
    from eksd_adopt.policy import ImageRegistryRule, UpstreamPolicy

    jobs = [ImageCopyJob.model_validate(j) for j in json.loads(Path(jobs_path).read_text())]
    policy = UpstreamPolicy(image_registries=(ImageRegistryRule(host="public.ecr.aws", path_prefixes=("",)),))
    settings = MirrorImageSettings(
        target_registry_url=target_url,
        target_registry_auth="none",
        endpoints=f"public.ecr.aws={source_url}",
        concurrency=BLOB_CONCURRENCY,
        upload=UPLOAD,
    )
    started = time.perf_counter()
    with build_copier(settings, policy=policy) as copier:
        outcomes = copier.copy_all(jobs, concurrency=CONCURRENCY)
    seconds = time.perf_counter() - started
    failed = [str(error) for _, _, error in outcomes if error]
    if failed:
        raise SystemExit("; ".join(failed))
    results = [r for _, r, _ in outcomes if r]
    peak = next(
        int(line.split()[1]) * 1024
        for line in Path("/proc/self/status").read_text().splitlines()
        if line.startswith("VmHWM:")
    )
    print(
        json.dumps(
            {
                "seconds": seconds,
                "uploaded": sum(r.blobs_uploaded for r in results),
                "mounted": sum(r.blobs_mounted for r in results),
                "skipped": sum(r.blobs_skipped for r in results),
                "bytes": sum(r.bytes_uploaded for r in results),
                "vmhwm": peak,
            }
        )
    )


def _run_rss(argv: list[str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS and stdout of one process.

    The peak is the child's VmHWM, polled from /proc while it runs (VmHWM only grows, and exec
    resets it). wait4's ru_maxrss would not do: Linux carries the parent's high-water mark across
    the fork+exec, so every child would report at least this benchmark's own size.
    """
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO_ROOT)
    peak = 0
    status = Path(f"/proc/{process.pid}/status")

    def poll() -> None:
        nonlocal peak
        while process.poll() is None:
            try:
                for line in status.read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]) * 1024)
            except (OSError, ValueError):
                pass
            time.sleep(0.01)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    out, err = process.communicate()
    watcher.join()
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"{argv[:3]} failed: {err.decode()[-2000:]}")
    return seconds, peak, out.decode()


def _settle() -> None:
    # The registries fsync every blob they commit and the kernel writes back the rest later: flush
    # what the previous run left dirty so its disk writes are not charged to the next tool's run.
    os.sync()


def _ours(source_url: str, target_url: str, jobs_path: Path) -> dict[str, Any]:
    _settle()
    seconds, rss, out = _run_rss(
        [sys.executable, "-m", "bench.images", "--worker", source_url, target_url, str(jobs_path)]
    )
    data: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    data["wall"] = seconds
    data["rss"] = max(rss, int(data["vmhwm"]))  # its own final VmHWM is exact
    return data


def _skopeo_all(source: str, target: str, jobs: list[dict[str, Any]]) -> tuple[float, int]:
    """skopeo copy --all per image, one after another; wall seconds and the largest child RSS."""
    _settle()
    started = time.perf_counter()
    peak = 0
    for job in jobs:
        repository = job["source"].split("/", 1)[1].rsplit(":", 1)[0]
        _, rss, _ = _run_rss(
            [
                "skopeo",
                "copy",
                "--all",
                "--preserve-digests",
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
                "-q",
                f"docker://{source}/{repository}@{job['known_digest']}",
                f"docker://{target}/{job['target_repository']}:{job['tag']}",
            ]
        )
        peak = max(peak, rss)
    return time.perf_counter() - started, peak


def _push_floor(source_url: str, source_root: Path, target_url: str, jobs: list[dict[str, Any]]) -> float:
    """Seconds for curl to PUT every blob of the set from the source registry's own files into an empty
    registry, as many at a time as ours: no source registry, no hashing in the client. What the
    receiving registry's ingest alone costs here, so no copier can beat it."""
    from concurrent.futures import ThreadPoolExecutor

    from eksd_adopt.images.client import RegistryClient

    source = RegistryClient(source_url)
    digests: set[str] = set()
    for job in jobs:
        repository = job["source"].split("/", 1)[1].rsplit(":", 1)[0]
        index = source.get_manifest(repository, job["known_digest"])
        for child in index.children(repository):
            for blob in source.get_manifest(repository, child.digest).blobs(repository):
                digests.add(blob.digest)
    source.close()
    target = RegistryClient(target_url)
    blobs_dir = source_root / "data" / "docker" / "registry" / "v2" / "blobs" / "sha256"

    def push(digest: str) -> None:
        location = target.start_upload("floor")
        location = location if location.startswith("http") else target_url + location
        separator = "&" if "?" in location else "?"
        data = blobs_dir / digest[7:9] / digest[7:] / "data"
        subprocess.run(["curl", "-s", "-f", "-T", str(data), f"{location}{separator}digest={digest}"], check=True)

    _settle()
    started = time.perf_counter()
    with ThreadPoolExecutor(BLOB_CONCURRENCY) as pool:
        list(pool.map(push, sorted(digests)))
    seconds = time.perf_counter() - started
    target.close()
    return seconds


def _clear_skopeo_cache() -> None:
    # skopeo remembers where blobs live and would mount them: a cold copy must start without it.
    SKOPEO_CACHE.unlink(missing_ok=True)


def _digest_of(host: str, repository: str, tag: str) -> str:
    import hashlib

    raw = subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{host}/{repository}:{tag}"],
        check=True,
        capture_output=True,
    ).stdout
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def run() -> None:
    from eksd_adopt.local.images import publish_image
    from eksd_adopt.local.registry import LocalRegistry

    base = Path(os.environ.get("EKSD_BENCH_DIR") or tempfile.mkdtemp(prefix="bench-images-"))
    base.mkdir(parents=True, exist_ok=True)
    try:
        with LocalRegistry(base / "source") as source:
            started = time.perf_counter()
            images = _publish(source.url, _layer_plan(_image_names()))
            # Layer bytes of the set, each counted once (the source may also hold the 1 GiB image of a reused dir).
            unique = 2 * (26 * MIB + sum(sum(image["layer_sizes"]) for image in images))
            jobs = _jobs(images)
            jobs_path = base / "jobs.json"
            jobs_path.write_text(json.dumps(jobs))
            print(
                f"set: {len(jobs)} images x 2 platforms, {unique / 1024**3:.2f} GiB unique, "
                f"published in {time.perf_counter() - started:.0f} s",
                flush=True,
            )
            # Cold rounds, the order alternating (an even number of rounds, so each tool goes first
            # equally often). Each tool copies into a fresh registry that is deleted before the other
            # runs: a registry left full slowed the next run by 10-15 % on this disk. In the last
            # round each tool's warm re-runs follow its own cold copy, and both copies are checked.
            skopeo_colds: list[float] = []
            ours_colds: list[dict[str, Any]] = []
            skopeo_warm: list[float] = []
            ours_warm: list[float] = []
            ours_warm_inproc: list[float] = []
            for round_ in range(COLD_ROUNDS):
                last = round_ == COLD_ROUNDS - 1
                for tool in ("skopeo", "ours") if round_ % 2 == 0 else ("ours", "skopeo"):
                    shutil.rmtree(base / tool, ignore_errors=True)
                    with LocalRegistry(base / tool) as target:
                        if tool == "skopeo":
                            _clear_skopeo_cache()
                            skopeo_colds.append(_skopeo_all(source.host, target.host, jobs)[0])
                        else:
                            ours_colds.append(_ours(source.url, target.url, jobs_path))
                            assert ours_colds[-1]["uploaded"] > 0
                        if last:
                            for job in jobs:  # the copy is the source's digests, checked independently
                                assert (
                                    _digest_of(target.host, job["target_repository"], job["tag"]) == job["known_digest"]
                                )
                            for _ in range(WARM_ROUNDS):
                                if tool == "skopeo":
                                    skopeo_warm.append(_skopeo_all(source.host, target.host, jobs)[0])
                                else:
                                    warm = _ours(source.url, target.url, jobs_path)
                                    assert warm["uploaded"] == 0 and warm["bytes"] == 0, warm
                                    ours_warm.append(warm["wall"])
                                    ours_warm_inproc.append(warm["seconds"])
                    shutil.rmtree(base / tool, ignore_errors=True)
                print(
                    f"cold round {round_ + 1}: skopeo {skopeo_colds[-1]:.2f} s, ours {ours_colds[-1]['wall']:.2f} s",
                    flush=True,
                )
            shutil.rmtree(base / "floor", ignore_errors=True)
            with LocalRegistry(base / "floor") as floor_target:
                floor = _push_floor(source.url, source.root, floor_target.url, jobs)
            shutil.rmtree(base / "floor", ignore_errors=True)
            ours_cold = dict(ours_colds[-1])
            ours_cold["wall"] = statistics.median(o["wall"] for o in ours_colds)
            ours_cold["seconds"] = statistics.median(o["seconds"] for o in ours_colds)
            skopeo_cold = statistics.median(skopeo_colds)

            # Peak memory: one image whose single layer is 1 GiB.
            big = publish_image(
                source.url, "eks-distro/bench/big-layer", "v1", platforms=["linux/amd64"], layer_sizes=[1024 * MIB]
            )
            big_jobs = base / "big.json"
            big_jobs.write_text(
                json.dumps(
                    [
                        {
                            "component": "bench",
                            "asset": "big-image",
                            "source": "public.ecr.aws/eks-distro/bench/big-layer:v1",
                            "known_digest": big,
                            "target_repository": "eksd/staging/eks-distro/bench/big-layer",
                            "tag": "v1",
                        }
                    ]
                )
            )
            with LocalRegistry(base / "ours-big") as ours_target, LocalRegistry(base / "skopeo-big") as skopeo_target:
                big_run = _ours(source.url, ours_target.url, big_jobs)
                _, skopeo_big_rss = _skopeo_all(
                    source.host,
                    skopeo_target.host,
                    [json.loads(big_jobs.read_text())[0]],
                )
    finally:
        if not os.environ.get("EKSD_BENCH_DIR"):
            shutil.rmtree(base, ignore_errors=True)

    gib = unique / 1024**3
    warm_skopeo = statistics.median(skopeo_warm)
    warm_ours = statistics.median(ours_warm)
    warm_inproc = statistics.median(ours_warm_inproc)
    cold_ratio = skopeo_cold / ours_cold["wall"]
    warm_ratio = warm_skopeo / warm_ours
    print(
        f"\n{len(jobs)} images x 2 platforms, {gib:.2f} GiB unique; two docker-registry 2.8 on loopback; "
        f"ours: {CONCURRENCY} images / {BLOB_CONCURRENCY} blobs in flight, upload={UPLOAD}; cold = median of "
        f"{COLD_ROUNDS} interleaved rounds, warm = median of {WARM_ROUNDS}"
    )
    print(f"{'run':<44}{'skopeo copy --all':>18}{'eksd-adopt':>12}{'ratio':>9}{'goal':>8}")
    print(
        f"{'cold copy (s)':<44}{skopeo_cold:>18.2f}{ours_cold['wall']:>12.2f}{cold_ratio:>8.2f}x{'>=1.5x':>8}"
        f"  {'met' if cold_ratio >= 1.5 else 'NOT met'}"
    )
    print(
        f"{'  floor: curl PUTs the blobs from disk (s)':<44}{'':>18}{floor:>12.2f}{skopeo_cold / floor:>8.2f}x"
        f"  <- the most any copier can gain here"
    )
    print(
        f"{'  throughput (MB/s, unique bytes)':<44}{unique / 1e6 / skopeo_cold:>18.0f}"
        f"{unique / 1e6 / ours_cold['wall']:>12.0f}"
    )
    print(
        f"{'warm re-run, all present (s)':<44}{warm_skopeo:>18.2f}{warm_ours:>12.2f}{warm_ratio:>8.2f}x{'>=10x':>8}"
        f"  {'met' if warm_ratio >= 10 else 'NOT met'}"
    )
    print(
        f"{'  warm, copy only (process start excluded)':<44}{'':>18}{warm_inproc:>12.3f}{warm_skopeo / warm_inproc:>8.0f}x"
    )
    print(
        f"{'  cold, copy only (process start excluded)':<44}{'':>18}{ours_cold['seconds']:>12.2f}"
        f"{skopeo_cold / ours_cold['seconds']:>8.2f}x"
    )
    print(
        f"{'peak RSS, one 1 GiB layer (MiB)':<44}{skopeo_big_rss / MIB:>18.0f}{big_run['rss'] / MIB:>12.0f}"
        f"{'':>9}{'<=200':>8}  {'met' if big_run['rss'] <= 200 * MIB else 'NOT met'}"
    )
    print(
        f"ours, cold: {ours_cold['uploaded']} blobs uploaded, {ours_cold['mounted']} mounted, "
        f"{ours_cold['skipped']} skipped, {ours_cold['bytes'] / 1e6:.0f} MB sent; 1 GiB layer copied in "
        f"{big_run['wall']:.1f} s"
    )


if __name__ == "__main__" and len(sys.argv) == 5 and sys.argv[1] == "--worker":
    _worker(*sys.argv[2:])
