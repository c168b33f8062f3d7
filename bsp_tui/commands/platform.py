"""`bsp platform …`: serve, inspect and reset the emulated platform."""

from __future__ import annotations

import datetime as dt
import io
import os
import secrets
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from bsp_tui.commands.rooms import rooms_group
from bsp_tui.config import platform_url
from bsp_tui.exitcodes import ExitCode
from bsp_tui.output import CommandError, echo, fail, json_option, print_json
from bsp_tui.platform.settings import (
    DATABASE_URL_ENV,
    PUBLIC_URL_ENV,
    TRAINER_TOKEN_ENV,
    PlatformSettings,
)
from bsp_tui.platform.settings import public_url as public_url_of

if TYPE_CHECKING:
    import httpx

    from bsp_tui.platform.core import Platform


def _settings() -> PlatformSettings:
    try:
        return PlatformSettings.from_env()
    except ValueError as error:
        fail(CommandError(str(error), ExitCode.USAGE, "bad_setting"), False)


def _open() -> Platform:
    # Imported here: every other `bsp` command starts without the platform's web stack.
    from bsp_tui.platform.core import Platform

    served = platform_url()
    settings = _settings()
    if served:
        # These commands read and write the database under BSP_HOME. Answering from it
        # while the launcher uses another platform would show, say, PINs that platform
        # refuses: say where to run them instead.
        fail(
            CommandError(
                f"BSP_PLATFORM_URL désigne la plateforme servie {served}, mais cette commande "
                f"agit sur la base locale {settings.database} : lancez-la là où tourne "
                "`bsp platform serve` (avec son BSP_HOME), sans BSP_PLATFORM_URL "
                "(personas, cards et reset passent aussi par HTTP avec BSP_TRAINER_TOKEN).",
                ExitCode.USAGE,
                "served_platform",
            ),
            False,
        )
    return Platform.open(settings)


def _diagnostics(response: httpx.Response) -> str:
    """The sentence of a service's OperationOutcome, or the bare status."""
    try:
        return str(response.json()["issue"][0]["diagnostics"])
    except (ValueError, KeyError, IndexError, TypeError):
        return f"La plateforme a répondu {response.status_code}."


class _Trainer:
    """The trainer's side of the platform: its database here, or a served platform over
    HTTP with BSP_TRAINER_TOKEN (a trainer on another machine than the server)."""

    def __init__(self, as_json: bool = False) -> None:
        self.url = platform_url()
        self.as_json = as_json
        token = os.environ.get("BSP_TRAINER_TOKEN", "")
        self._local = None if (self.url and token) else _open()
        self._headers = {"Authorization": f"Bearer {token}"}

    def _call(
        self,
        method: str,
        path: str,
        body: dict | None = None,
        refusals: Mapping[int, tuple[ExitCode, str]] | None = None,
    ) -> Any:
        """The platform's JSON answer; a refusal in `refusals` (status: exit code and
        error code) is told in the platform's own words."""
        import httpx

        try:
            response = httpx.request(
                method,
                f"{self.url.rstrip('/')}{path}",
                headers=self._headers,
                json=body,
                timeout=15,
            )
        except httpx.HTTPError:
            fail(
                CommandError(
                    f"Plateforme injoignable à {self.url}.", ExitCode.UNREACHABLE, "unreachable"
                ),
                self.as_json,
            )
        if response.status_code == 401:
            fail(
                CommandError(
                    "Jeton formateur refusé par la plateforme servie (BSP_TRAINER_TOKEN).",
                    ExitCode.NOT_ALLOWED,
                    "trainer_token",
                ),
                self.as_json,
            )
        if refusals and response.status_code in refusals:
            exit_code, code = refusals[response.status_code]
            fail(CommandError(_diagnostics(response), exit_code, code), self.as_json)
        if not response.is_success:
            fail(
                CommandError(
                    f"La plateforme a répondu {response.status_code}.",
                    ExitCode.FAILURE,
                    "platform_error",
                ),
                self.as_json,
            )
        return response.json()

    def directory(self) -> list[dict]:
        """Every persona with PIN and current activation code."""
        if self._local is not None:
            return self._local.ecps.directory(with_pins=True)
        return self._call("GET", "/demo/personas")

    def new_code(self, name: str) -> dict:
        """Another activation code for the persona: code, expires."""
        if self._local is not None:
            return self._local.ecps.issue_code(name)
        return self._call("POST", f"/demo/personas/{name}/activation-codes")

    def reset(self) -> None:
        """Back to the seeded state."""
        if self._local is not None:
            self._local.reset()
        else:
            self._call("POST", "/demo/reset")


