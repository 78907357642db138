"""DuckDB's memory limit derived from the machine, or from the container's memory limit when that is less
(``reconcile.default_memory_limit``, ``cgroup_memory_left``): cgroup v2 and v1 files as the kernel writes them."""

from __future__ import annotations

from pathlib import Path

import psutil

from pipelines.run.reconcile import MEMORY_FLOOR_BYTES, cgroup_memory_left, default_memory_limit

GIB = 2**30


def _files(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text + "\n")
    return root


def _mib(limit: str) -> int:
    assert limit.endswith("MiB")
    return int(limit.removesuffix("MiB"))


def test_a_cgroup_v2_limit_leaves_the_limit_minus_the_usage(tmp_path: Path) -> None:
    root = _files(tmp_path, {"memory.max": str(4 * GIB), "memory.current": str(GIB)})
    assert cgroup_memory_left(root) == 3 * GIB
    # a quarter of what the container has left, not of the machine's memory
    assert _mib(default_memory_limit(root)) == min(3 * GIB, psutil.virtual_memory().available) // 4 // 2**20


def test_a_cgroup_v1_limit_is_read_too(tmp_path: Path) -> None:
    root = _files(
        tmp_path, {"memory/memory.limit_in_bytes": str(2 * GIB), "memory/memory.usage_in_bytes": str(GIB // 2)}
    )
    assert cgroup_memory_left(root) == 3 * GIB // 2


def test_no_limit_or_nothing_readable_means_the_machine_decides(tmp_path: Path) -> None:
    assert cgroup_memory_left(_files(tmp_path / "v2", {"memory.max": "max", "memory.current": "123"})) is None
    v1 = {"memory/memory.limit_in_bytes": "9223372036854771712", "memory/memory.usage_in_bytes": "123"}
    assert cgroup_memory_left(_files(tmp_path / "v1", v1)) is None
    assert cgroup_memory_left(tmp_path / "none") is None
    machine = psutil.virtual_memory().available // 4 // 2**20
    assert abs(_mib(default_memory_limit(tmp_path / "none")) - machine) < 512  # available memory moves a little


def test_a_container_at_its_limit_still_gets_the_floor(tmp_path: Path) -> None:
    root = _files(tmp_path, {"memory.max": str(GIB), "memory.current": str(2 * GIB)})
    assert cgroup_memory_left(root) == 0
    assert _mib(default_memory_limit(root)) == MEMORY_FLOOR_BYTES // 2**20
