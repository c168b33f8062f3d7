"""`bsp ins lookup --batch` end to end when the platform goes away: a served platform
killed mid-batch stops it (exit 6, the rows left in one sentence, complete output), and
once the platform is back `--resume` on that output does only the rest."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest

from tests.connectors.ins.conftest import PEOPLE
from tests.e2e.conftest import COMMAND_TIMEOUT, run_bsp, start_platform
from tests.e2e.test_sso_cli import Launcher

pytestmark = pytest.mark.e2e

BEFORE, AFTER = 30, 20
STOP_TIMEOUT = 120.0  # the batch tries again for up to about 12 s before it gives up


def rows() -> tuple[list[dict[str, str]], list[tuple[str, str | None]]]:
    """NDJSON rows: people each alone with their traits (00 and their INS), and people
    nobody is (01), alternating; and the answer each must get."""
    seen = Counter((p.family, p.given.split(" ")[0], p.sex, p.birthdate) for p in PEOPLE)
    alone = [p for p in PEOPLE if seen[(p.family, p.given.split(" ")[0], p.sex, p.birthdate)] == 1]
    data, expected = [], []
    for index in range(BEFORE + AFTER):
        person = alone[index]
        row = {
            "family": person.family,
            "given": person.given.split(" ")[0],
            "sex": person.sex,
            "birthdate": person.birthdate,
        }
        if index % 2:
            data.append(row | {"family": "Inconnu"})
            expected.append(("01", None))
        else:
            data.append(row)
            expected.append(("00", person.ins))
    return data, expected


def lines_of(data: list[dict[str, str]]) -> str:
    return "".join(json.dumps(row) + "\n" for row in data)


def test_a_platform_killed_mid_batch_stops_it_and_resume_does_only_the_rest(
    tmp_path: Path,
) -> None:
    data, expected = rows()
    served = start_platform(tmp_path)
    personas = json.loads(run_bsp("platform", "personas", "--json", env=served.server_env()).stdout)
    doctor = Launcher(served, tmp_path / "doctor")
    doctor.login(next(p for p in personas if p["name"] == "generaliste"))
    batch = subprocess.Popen(
        [sys.executable, "-m", "bsp_tui", "ins", "lookup", "--batch", "-", "--concurrency", "4"],
        env=doctor.env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    assert batch.stdin is not None and batch.stdout is not None and batch.stderr is not None
    answers: queue.Queue[str] = queue.Queue()
    stdout = batch.stdout
    reader = threading.Thread(target=lambda: [answers.put(line) for line in stdout], daemon=True)
    reader.start()
    try:
        # The first rows, as a pipe would bring them; the batch answers them and waits.
        batch.stdin.write(lines_of(data[:BEFORE]))
        batch.stdin.flush()
        written = [answers.get(timeout=COMMAND_TIMEOUT) for _ in range(BEFORE)]
        served.process.kill()
        served.process.wait(timeout=COMMAND_TIMEOUT)
        served.stopped = True
        # The rest comes once the platform is gone: no try can reach it.
        batch.stdin.write(lines_of(data[BEFORE:]))
        batch.stdin.close()
        code = batch.wait(timeout=STOP_TIMEOUT)
        reader.join(timeout=COMMAND_TIMEOUT)
        stderr = batch.stderr.read()
    finally:
        if batch.poll() is None:
            batch.kill()
            batch.wait()
    assert code == 6, stderr
    assert answers.empty()  # nothing after the last row done
    assert (
        f"bsp: Plateforme injoignable — {AFTER} lignes restantes sur {BEFORE + AFTER}, "
        f"à partir de la ligne {BEFORE + 1} ; relancez la même commande avec --output "
        "FICHIER --resume (FICHIER : la sortie de ce lot).\n"
    ) in stderr
    assert [json.loads(line)["row"] for line in written] == list(range(1, BEFORE + 1))

    output = tmp_path / "answers.ndjson"
    output.write_text("".join(written), encoding="utf-8")
    again = start_platform(tmp_path, "--port", str(served.port))
    try:
        resumed = doctor.run(
            "ins", "lookup", "--batch", "-", "--output", str(output), "--resume",
            stdin=lines_of(data),
        )  # fmt: skip
    finally:
        again.stop()
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout == ""
    assert f"ins: reprise après les {BEFORE} lignes déjà écrites" in resumed.stderr
    assert resumed.stderr.splitlines()[-1] == f"{AFTER} lignes : 10 00, 10 01, 0 02, 0 erreur"
    done = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert [answer["row"] for answer in done] == list(range(1, BEFORE + AFTER + 1))
    got = [(a["code"], a["identities"][0]["ins"] if a["identities"] else None) for a in done]
    assert got[0] == expected[0]
    assert got[BEFORE] == expected[BEFORE]  # the first row of the resumed part
    assert got == expected
