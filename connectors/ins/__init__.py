"""INS: the national patient identity (INSi lookup)."""

from connectors.base import Connector

LOOKUPS_MAX = 100  # lookups in one request to the service's `/lookups`

CONNECTOR = Connector(
    name="ins",
    title="INS",
    description="Identité nationale de santé : rechercher et vérifier un patient",
    order=1,
    service="connectors.ins.service:router",
    screen="connectors.ins.screen:InsView",
    cli="connectors.ins.cli:ins_group",
)
