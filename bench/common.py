"""What the benchmarks share: `bsp` in a subprocess over a throwaway home, a served
platform on a free port, and a professional signed in on it."""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
from pathlib import Path

PERSONA = "generaliste"
START_TIMEOUT = 30.0


def bsp_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BSP_")}
    return env | {"BSP_HOME": str(home)} | extra


def bsp(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "bsp_tui", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"bsp {' '.join(args[:2])} failed ({result.returncode}):\n{result.stderr}")
    return result


def serve(home: Path, *options: str) -> tuple[subprocess.Popen[str], str]:
    """`bsp platform serve --port 0 OPTIONS` over `home`, and the address it printed."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bsp_tui", "platform", "serve", "--port", "0", *options],
        env=bsp_env(home),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout

    def drain() -> None:
        for line in stdout:
            lines.put(line)

    threading.Thread(target=drain, daemon=True).start()
    try:
        first = lines.get(timeout=START_TIMEOUT)
    except queue.Empty:
        process.kill()
        raise SystemExit("the platform did not start") from None
    match = re.search(r"(http://127\.0\.0\.1:\d+)", first)
    if match is None:
        process.kill()
        raise SystemExit(f"unexpected first line from the platform: {first!r}")
    return process, match.group(1)


def signed_in(
    client: Path, server: Path | None, url: str | None, database: str = ""
) -> dict[str, str]:
    """The environment of a client home signed in as PERSONA: on the served platform at
    `url` (its phone enrolled with the card's activation code, read from the server's
    home, or from its `database` when it is a PostgreSQL one), or on the embedded one
    when `url` is None."""
    store = {"BSP_TOKEN_STORE": "file"}  # explicit opt-in: a throwaway home
    env = bsp_env(client, **store) | ({"BSP_PLATFORM_URL": url} if url else {})
    platform = {"BSP_DATABASE_URL": database} if database else {}
    personas = json.loads(
        bsp("platform", "personas", "--json", env=bsp_env(server or client, **platform)).stdout
    )
    persona = next(p for p in personas if p["name"] == PERSONA)
    if url:
        bsp("phone", "enrol", "--persona", PERSONA, "--code", persona["activation_code"], env=env)
    bsp("login", "--persona", PERSONA, env=env | {"BSP_PIN": persona["pin"]})
    return env


def qualified(env: dict[str, str], patient: dict[str, str]) -> None:
    """Make a patient's identity qualified in the client's identity store, as a clinician
    does before using the DMP: retrieved by INSi (`bsp ins lookup`), then checked on an
    identity card (`bsp ins qualify`)."""
    traits = ("family", "given", "sex", "birthdate")
    bsp("ins", "lookup", *(f"--{name}={patient[name]}" for name in traits), env=env)
    bsp("ins", "qualify", patient["ins"], "--document", "cni", env=env)
