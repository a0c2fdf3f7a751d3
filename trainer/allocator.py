"""glibc's allocator, set up for processes that run the model on the CPU.

With glibc's defaults a CPU forward pass spent about 40% of its time in the kernel: torch frees
each layer's activations and the next batch allocates them again, and glibc hands such blocks
back to the kernel (an mmap per block over its threshold, trimmed heaps, and per-thread arenas
whose heaps are unmapped once empty), so every batch faulted its memory in afresh, about 1,500
to 8,000 pages per photo. These settings keep freed memory for reuse instead:

- one arena for all threads: per-thread arenas unmap a heap as soon as it is empty, whatever
  the trim threshold says;
- blocks up to 32 MiB (glibc's ceiling on 64-bit) come from the heap, not from mmap; the CPU
  forward pass is chunked so its activations stay under it (:data:`CPU_CHUNK`);
- up to 256 MiB of free heap is kept rather than trimmed.

glibc reads them once, when a process starts, so they must be in the environment of the command
that starts the worker: ``docker/ml.Dockerfile`` sets them for the worker and trainer images, and
:func:`model_process_env` adds them where Tagloop starts such a process itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

MODEL_PROCESS_TUNABLES = (
    "glibc.malloc.arena_max=1:glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456"
)

# Photos per forward pass on a CPU. Four keep the default backbone's largest activation (96
# channels at 112x112, 4.8 MB a photo at 224) under the 32 MiB above; a batch of 16 went through
# fresh mmap'd pages on every layer. With the settings above, two loops ran the model at 63-88
# photos/s against 44-46 for whole batches.
CPU_CHUNK = 4


def model_process_env(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` for a process that runs the model: with the tunables above, unless the operator
    chose their own."""
    return {"GLIBC_TUNABLES": MODEL_PROCESS_TUNABLES, **env}


def started_with_tunables() -> bool:
    """Whether this process was started with allocator settings (ours or an operator's)."""
    return bool(os.environ.get("GLIBC_TUNABLES"))