@click.group("platform")
def platform_group() -> None:
    """La plateforme nationale émulée (PSC, e-CPS, services)."""


platform_group.add_command(rooms_group)


@platform_group.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Adresse d'écoute.")
@click.option(
    "--port",
    default=8700,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port (0 : un port libre, écrit au démarrage).",
)
@click.option("--access-ttl", type=click.IntRange(1), help="Durée du jeton d'accès PSC (s).")
@click.option(
    "--refresh-ttl", type=click.IntRange(1), help="Durée du jeton de rafraîchissement PSC (s)."
)
@click.option("--api-ttl", type=click.IntRange(1), help="Durée des jetons d'API (s).")
@click.option(
    "--request-timeout",
    type=click.FloatRange(0.1),
    default=10.0,
    show_default=True,
    help="Secondes laissées à une connexion pour envoyer sa requête entière avant fermeture.",
)
@click.option(
    "--database",
    envvar="BSP_DATABASE_URL",
    help="Base PostgreSQL (postgresql://UTILISATEUR@HÔTE:PORT/BASE) ; "
    "par défaut le fichier SQLite du dossier de données.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Processus servant la plateforme (au-delà de 1 : PostgreSQL seulement).",
)
@click.option(
    "--public-url",
    envvar="BSP_PUBLIC_URL",
    default="",
    help="Adresse publique derrière un proxy inverse (émetteur, liens), "
    "au lieu de l'hôte de chaque requête.",
)
def serve(
    host: str,
    port: int,
    access_ttl: int | None,
    refresh_ttl: int | None,
    api_ttl: int | None,
    request_timeout: float,
    database: str | None,
    workers: int,
    public_url: str,
) -> None:
    """Servir la plateforme en HTTP pour une salle de lanceurs."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from bsp_tui.platform.core import Platform
    from bsp_tui.platform.db import SchemaError, database_url, shown_url
    from bsp_tui.platform.serving import (
        KEEP_ALIVE_SECONDS,
        REQUEST_TIMEOUT_ENV,
        listening_socket,
        log_platform,
    )

    if database is not None and not database.startswith(("postgresql://", "postgres://")):
        raise click.BadParameter(
            "une URL postgresql://UTILISATEUR@HÔTE:PORT/BASE est attendue.", param_hint="--database"
        )
    if workers > 1 and database is None:
        raise click.UsageError(
            "--workers au-delà de 1 exige PostgreSQL (--database postgresql://…) : "
            "un fichier SQLite ne laisse écrire qu'un processus à la fois."
        )
    try:
        public = public_url_of(public_url)
    except ValueError as error:
        fail(CommandError(str(error), ExitCode.USAGE, "bad_setting"), False)
    given = os.environ.get(TRAINER_TOKEN_ENV, "")
    # Every worker is a new process that builds its platform from this environment.
    for name, value in (
        (DATABASE_URL_ENV, database),
        (PUBLIC_URL_ENV, public),
        ("BSP_PSC_ACCESS_TTL", access_ttl),
        ("BSP_PSC_REFRESH_TTL", refresh_ttl),
        ("BSP_API_TOKEN_TTL", api_ttl),
        (REQUEST_TIMEOUT_ENV, request_timeout),
        (TRAINER_TOKEN_ENV, given or secrets.token_urlsafe(32)),
    ):
        if value is not None:
            os.environ[name] = str(value)
    settings = _settings()
    where = shown_url(settings.database)
    try:
        database_url(settings.database)
        # Tables made, upgraded and seeded once, before any worker starts.
        Platform.open(settings).db.close()
    except SchemaError as error:
        fail(CommandError(str(error), ExitCode.FAILURE, "schema"), False)
    except Exception as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        fail(
            CommandError(
                f"Base de données injoignable ({where}) : {reason[:200]}",
                ExitCode.UNREACHABLE,
                "database_unreachable",
            ),
            False,
        )
    log_platform()
    try:
        sock = listening_socket(host, port)
    except OSError as error:
        fail(
            CommandError(
                f"Impossible d'écouter sur {host}:{port} : {error.strerror}.",
                ExitCode.FAILURE,
                "bind_failed",
            ),
            False,
        )
    bound_port = sock.getsockname()[1]
    shown_host = f"[{host}]" if sock.family == socket.AF_INET6 else host
    echo(
        f"Plateforme servie sur http://{shown_host}:{bound_port}",
    )
    base = settings.public_url or f"http://{shown_host}:{bound_port}"
    echo(f"Émetteur PSC : {base}/auth/realms/esante-wallet")
    echo(f"Base de données : {where} ; {workers} processus.")
    if given:
        echo("Jeton formateur : celui de BSP_TRAINER_TOKEN.")
    else:
        # Shown once, on this terminal only: never logged, never stored.
        echo(f"Jeton formateur (affiché une seule fois) : {os.environ[TRAINER_TOKEN_ENV]}")
    echo("Ctrl+C pour arrêter.", err=True)
    config = uvicorn.Config(
        "bsp_tui.platform.app:served_app",
        factory=True,
        http="bsp_tui.platform.serving:TimelyHttpToolsProtocol",
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        workers=workers,
        log_config=None,
        access_log=False,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    try:
        if workers == 1:
            server.run(sockets=[sock])
        else:
            Multiprocess(config, sockets=[sock]).run()
    except KeyboardInterrupt:
        # uvicorn has shut down cleanly and passes the Ctrl+C on: not an error.
        echo("Plateforme arrêtée.", err=True)


@platform_group.command("personas")
@json_option
def personas(as_json: bool) -> None:
    """Les professionnels de démonstration : identifiant national, PIN, code d'activation."""
    rows = _Trainer().directory()
    if as_json:
        print_json(rows)
        return
    echo(
        f"{'NOM':<12} {'PROFESSIONNEL':<24} {'PROFESSION':<20} {'ID NATIONAL':<13} PIN  ACTIVATION"
    )
    for r in rows:
        echo(
            f"{r['name']:<12} {r['display_name']:<24} {r['profession']:<20} "
            f"{r['national_id']:<13} {r['pin']} {r['activation_code']}"
        )


