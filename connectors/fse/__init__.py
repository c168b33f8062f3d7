"""FSE: the electronic care sheet (SESAM-Vitale)."""

from bsp_tui.domain.professions import INFIRMIER, MEDECIN
from connectors.base import Connector

CONNECTOR = Connector(
    name="fse",
    title="Feuille de soins",
    description="Feuilles de soins électroniques : facturer et suivre les envois",
    order=4,
    professions=frozenset({MEDECIN, INFIRMIER}),
    refusal="La feuille de soins se signe avec la carte d'un médecin ou d'un infirmier.",
    screen="connectors.fse.screen:FseView",
    service="connectors.fse.service:router",
    seed="connectors.fse.seed:seed",
    cli="connectors.fse.cli:group",
)
