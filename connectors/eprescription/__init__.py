"""Ordonnance numérique: e-prescription."""

from bsp_tui.domain.professions import INFIRMIER, MEDECIN, PHARMACIEN
from connectors.base import Connector

CONNECTOR = Connector(
    name="eprescription",
    title="Ordonnance numérique",
    description="Prescrire, consulter et délivrer les ordonnances",
    order=3,
    professions=frozenset({MEDECIN, PHARMACIEN, INFIRMIER}),
    refusal="L'ordonnance numérique est réservée aux prescripteurs, pharmaciens et infirmiers.",
    screen="connectors.eprescription.screen:PrescriptionView",
    service="connectors.eprescription.service:router",
    seed="connectors.eprescription.seed:seed",
    cli="connectors.eprescription.cli:group",
    command="rx",
)