def _enrol_command(card: dict) -> str:
    """What a card's QR code holds: the trainee's enrolment command, ready to run."""
    return f"bsp phone enrol --persona {card['name']} --code {card['activation_code']}"


def _card_lines(card: dict) -> list[str]:
    expires = dt.datetime.fromtimestamp(card["activation_expires"]).strftime("%d/%m/%Y %H:%M")
    return [
        f"{card['display_name']} — {card['profession']} ({card['name']})",
        f"Identifiant national : {card['national_id']}",
        f"Code PIN : {card['pin']}",
        f"Code d'activation e-CPS : {card['activation_code']} (usage unique, jusqu'au {expires})",
        f"Enrôlement : {_enrol_command(card)}",
    ]


def _cards_html(cards: list[dict]) -> str:
    import html

    import segno

    blocks = []
    for card in cards:
        qr = segno.make(_enrol_command(card), error="m").svg_inline(scale=3)
        lines = "".join(f"<p>{html.escape(line)}</p>" for line in _card_lines(card))
        blocks.append(f'<section class="card">{lines}{qr}</section>')
    style = (
        "body{font-family:sans-serif} .card{border:1px solid #000;padding:1em;margin:1em;"
        "width:32em;break-inside:avoid;page-break-inside:avoid} .card p{margin:.2em 0}"
    )
    return (
        '<!doctype html><html lang="fr"><head><meta charset="utf-8">'
        f"<title>Cartes e-CPS de démonstration</title><style>{style}</style></head>"
        f"<body>{''.join(blocks)}</body></html>\n"
    )


