"""`bsp fse …`: care sheets from the shell — make, queue, send, follow.

Input is checked before anything is sent or queued (INS key, acts, typed rights): a
malformed value exits 2 naming the field. The outbox is local: `new` with typed rights
(`--degraded --birthdate …`), `outbox` and `show` work with no platform and no session.
When the session has ended (3) or the platform cannot be reached (6), `send` leaves
every sheet in the outbox and says so; they go out with the next send.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import date
from decimal import Decimal

import click
import httpx

from bsp_tui.exitcodes import ExitCode
from connectors.fse.client import (
    FseClient,
    FseError,
    checked_acts,
    checked_ins,
    checked_number,
    tiers_payant_for,
    typed_rights,
)
from connectors.fse.models import (
    CATALOGUE,
    EXEMPTIONS,
    Prescription,
    Rights,
    Sheet,
    build_sheet,
    euros,
    french_euros,
)
from connectors.fse.outbox import Entry, leftover, profile_outbox
from connectors.fse.sender import SendBusyError, fetch_returns, send_outbox
from connectors.kit.cli import (
    CommandError,
    client,
    command,
    exit_with,
    failure,
    json_option,
    print_json,
    say,
)
from connectors.kit.errors import UNAVAILABLE, SsoError

NOT_QUEUED = (
    "Rien n'a été mis en boîte d'envoi ; sans réseau, donnez les droits de l'attestation "
    "du patient : --degraded --birthdate AAAA-MM-JJ [--exemption …] [--out-of-pathway]."
)


def amounts_lines(sheet: Sheet) -> list[str]:
    """The priced acts and the totals, in French."""
    a = sheet.amounts
    lines = [
        f"  {line.code:<5} {line.label[:48]:<48} {french_euros(line.price):>9}  {line.rate:>3} %"
        f"  AMO {french_euros(line.amo):>9}  PF {french_euros(line.pf)}"
        f"  franchise {french_euros(line.franchise)}{'  (ALD)' if line.ald else ''}"
        for line in a.lines
    ]
    paying = "tiers payant" if sheet.tiers_payant else "sans tiers payant"
    css = f" · CSS {french_euros(a.complementary)}" if a.complementary else ""
    lines.append(
        f"Base {french_euros(a.base)} · AMO {french_euros(a.amo)}{css} · participation "
        f"forfaitaire {french_euros(a.pf)} · franchise {french_euros(a.franchise)} · part "
        f"patient {french_euros(a.patient)} · à payer maintenant {french_euros(a.due_now)} "
        f"({paying})"
    )
    if a.deferred:
        lines.append(
            f"À récupérer plus tard auprès du patient par l'Assurance Maladie : "
            f"{french_euros(a.deferred)}"
        )
    return lines


@click.group("fse")
def group() -> None:
    """FSE : les feuilles de soins électroniques (acts, new, outbox, send, returns, show)."""


@group.command("acts")
@json_option
def acts(as_json: bool) -> None:
    """Le catalogue des actes : code, libellé, tarif (et celui des moins de 6 ans s'il existe)."""
    rows = [
        {
            "code": act.code,
            "label": act.label,
            "tariff": euros(act.tariff),
            "under_six": euros(act.under_six) if act.under_six is not None else None,
            "paramedical": act.paramedical,
            "profession": act.profession,
        }
        for act in CATALOGUE.values()
    ]
    if as_json:
        print_json({"acts": rows})
        return
    for act in CATALOGUE.values():
        child = f" (moins de 6 ans : {french_euros(act.under_six)})" if act.under_six else ""
        say(f"{act.code:<5} {act.label:<52} {french_euros(act.tariff):>9}{child}")


async def _read_rights(ins: str, day: str, degraded: bool) -> Rights:
    try:
        async with client("fse") as http:
            rights = await FseClient(http).rights(ins, day)
    except (SsoError, FseError) as error:
        if isinstance(error, FseError) and error.kind != UNAVAILABLE:
            raise
        raise failure(error, "Droits illisibles :", NOT_QUEUED) from None
    except httpx.TransportError:
        raise CommandError(
            f"Droits illisibles : plateforme injoignable. {NOT_QUEUED}",
            ExitCode.UNREACHABLE,
            "unreachable",
        ) from None
    if not rights.open_on(day):
        raise CommandError(
            f"Les droits de ce patient sont fermés depuis le {rights.closed_on} : la feuille "
            "serait rejetée. Demandez au patient une attestation de droits à jour.",
            ExitCode.NOT_ALLOWED,
            "rights_closed",
        )
    if degraded:
        return rights.without_card()
    return rights


@group.command("new")
@click.argument("ins")
@click.option(
    "--act", "codes", multiple=True, metavar="CODE", help="Un acte (à répéter pour plusieurs)."
)
@click.option(
    "--ald-act",
    "ald_codes",
    multiple=True,
    metavar="CODE",
    help="Un acte en rapport avec l'ALD du patient (pris en charge à 100 %).",
)
@click.option("--degraded", is_flag=True, help="Sans carte Vitale : mode dégradé.")
@click.option(
    "--birthdate",
    metavar="YYYY-MM-DD",
    help="Avec --degraded : droits saisis, sans besoin du réseau.",
)
@click.option("--regime", default="01", show_default=True, help="Droits saisis : le régime.")
@click.option(
    "--exemption",
    type=click.Choice(EXEMPTIONS, case_sensitive=False),
    help="Droits saisis : l'exonération.",
)
@click.option(
    "--out-of-pathway", is_flag=True, help="Droits saisis : hors parcours de soins coordonnés."
)
@click.option(
    "--ame",
    "ame_number",
    metavar="NUMBER",
    help="Bénéficiaire de l'AME (sans carte Vitale) : le numéro de son attestation d'admission.",
)
@click.option("--prescriber", metavar="RPPS", help="Actes infirmiers : RPPS du prescripteur.")
@click.option(
    "--prescribed-on", metavar="YYYY-MM-DD", help="Actes infirmiers : date de la prescription."
)
@click.option("--scan", metavar="REF", help="Actes infirmiers : référence de la copie numérisée.")
@click.option(
    "--tiers-payant/--no-tiers-payant",
    default=None,
    help="Tiers payant (par défaut : avec une exonération ; toujours en CSS et AME).",
)
@json_option
@command
async def new(
    ins: str,
    codes: tuple[str, ...],
    ald_codes: tuple[str, ...],
    degraded: bool,
    birthdate: str | None,
    regime: str,
    exemption: str | None,
    out_of_pathway: bool,
    ame_number: str | None,
    prescriber: str | None,
    prescribed_on: str | None,
    scan: str | None,
    tiers_payant: bool | None,
    as_json: bool,
) -> None:
    """Faire une feuille de soins pour le patient, en boîte d'envoi ; écrit son numéro."""
    ins = checked_ins(ins)
    chosen = checked_acts([*codes, *ald_codes])
    day = date.today().isoformat()
    prescription = _prescription(prescriber, prescribed_on, scan, day)
    ald = tuple(index >= len(codes) for index in range(len(chosen)))
    typed = birthdate is not None
    if ame_number is not None:
        if not (degraded and typed) or (exemption or "AME").upper() != "AME":
            raise FseError.bad_input(
                "--ame : un bénéficiaire de l'AME n'a pas de carte Vitale (--degraded "
                "--birthdate AAAA-MM-JJ, sans autre exonération)."
            )
        if not ame_number.strip():
            raise FseError.bad_input("--ame : le numéro de l'attestation d'admission.")
        exemption = "AME"
    if typed and not degraded:
        raise FseError.bad_input(
            "--birthdate : les droits saisis vont avec --degraded (sans carte Vitale)."
        )
    if not typed and (exemption or out_of_pathway or regime != "01"):
        raise FseError.bad_input(
            "--birthdate : obligatoire pour saisir des droits (--regime, --exemption, "
            "--out-of-pathway)."
        )
    if birthdate is not None:
        rights = typed_rights(ins, birthdate, regime, exemption or "", not out_of_pathway)
    else:
        rights = await _read_rights(ins, day, degraded)
    paying = tiers_payant_for(rights, tiers_payant)
    outbox = profile_outbox()
    try:
        used = rights.used + outbox.queued(ins, day)
        sheet = build_sheet(
            rights, chosen, day, paying, degraded, used, ald=ald, prescription=prescription
        )
        if ame_number:
            sheet = replace(sheet, ame_number=ame_number.strip().upper())
        entry = outbox.add(sheet)
    finally:
        outbox.close()
    if as_json:
        print_json(entry.as_json())
        return
    say(f"{entry.number} mis en boîte d'envoi (en attente).")
    _describe(entry)


def _prescription(
    prescriber: str | None, prescribed_on: str | None, scan: str | None, day: str
) -> Prescription | None:
    given = (prescriber, prescribed_on, scan)
    if not any(given):
        return None
    if not all(given):
        raise FseError.bad_input(
            "--prescriber, --prescribed-on, --scan : la prescription les demande tous les trois."
        )
    prescription = Prescription(str(prescriber), str(prescribed_on), str(scan))
    problem = prescription.problem(day)
    if problem:
        raise FseError.bad_input(f"--prescriber/--prescribed-on/--scan : {problem}.")
    return prescription


def _describe(entry: Entry) -> None:
    sheet = entry.sheet
    mode = " — mode dégradé" if sheet.degraded else ""
    who = f"{entry.patient} " if entry.patient else ""
    say(f"Patient : {who}(INS {entry.ins}) — soins du {entry.care_date}{mode}")
    say(sheet.rights.summary())
    if sheet.ame_number:
        say(f"AME : attestation d'admission {sheet.ame_number} (sans carte Vitale)")
    if sheet.prescription:
        p = sheet.prescription
        say(f"Prescription du {p.prescribed_on} (RPPS {p.prescriber}), copie {p.scan}")
    for line in amounts_lines(sheet):
        say(line)


@group.command("send")
@json_option
@command
async def send(as_json: bool) -> None:
    """Envoyer les feuilles en attente par lots ; écrit chaque ARL et le résultat des feuilles."""
    outbox = profile_outbox()
    try:
        if not outbox.waiting():
            if as_json:
                print_json({"sent": 0, "accepted": 0, "rejected": 0, "left": 0, "arls": []})
            else:
                say("Aucune feuille en attente.")
            return
        try:
            async with client("fse") as http:
                report = await send_outbox(
                    outbox, FseClient(http), lambda line: say(line, err=True), wait=True
                )
        except SendBusyError:
            raise CommandError(
                f"Un autre envoi est toujours en cours : réessayez plus tard. "
                f"{leftover(outbox.waiting())}",
                ExitCode.FAILURE,
                "busy",
            ) from None
        except (SsoError, FseError) as error:
            raise failure(error, suffix=leftover(outbox.waiting())) from None
        except httpx.TransportError:
            raise CommandError(
                f"Plateforme injoignable. {leftover(outbox.waiting())}",
                ExitCode.UNREACHABLE,
                "unreachable",
            ) from None
        entries = {e.number: e for e in outbox.entries()}
    finally:
        outbox.close()
    negative = bool(report.arls) and not report.arls[-1].positive
    if as_json:
        print_json(report.as_json())
        if negative:
            sys.exit(int(ExitCode.FAILURE))
        return
    for arl in report.arls:
        if not arl.positive:
            say(f"ARL négatif pour le lot {arl.batch_id} : {arl.code} {arl.reason}.")
            continue
        say(f"ARL positif pour le lot {arl.batch_id} ({len(arl.sheets)} feuille(s)).")
        for result in arl.sheets:
            entry = entries[result.number]
            again = " (déjà reçue)" if result.already_received else ""
            say(f"  {result.number}  {entry.state_label}{again}")
    say(
        f"{report.accepted} acceptée(s), {report.rejected} rejetée(s), {report.left} en attente.",
        err=True,
    )
    if negative:
        raise CommandError(
            f"Lot refusé ({report.arls[-1].code}) : {report.left} feuille(s) restent dans la "
            "boîte d'envoi.",
            ExitCode.FAILURE,
            "negative_arl",
        )


@group.command("returns")
@json_option
@command
async def returns_command(as_json: bool) -> None:
    """Les retours de la caisse : chaque feuille acquittée, payée (montant, date) ou rejetée."""
    outbox = profile_outbox()
    try:
        try:
            async with client("fse") as http:
                report = await fetch_returns(outbox, FseClient(http))
        except (SsoError, FseError) as error:
            raise failure(error, "Retours illisibles :") from None
        except httpx.TransportError:
            raise CommandError(
                "Retours illisibles : plateforme injoignable.", ExitCode.UNREACHABLE, "unreachable"
            ) from None
        entries = {e.number: e for e in outbox.entries()}
    finally:
        outbox.close()
    if as_json:
        print_json(report.as_json())
        return
    if not report.returns:
        say("Aucun retour pour l'instant.")
        return
    for item in report.returns:
        entry = entries.get(item["number"])
        if item["status"] == "paid":
            what = f"payée {french_euros(Decimal(item['amount']))} le {item['paid_on']}"
        else:
            what = f"rejetée ({item['code']} : {item['reason']})"
        outside = "" if entry else " (hors de cette boîte d'envoi)"
        say(f"{item['number']}  {what}{outside}")
    summary = report.as_json()
    say(
        f"{summary['paid']} payée(s), {summary['rejected']} rejetée(s) ; "
        f"{report.recorded} nouveau(x) retour(s).",
        err=True,
    )


@group.command("outbox")
@json_option
def outbox_command(as_json: bool) -> None:
    """La boîte d'envoi : chaque feuille et son état (en attente, envoyée, acquittée, payée,
    rejetée)."""
    outbox = profile_outbox()
    try:
        entries = outbox.entries()
    finally:
        outbox.close()
    if as_json:
        print_json({"count": len(entries), "sheets": [e.as_json() for e in entries]})
        return
    if not entries:
        say("La boîte d'envoi est vide.")
        return
    say(f"{'NUMÉRO':<21}  {'DATE':<10}  {'PATIENT':<28}  {'MONTANT':>9}  ÉTAT")
    for e in entries:
        patient = e.patient or e.ins
        say(
            f"{e.number:<21}  {e.care_date:<10}  {patient[:28]:<28}  "
            f"{french_euros(e.sheet.amounts.base):>9}  {e.state_label}"
        )


@group.command("show")
@click.argument("number")
@json_option
def show(number: str, as_json: bool) -> None:
    """Une feuille de la boîte d'envoi : patient, droits, actes, montants et état."""
    try:
        number = checked_number(number)
    except FseError as error:
        exit_with(error, as_json)
    outbox = profile_outbox()
    try:
        entry = outbox.get(number)
    finally:
        outbox.close()
    if entry is None:
        exit_with(
            CommandError(
                f"Aucune feuille {number} dans la boîte d'envoi.", ExitCode.NOT_FOUND, "not_found"
            ),
            as_json,
        )
    if as_json:
        print_json(entry.as_json())
        return
    say(f"Feuille {entry.number} — {entry.state_label}")
    _describe(entry)
