"""GPU name, utilisation, memory and temperature through NVML; an empty list without a driver."""

from __future__ import annotations

from typing import Any

_no_driver = False


def gpu_stats() -> list[dict[str, Any]]:
    global _no_driver
    if _no_driver:
        return []  # a driver does not appear while the process runs; do not probe every batch
    try:
        import pynvml
    except ImportError:
        _no_driver = True
        return []
    try:
        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no NVIDIA driver: the machine is CPU-only, not broken
        _no_driver = True
        return []
    try:
        stats = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            name = pynvml.nvmlDeviceGetName(handle)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            stats.append(
                {
                    "index": index,
                    "name": name.decode() if isinstance(name, bytes) else name,
                    "utilization_percent": pynvml.nvmlDeviceGetUtilizationRates(handle).gpu,
                    "memory_used_mb": round(memory.used / 2**20),
                    "memory_total_mb": round(memory.total / 2**20),
                    "temperature_c": pynvml.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU),
                }
            )
        return stats
    finally:
        pynvml.nvmlShutdown()
