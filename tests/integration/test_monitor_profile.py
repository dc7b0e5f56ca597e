"""The monitor end to end against a real net-snmp snmpd on 127.0.0.1: a vendor profile's value
served by snmpd (`pass`, as an iDirect hub's proxy) past its critical threshold is alerted on
after confirmation, with the value in the reason; an acknowledgement is applied by the monitor;
the link figures reach the export spool."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from monitoring.monitor import Monitor
from monitoring.spool import Spool
from simpul.config import load_config_file
from simpul.lab.snmpd import (
    IDIRECT_PASS,
    Snmpd,
    free_udp_port,
    have_snmpd,
    snmpd_conf,
    write_pass_program,
)
from tests.integration.helpers import LAB_YAML

pytestmark = pytest.mark.skipif(not have_snmpd(), reason="needs net-snmp's snmpd")
FADED = IDIRECT_PASS.replace('("string", "11.2")', '("string", "3.9")')  # rain fade: SNR 3.9 dB


class Netd:
    """netd's `monitor_config`, from examples/lab.yaml with one iDirect target on loopback."""

    def __init__(self, port: int) -> None:
        config = load_config_file(str(LAB_YAML))
        monitoring = config.monitoring.model_dump(mode="json")
        monitoring["targets"] = [{
            "name": "modem-rangsang-pesisir", "address": "127.0.0.1", "site": "rangsang-pesisir",
            "profile": "idirect", "index": "4242", "probe": False,
            "snmp": {"community": "hub-ro", "port": port, "timeout_s": 1.0, "retries": 0},
        }]  # fmt: skip
        monitoring["alerting"] |= {"confirm_cycles": 2}
        self.answer = {
            "node": config.node.model_dump(mode="json"),
            "monitoring": monitoring,
            "remote_sites": [s.model_dump(mode="json") for s in config.remote_sites],
            "hotspot_sites": [],
            "spool_mb": 16,
            "retention": config.accounting.retention.model_dump(),
        }

    def __call__(self, method: str, **params: Any) -> Any:
        assert method == "monitor_config"
        return self.answer


def test_a_profile_value_past_its_threshold_is_alerted_on(tmp_path: Path) -> None:
    script = write_pass_program(tmp_path, FADED)
    port = free_udp_port()
    conf = snmpd_conf("hub-ro", extra=[f"pass .1.3.6.1.4.1.13732 /usr/bin/python3 {script}"])

    async def cycles(monitor: Monitor, n: int) -> list[dict[str, Any]]:
        return [await monitor.cycle() for _ in range(n)]

    async def run() -> tuple[list[dict[str, Any]], Monitor]:
        async with Monitor(Netd(port), str(tmp_path / "monitor"), str(tmp_path / "export")) as m:
            reports = await cycles(m, 2)
            m.db.db.execute("INSERT INTO ack VALUES ('modem-rangsang-pesisir', 'noc.operator', "
                            "strftime('%s','now'))")  # fmt: skip
            reports += await cycles(m, 1)
            return reports, m

    with Snmpd(tmp_path / "snmpd", [f"udp:127.0.0.1:{port}"], conf):
        reports, monitor = asyncio.run(run())
    assert reports[0]["events"] == []  # one bad cycle is not yet an alert
    assert reports[1]["events"] == [("modem-rangsang-pesisir", "raised", "critical")]
    state = monitor.states["modem-rangsang-pesisir"]
    assert state.acked_by == "noc.operator"
    assert any("3.9" in r and "downstream_snr" in r for r in state.reasons), state.reasons
    with Spool(str(tmp_path / "export" / "export-spool.db"), 16 << 20) as spool:
        lines = [item.line for item in spool.peek(100)]
    assert any(
        line.startswith(
            b"link,node=meranti-pusat,site=rangsang-pesisir,"
            b"target=modem-rangsang-pesisir severity_level=2i"
        )
        for line in lines
    )