@platform_group.command("cards")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Écrire les cartes dans une page HTML à imprimer (lisible par vous seul).",
)
@click.option(
    "--copies",
    default=1,
    show_default=True,
    type=click.IntRange(1, 50),
    help="Cartes par professionnel, chacune avec son code d'activation (une par téléphone).",
)
def cards(output: Path | None, copies: int) -> None:
    """Cartes à imprimer : nom, profession, identifiant national, PIN, code d'activation, QR."""
    import segno

    trainer = _Trainer()
    rows = []
    for card in trainer.directory():
        rows.append(card)
        for _ in range(copies - 1):
            fresh = trainer.new_code(card["name"])
            rows.append(
                card | {"activation_code": fresh["code"], "activation_expires": fresh["expires"]}
            )
    if output is not None:
        # The cards hold PINs and activation codes: private until printed.
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(_cards_html(rows))
        echo(f"{len(rows)} cartes écrites dans {output}.")
        return
    for card in rows:
        echo("─" * 72)
        for line in _card_lines(card):
            echo(line)
        qr = io.StringIO()
        segno.make(_enrol_command(card), error="m").terminal(out=qr, compact=True)
        # Our own drawing, made of the terminal's colour sequences: printed as it is.
        click.echo(qr.getvalue(), nl=False)  # noqa: TID251


@platform_group.command("patients")
@json_option
def patients(as_json: bool) -> None:
    """Les patients synthétiques : INS, OID et traits."""
    platform = _open()  # opening seeds the population once
    rows = [
        dict(row)
        for row in platform.db.all(
            "SELECT ins, oid, family, given, sex, birthdate, birthplace FROM patients ORDER BY seq"
        )
    ]
    if as_json:
        print_json(rows)
        return
    echo(f"{'INS':<16} {'NOM':<22} {'PRÉNOMS':<26} S {'NÉ(E) LE':<10} LIEU")
    for r in rows:
        echo(
            f"{r['ins']:<16} {r['family'][:22]:<22} {r['given'][:26]:<26} {r['sex']} "
            f"{r['birthdate']} {r['birthplace']}"
        )


@platform_group.command("reset")
def reset() -> None:
    """Revenir à l'état initial : ni session, ni demande en attente, ni blocage."""
    _Trainer().reset()
    echo("Plateforme remise à l'état initial.")


@platform_group.group("clients")
def clients_group() -> None:
    """Les clients OIDC enregistrés auprès de PSC."""


@clients_group.command("add")
@click.argument("name")
@click.option(
    "--redirect-uri", "redirect_uris", multiple=True, help="URI de redirection autorisée."
)
@click.option(
    "--backchannel-logout-uri",
    help="Où PSC annonce la fin d'une session du client (OpenID Connect Back-Channel Logout).",
)
@json_option
def clients_add(
    name: str, redirect_uris: tuple[str, ...], backchannel_logout_uri: str | None, as_json: bool
) -> None:
    """Enregistrer un autre client ; écrit son identifiant et son secret (affiché une fois)."""
    try:
        secret = _open().clients.add(name, list(redirect_uris), backchannel_logout_uri)
    except ValueError as error:
        fail(CommandError(str(error), ExitCode.USAGE, "bad_client"), as_json)
    if as_json:
        print_json(
            {
                "client_id": name,
                "client_secret": secret,
                "redirect_uris": list(redirect_uris),
                "backchannel_logout_uri": backchannel_logout_uri,
            }
        )
        return
    echo(f"client_id     : {name}")
    echo(f"client_secret : {secret}")
    echo("Conservez ce secret : il ne sera plus affiché.", err=True)


@platform_group.group("keys")
def keys_group() -> None:
    """Les clés de signature de la plateforme."""


@keys_group.command("rotate")
def keys_rotate() -> None:
    """Signer avec une nouvelle clé ; l'ancienne vérifie encore ses jetons jusqu'à leur fin."""
    kid = _open().keys.rotate()
    echo(f"Nouvelle clé de signature : {kid}")
