"""The launcher's identity store: the confidence status is the structure's, given by what
the professional did (INSi retrieval, a high-trust document checked), with who and when."""

from __future__ import annotations

from pathlib import Path

import pytest

from bsp_tui.domain.patients import Identity
from bsp_tui.exitcodes import ExitCode
from connectors.kit.identities import (
    DOCUMENTS,
    IdentityStore,
    NotQualifiedError,
    identities_path,
)

NIR = Identity(
    "262037511122263", "1.2.250.1.213.1.4.10", "DUPONT", "MARIE", "F", "1962-03-14", "75111"
)
NIA = Identity(
    "890059934134366", "1.2.250.1.213.1.4.9", "OUEDRAOGO", "AMINATA", "F", "1990-05-30", "99341"
)
DOCTOR = "Élise Martin-Dubois (810000012307)"


@pytest.fixture
def store(tmp_path: Path):
    opened = IdentityStore(identities_path(tmp_path, "default"))
    yield opened
    opened.close()


def test_an_unknown_ins_is_provisional_and_not_shareable(store: IdentityStore) -> None:
    assert store.get(NIR.ins) is None
    assert store.status(NIR.ins) == "PROV"
    with pytest.raises(NotQualifiedError) as refused:
        store.check_qualified(NIR.ins)
    assert refused.value.exit_code == ExitCode.NOT_ALLOWED
    assert refused.value.code == "not_qualified"
    assert "Identité provisoire, non qualifiée" in refused.value.message
    assert f"bsp ins qualify {NIR.ins} --document" in refused.value.message


@pytest.mark.parametrize("identity", [NIR, NIA], ids=["NIR", "NIA"])
def test_retrieved_then_checked_on_a_document_is_qualified(
    store: IdentityStore, identity: Identity
) -> None:
    retrieved = store.retrieved(identity, DOCTOR)
    assert (retrieved.status, retrieved.status_label) == ("RECUP", "récupérée")
    with pytest.raises(NotQualifiedError, match="Identité récupérée"):
        store.check_qualified(identity.ins)
    qualified = store.validated(identity.ins, "titre_sejour", DOCTOR)
    assert (qualified.status, qualified.status_label) == ("QUAL", "qualifiée")
    store.check_qualified(identity.ins)  # no refusal
    recorded = qualified.as_json()
    assert recorded["document"] == "titre_sejour"
    assert recorded["retrieved_by"] == recorded["validated_by"] == DOCTOR
    assert recorded["retrieved"] and recorded["validated"]
    assert (qualified.family, qualified.given) == (identity.family, identity.given)


def test_a_document_without_insi_is_validated_then_insi_qualifies(store: IdentityStore) -> None:
    assert store.validated(NIR.ins, "passeport", DOCTOR).status == "VALI"
    with pytest.raises(NotQualifiedError, match="Identité validée"):
        store.check_qualified(NIR.ins)
    # A later INSi answer keeps the document checked.
    again = store.retrieved(NIR, "Hugo Lefèvre (810000078904)")
    assert (again.status, again.document, again.validated_by) == ("QUAL", "passeport", DOCTOR)


@pytest.mark.parametrize("document", ["passeport", "livret_famille", "acte_naissance"])
def test_the_high_trust_documents_are_accepted(store: IdentityStore, document: str) -> None:
    assert document in DOCUMENTS
    assert store.validated(NIR.ins, document, DOCTOR).document == document


def test_another_document_is_refused_and_nothing_recorded(store: IdentityStore) -> None:
    with pytest.raises(ValueError, match="passeport, cni, titre_sejour"):
        store.validated(NIR.ins, "permis", DOCTOR)
    assert store.get(NIR.ins) is None


def test_each_profile_has_its_own_store(tmp_path: Path) -> None:
    first = IdentityStore(identities_path(tmp_path, "cabinet"))
    second = IdentityStore(identities_path(tmp_path, "hopital"))
    try:
        first.retrieved(NIR, DOCTOR)
        first.validated(NIR.ins, "cni", DOCTOR)
        assert (first.status(NIR.ins), second.status(NIR.ins)) == ("QUAL", "PROV")
    finally:
        first.close()
        second.close()
