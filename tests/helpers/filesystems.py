"""A filesystem small enough to fill, for tests of a full disk."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def tiny_filesystem(mountpoint: Path, size_kib: int) -> Iterator[Path]:
    """A tmpfs of ``size_kib`` mounted in a private mount namespace (``unshare``), so no root is
    needed and nothing is left mounted on the machine if the test dies. Other processes reach it
    through ``/proc/<pid>/root``, the namespace's view of the file tree; it vanishes with the
    holder process."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    mount = f"mount -t tmpfs -o size={size_kib}k,mode=0777 tmpfs '{mountpoint}'"
    script = f"{mount} && echo mounted && exec sleep 3600"
    holder = subprocess.Popen(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        line = holder.stdout.readline().strip()
        if line != "mounted":
            raise RuntimeError(f"could not mount a tmpfs in a user namespace: {holder.communicate()[1]}")
        yield Path(f"/proc/{holder.pid}/root{mountpoint}")
    finally:
        holder.kill()
        holder.wait()
