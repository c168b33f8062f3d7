"""Who may use a DMP, how, and the trace every access leaves (the patient's history).

The rules are in `rule_problem` and docs/emulation.md: the profession's document types,
the access mode (break-glass, centre 15), the patient's blocks, their opposition to
break-glass access and a closed DMP. Every refusal reaching an existing DMP is traced,
like every access; a break-glass access is notified to the patient and their médecin
traitant (in the history).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from bsp_tui.domain.fhir import Issue
from bsp_tui.platform.api import Professional, ServiceContext, ServiceError
from connectors.dmp.models import (
    BREAK_GLASS_PROFESSIONS,
    BRIS_DE_GLACE,
    CENTRE_15,
    CENTRE_15_PROFESSION,
    CENTRE_15_SAVOIR_FAIRE,
    DOCUMENT_TYPES,
    MAX_REASON_CHARS,
    MODES,
    NORMAL,
    readable_types,
)

OUTCOME_SYSTEM = "urn:bsp:dmp:refusal"  # the emulation's own refusal codes


def problem(status: int, code: str, french: str, english: str, refusal: str = "") -> ServiceError:
    """An OperationOutcome with the reason in French (diagnostics) and English (details),
    and the emulation's refusal code when there is one."""
    return ServiceError(status, Issue(code, french, english, refusal, OUTCOME_SYSTEM))


def invalid(french: str, english: str, code: str = "invalid") -> ServiceError:
    """A request the DMP cannot read (400)."""
    return problem(400, code, french, english)


# -- who is calling, and in which mode ---------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """The professional behind the API token, and the mode they ask for."""

    professional: Professional
    mode: str
    reason: str

    @classmethod
    def of(cls, professional: Professional, mode: str | None, reason: str | None) -> Caller:
        """The caller in the mode asked for (normal by default), both checked."""
        mode = NORMAL if mode in (None, "") else mode
        if mode not in MODES:
            raise invalid(
                f"Mode d'accès inconnu « {mode[:40]} » : {', '.join(MODES)}.",
                f"Unknown access mode; expected one of {', '.join(MODES)}.",
                "value",
            )
        reason = (reason or "").strip()
        if len(reason) > MAX_REASON_CHARS:
            raise invalid(
                f"Le motif dépasse {MAX_REASON_CHARS} caractères.",
                f"The reason is longer than {MAX_REASON_CHARS} characters.",
                "value",
            )
        return cls(professional, mode, reason if mode != NORMAL else "")

    @property
    def national_id(self) -> str:
        """The caller's national id (IdNat_PS)."""
        return self.professional.national_id

    @property
    def name(self) -> str:
        """The caller's name, as the history shows it."""
        return self.professional.name

    @property
    def profession(self) -> str:
        """The caller's profession code."""
        return self.professional.profession

    @property
    def profession_label(self) -> str:
        """The caller's profession, for a refusal's message."""
        return self.professional.label

    @property
    def types(self) -> frozenset[str]:
        """The document types the caller's profession may read."""
        return readable_types(self.profession)

    @property
    def emergency(self) -> bool:
        """Break-glass and regulation see what the patient hid from professionals."""
        return self.mode != NORMAL


# -- the access history -------------------------------------------------------------------


def _action(verb: str, target: str = "", refusal: str = "") -> str:
    """How an access is stored: `verb[:target]`, prefixed `refused:CODE:` for a refusal."""
    action = f"{verb}:{target}" if target else verb
    return f"refused:{refusal}:{action}" if refusal else action


def parse_action(action: str) -> tuple[str, str, str]:
    """(verb, target, refusal) from a stored action."""
    refusal = ""
    if action.startswith("refused:"):
        _, refusal, action = action.split(":", 2)
    verb, _, target = action.partition(":")
    return verb, target, refusal


def trace(
    context: ServiceContext, ins: str, who: Caller, verb: str, target: str = "", refusal: str = ""
) -> None:
    """Write an access (or a refused attempt) in the patient's history."""
    context.db.append(
        "INSERT INTO dmp_access_log (ins, at, national_id, name, profession, mode, reason,"
        " action) VALUES (:ins, :at, :national_id, :name, :profession, :mode, :reason,"
        " :action)",
        {
            "ins": ins,
            "at": context.now,
            "national_id": who.national_id,
            "name": who.name,
            "profession": who.profession,
            "mode": who.mode,
            "reason": who.reason,
            "action": _action(verb, target, refusal),
        },
    )


NOTIFY_PATIENT, NOTIFY_TREATING = "notify_patient", "notify_treating"
NOTIFY_EVERY = 3600.0  # one notification per professional, patient and hour (ours)


