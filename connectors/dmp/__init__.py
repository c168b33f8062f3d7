"""DMP: the shared medical record (Mon espace santé)."""

from bsp_tui.domain.professions import INFIRMIER, MEDECIN, PHARMACIEN
from connectors.base import Connector
from connectors.dmp.models import MAX_BODY_BYTES

CONNECTOR = Connector(
    name="dmp",
    title="DMP",
    description="Dossier médical partagé : consulter et alimenter",
    order=2,
    professions=frozenset({MEDECIN, PHARMACIEN, INFIRMIER}),
    refusal="Le DMP est réservé aux professionnels de santé.",
    screen="connectors.dmp.screen:DmpView",
    service="connectors.dmp.service:router",
    seed="connectors.dmp.seed:seed",
    cli="connectors.dmp.cli:group",
    max_body_bytes=MAX_BODY_BYTES,
)
