"""The bench ledger charges the node's CPU to pods by their cgroups (cgroup v1 cpuacct files)."""

from __future__ import annotations

from pathlib import Path

from bench.ledger import PODS, Snapshot, pod_seconds, pods_spent

GATEWAY = "0f3c1a52-1111-4c2b-9d5e-aaaaaaaaaaaa"
CONVERTER = "7cdf7713-27e8-4d2c-8714-d1ce3f1a9ee2"
LATE_CONVERTER = "9a1b2c3d-2222-4e5f-8a9b-bbbbbbbbbbbb"


def _usage(path: Path, seconds: float) -> None:
    path.mkdir(parents=True)
    (path / "cpuacct.usage").write_text(f"{int(seconds * 1e9)}\n")


def test_pod_cgroups_are_found_in_every_qos_class(tmp_path: Path) -> None:
    kubepods = tmp_path / "cpuacct" / "kubepods"
    _usage(kubepods, 9.0)
    _usage(kubepods / f"pod{GATEWAY}", 1.5)  # Guaranteed
    _usage(kubepods / "burstable" / f"pod{CONVERTER}", 2.0)
    _usage(kubepods / "besteffort" / f"pod{LATE_CONVERTER.replace('-', '_')}", 0.5)  # systemd's spelling
    _usage(kubepods / "burstable" / f"pod{CONVERTER}" / "0c9c4f03e8f4", 1.9)  # a container: not a pod

    found = pod_seconds((tmp_path / "missing", tmp_path / "cpuacct"))

    assert found == {GATEWAY: 1.5, CONVERTER: 2.0, LATE_CONVERTER: 0.5}


def test_pods_are_charged_by_component_and_ended_pods_to_the_converters() -> None:
    components = {GATEWAY: "gateway", CONVERTER: "converter"}
    before = Snapshot(pods={GATEWAY: 10.0, CONVERTER: 1.0}, components=components, kubepods=20.0)
    after = Snapshot(
        pods={GATEWAY: 10.5, LATE_CONVERTER: 3.0},  # the first converter ended, another started
        components={GATEWAY: "gateway", LATE_CONVERTER: "converter"},
        kubepods=30.0,
    )

    spent = pods_spent(before, after)

    # 10 s in all: 0.5 the gateway's, 3 the new converter's, 6.5 the ended converter's last seconds
    assert spent == {"gateway pods": 0.5, PODS: 9.5}


def test_pods_without_a_name_are_still_counted() -> None:
    before = Snapshot(kubepods=5.0)
    after = Snapshot(pods={GATEWAY: 2.0}, kubepods=7.0)  # the API server could not be read

    assert pods_spent(before, after) == {"unnamed pods": 2.0}