def notify_break_glass(context: ServiceContext, ins: str, who: Caller, treating: str) -> None:
    """After a break-glass access: the patient and their médecin traitant (`treating`,
    their national id or "") are told, once an hour per professional; each notification
    is a line of the history."""
    recent = context.db.one(
        "SELECT 1 FROM dmp_access_log WHERE ins = :ins AND national_id = :me"
        " AND action = :action AND at > :since",
        {
            "ins": ins,
            "me": who.national_id,
            "action": NOTIFY_PATIENT,
            "since": context.now - NOTIFY_EVERY,
        },
    )
    if recent:
        return
    trace(context, ins, who, NOTIFY_PATIENT)
    if treating and treating != who.national_id:
        trace(context, ins, who, NOTIFY_TREATING, treating)


def refuse(
    context: ServiceContext,
    ins: str,
    who: Caller,
    verb: str,
    error: ServiceError,
    target: str = "",
) -> ServiceError:
    """Trace a refused attempt in the patient's history; the error to raise."""
    trace(context, ins, who, verb, target, error.issue.reason or error.issue.code)
    return error


def with_reason(error: ServiceError, refusal: str) -> ServiceError:
    """The same error with another refusal code."""
    return ServiceError(error.status, replace(error.issue, reason=refusal, system=OUTCOME_SYSTEM))


# -- where the caller stands --------------------------------------------------------------


CARE_TEAM = "equipe_de_soins"
AUTHORIZED = "autorisee"
NOT_AUTHORIZED = "non_autorisee"
# Everything the rules ask of the database about one professional and one DMP, in one
# round trip: a DMP list spent more time in these small reads than in its documents'.
_STANDING = (
    "SELECT d.status,"
    " (SELECT national_id FROM dmp_treating_doctors WHERE ins = :ins) AS treating,"
    " EXISTS (SELECT 1 FROM dmp_blocks WHERE ins = :ins AND national_id = :id) AS blocked,"
    " EXISTS (SELECT 1 FROM dmp_emergency_oppositions WHERE ins = :ins) AS opposed,"
    " EXISTS (SELECT 1 FROM dmp_documents WHERE ins = :ins AND author_id = :id) AS authored,"
    " EXISTS (SELECT 1 FROM dmp_authorizations WHERE ins = :ins AND national_id = :id)"
    " AS authorised"
    " FROM dmps d WHERE d.ins = :ins"
)


@dataclass(frozen=True)
class Standing:
    """Where a professional stands with one patient's DMP."""

    status: str  # the DMP's: open or closed
    treating: str  # the national id of the patient's médecin traitant, or ""
    blocked: bool  # the patient blocked this professional
    opposed: bool  # the patient opposed emergency (break-glass) access
    authored: bool  # this professional wrote one of its documents
    authorised: bool  # the patient authorised this professional to read it

    def authorization(self, who: Caller) -> str:
        """The caller's "autorisation d'accès": of the care team (the médecin traitant,
        an author of one of its documents), authorised by the patient, or not."""
        if self.authored or self.treating == who.national_id:
            return CARE_TEAM
        return AUTHORIZED if self.authorised else NOT_AUTHORIZED


def standing(context: ServiceContext, ins: str, who: Caller) -> Standing | None:
    """Where `who` stands with the DMP of `ins` now; None when the patient has no DMP."""
    row = context.db.one(_STANDING, {"ins": ins, "id": who.national_id})
    if row is None:
        return None
    return Standing(
        row["status"],
        row["treating"] or "",
        bool(row["blocked"]),
        bool(row["opposed"]),
        bool(row["authored"]),
        bool(row["authorised"]),
    )


# -- the rules ----------------------------------------------------------------------------


