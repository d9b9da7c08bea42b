"""What the benchmarks ran on: CPU, cores, memory, bfloat16 support, GPU, and library versions.

Reads /proc and package metadata only (no TensorFlow import), so the driver stays light.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

__all__ = ["describe_machine", "versions"]

PACKAGES = ("imgclf", "tensorflow-cpu", "tensorflow", "keras", "numpy", "pillow", "streamlit")


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError:
        return ""


def _field(text: str, name: str) -> str | None:
    for line in text.splitlines():
        if line.split(":")[0].strip() == name:
            return line.split(":", 1)[1].strip()
    return None


def _gpu() -> str:
    if not shutil.which("nvidia-smi"):
        return "none"
    try:
        done = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return "none"
    return "; ".join(done.stdout.strip().splitlines()) or "none"


def describe_machine() -> dict[str, str]:
    """CPU model, logical cores, RAM, native bfloat16 instructions, GPU and OS."""
    cpuinfo = _read("/proc/cpuinfo")
    flags = set((_field(cpuinfo, "flags") or "").split())
    mem_kib = _field(_read("/proc/meminfo"), "MemTotal")
    ram = f"{int(mem_kib.split()[0]) / 2**20:.1f} GiB" if mem_kib else "unknown"
    bf16 = [f for f in ("avx512_bf16", "amx_bf16", "amx_tile") if f in flags]
    return {
        "CPU": _field(cpuinfo, "model name") or platform.processor() or "unknown",
        "logical cores": str(os.cpu_count()),
        "RAM": ram,
        "bfloat16 instructions": ", ".join(bf16) or "none",
        "GPU": _gpu(),
        "OS": platform.platform(),
    }


def versions() -> dict[str, str]:
    """Python and the installed versions of the libraries that matter for speed."""
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found
