"""Push bombing: a bounded number of prompts per professional, a per-client rate."""

from __future__ import annotations

import pytest

from tests.conftest import Emulation

pytestmark = pytest.mark.anyio


async def test_a_professional_has_a_bounded_number_of_prompts_waiting(emu: Emulation) -> None:
    limit = emu.platform.settings.ecps_max_pending
    answers = [await emu.start_ciba("generaliste") for _ in range(200)]  # bounded burst
    accepted = [a for a in answers if a.status_code == 200]
    assert len(accepted) == limit
    refused = answers[limit]
    assert refused.status_code == 400
    assert refused.json()["error"] == "access_denied"
    assert f"{limit} demandes attendent déjà" in refused.json()["error_description"]
    assert len(emu.platform.ecps.pending(emu.persona("generaliste")["national_id"])) == limit
    # Another professional is not affected; once the prompts expire, one can start again.
    assert (await emu.start_ciba("pharmacien")).status_code == 200
    emu.clock.advance(emu.platform.settings.ecps_request_ttl + 1)
    assert (await emu.start_ciba("generaliste")).status_code == 200


async def test_a_client_software_starts_a_bounded_number_of_sign_ins_a_minute(
    emu: Emulation,
) -> None:
    emu.platform.settings.ecps_client_per_minute = 8
    names = ["generaliste", "urgentiste", "pharmacien", "infirmier"]
    answers = [await emu.start_ciba(names[i % 4]) for i in range(20)]
    assert [a.status_code for a in answers].count(200) == 8
    slowed = answers[8].json()
    assert slowed["error"] == "slow_down"
    assert "plus de 8 par minute" in slowed["error_description"]
    emu.clock.advance(61)
    assert (await emu.start_ciba("secretaire")).status_code == 200