def rule_problem(who: Caller, dmp: Standing) -> ServiceError | None:
    """Why this professional may not use this DMP in this mode, or None."""
    if not who.types:
        return problem(
            403,
            "forbidden",
            f"Votre profession ({who.profession_label}) n'a pas accès au DMP.",
            f"Your profession ({who.profession or 'unknown'}) has no access to the DMP.",
            "profession",
        )
    if who.mode == BRIS_DE_GLACE and who.profession not in BREAK_GLASS_PROFESSIONS:
        return problem(
            403,
            "forbidden",
            "Le bris de glace est réservé aux médecins et aux infirmiers.",
            "Break-glass access is reserved to physicians and nurses.",
            "mode_profession",
        )
    if who.mode == CENTRE_15 and (
        who.profession != CENTRE_15_PROFESSION
        or who.professional.savoir_faire != CENTRE_15_SAVOIR_FAIRE
    ):
        return problem(
            403,
            "forbidden",
            "Le mode centre 15 est réservé aux médecins régulateurs (médecine d'urgence).",
            "The centre 15 mode is reserved to regulating physicians (emergency medicine).",
            "mode_profession",
        )
    if who.mode == BRIS_DE_GLACE and not who.reason:
        return problem(
            400,
            "required",
            "Le bris de glace exige un motif : il sera tracé et visible du patient.",
            "Break-glass access requires a reason: it is traced and shown to the patient.",
            "reason_required",
        )
    if dmp.blocked:
        return problem(
            403,
            "forbidden",
            "Le patient vous a bloqué : vous n'avez pas accès à son DMP, même en urgence.",
            "The patient has blocked you: you have no access to their DMP, even in an emergency.",
            "blocked",
        )
    if who.mode == BRIS_DE_GLACE and dmp.opposed:
        return problem(
            403,
            "forbidden",
            "Le patient s'est opposé à l'accès en urgence (bris de glace) à son DMP.",
            "The patient has opposed emergency (break-glass) access to their DMP.",
            "emergency_opposed",
        )
    if dmp.status != "open":
        return problem(
            403,
            "forbidden",
            "Ce DMP est fermé : il ne peut plus être ni consulté ni alimenté.",
            "This DMP is closed: it can be neither read nor added to.",
            "closed",
        )
    return None


def type_problem(who: Caller, loinc: str) -> ServiceError:
    """The refusal of a document type the caller's profession may not read."""
    label = DOCUMENT_TYPES.get(loinc, loinc)
    return problem(
        403,
        "forbidden",
        f"Votre profession ({who.profession_label}) n'a pas accès aux documents de type "
        f"« {label} » ({loinc}).",
        f"Your profession has no access to documents of type {loinc}.",
        "document_type",
    )


# What reads the DMP, or changes a document's metadata (the PDSm guide's TD3.3: the access
# authorisation must be valid): outside the care team, only with the patient's
# authorisation. The check says where the caller stands; adding needs none (art.
# L. 1111-15: the patient's professionals feed the DMP, the patient informed).
UPDATE = "update"
WITHDRAW = "withdraw"  # the patient's authorisation withdrawn
AUTHORIZED_VERBS = frozenset({"list", "metadata", "read", "history", UPDATE})


def authorization_problem(who: Caller, dmp: Standing) -> ServiceError | None:
    """The refusal of a normal-mode reading outside the care team without the patient's
    authorisation, or None."""
    if who.mode != NORMAL or dmp.authorization(who) != NOT_AUTHORIZED:
        return None
    return problem(
        403,
        "forbidden",
        "Vous n'êtes pas de l'équipe de soins de ce patient : la lecture de son DMP demande "
        "son autorisation (bsp dmp authorize).",
        "You are not of this patient's care team: reading their DMP needs their authorisation.",
        "authorization_required",
    )


def authorize(
    context: ServiceContext, ins: str, who: Caller, verb: str, target: str = ""
) -> dict[str, Any]:
    """The DMP of `ins` if this professional may use it now (the patient's identity, its
    `status` and `treating`, the médecin traitant's national id or ""); else trace and
    raise."""
    identity = _identity(context, ins)
    dmp = standing(context, ins, who)
    if dmp is None:
        raise _no_dmp()
    error = rule_problem(who, dmp)
    if error is None and verb in AUTHORIZED_VERBS:
        error = authorization_problem(who, dmp)
    if error is not None:
        raise refuse(context, ins, who, verb, error, target)
    if who.mode == BRIS_DE_GLACE:
        notify_break_glass(context, ins, who, dmp.treating)
    return identity | {"status": dmp.status, "treating": dmp.treating}


def _identity(context: ServiceContext, ins: str) -> dict[str, Any]:
    identity = context.patients.by_ins(ins)
    if identity is None:
        raise problem(
            404,
            "not-found",
            "Aucun patient ne porte cet INS.",
            "No patient has this INS.",
        )
    return asdict(identity)


def _no_dmp() -> ServiceError:
    return problem(404, "not-found", "Ce patient n'a pas de DMP.", "This patient has no DMP.")


def dmp_status(context: ServiceContext, ins: str) -> tuple[dict[str, Any], str | None]:
    """The patient's identity and their DMP's status (None without a DMP); a 404 when no
    patient has this INS."""
    identity = _identity(context, ins)
    row = context.db.one("SELECT status FROM dmps WHERE ins = :ins", {"ins": ins})
    return identity, None if row is None else row["status"]


def dmp_of(context: ServiceContext, ins: str) -> dict[str, Any]:
    """The patient's identity and their DMP's status; a 404 without either."""
    identity, status = dmp_status(context, ins)
    if status is None:
        raise _no_dmp()
    return identity | {"status": status}
