"""The national services a professional's session reaches, each an OAuth audience."""

SERVICE_AUDIENCES: tuple[str, ...] = ("ins", "dmp", "eprescription", "fse")
