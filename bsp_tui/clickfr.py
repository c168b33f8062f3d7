"""click's own words in French: usage lines, help headings, and the usage errors.

click marks every message it prints for gettext (`_()` and `ngettext()` in each of its
modules), but with no catalogue shipped and the language taken from the locale, a
French professional would read English. This module is the catalogue: click's English
messages and their French, installed into click's modules before the command line is
built. A message click adds or changes in a later version stays in English until it is
added here (a test lists the catalogue's entries that click no longer has).
"""

from __future__ import annotations

from types import ModuleType

FRENCH: dict[str, str] = {
    "Usage:": "Utilisation :",
    "Options": "Options",
    "Commands": "Commandes",
    "Positional arguments": "Arguments",
    "Show this message and exit.": "Afficher cette aide et quitter.",
    "Show the version and exit.": "Afficher la version et quitter.",
    "%(prog)s, version %(version)s": "%(prog)s, version %(version)s",
    "Error: {message}": "Erreur : {message}",
    "Try '{command} {option}' for help.": "Essayez « {command} {option} » pour l'aide.",
    "Aborted!": "Abandon.",
    "Missing argument": "Argument manquant",
    "Missing option": "Option manquante",
    "Missing parameter": "Paramètre manquant",
    "Missing {param_type}": "{param_type} manquant",
    "Missing parameter: {param_name}": "Paramètre manquant : {param_name}",
    "Missing command.": "Commande manquante.",
    "No such command {name!r}.": "Commande inconnue : {name!r}.",
    "No such option {name!r}.": "Option inconnue : {name!r}.",
    "Option {name!r} does not take a value.": "L'option {name!r} ne prend pas de valeur.",
    "Invalid value for {param_hint}: {message}": "Valeur invalide pour {param_hint} : {message}",
    "Invalid value: {message}": "Valeur invalide : {message}",
    # The type's English name (integer range…) is left out: a number is what is asked.
    "{value!r} is not a valid {number_type}.": "{value!r} n'est pas un nombre valide.",
    "{value} is not in the range {range}.": "{value} n'est pas dans l'intervalle {range}.",
    "{value!r} is not a valid boolean. Recognized values: {states}": (
        "{value!r} n'est pas un booléen. Valeurs reconnues : {states}"
    ),
    "{name} {filename!r} does not exist.": "{name} {filename!r} n'existe pas.",
    "{name} {filename!r} is a file.": "{name} {filename!r} est un fichier.",
    "{name} {filename!r} is a directory.": "{name} {filename!r} est un dossier.",
    "{name} {filename!r} is not readable.": "{name} {filename!r} n'est pas lisible.",
    "{name} {filename!r} is not writable.": "{name} {filename!r} n'est pas accessible en écriture.",
    "Could not open file {filename!r}: {message}": (
        "Impossible d'ouvrir le fichier {filename!r} : {message}"
    ),
    "file": "fichier",
    "directory": "dossier",
    "path": "chemin",
    "default: {default}": "par défaut : {default}",
    "env var: {var}": "variable : {var}",
    "required": "obligatoire",
    "Choose from:\n\t{choices}": "Au choix :\n\t{choices}",
}
PLURALS: dict[tuple[str, str], tuple[str, str]] = {
    ("Got unexpected extra argument ({args})", "Got unexpected extra arguments ({args})"): (
        "Argument en trop ({args})",
        "Arguments en trop ({args})",
    ),
    ("Did you mean {possibility}?", "(Did you mean one of: {possibilities}?)"): (
        "Vouliez-vous dire {possibility} ?",
        "(Vouliez-vous dire l'une de : {possibilities} ?)",
    ),
    ("Option {name!r} requires an argument.", "Option {name!r} requires {nargs} arguments."): (
        "L'option {name!r} attend une valeur.",
        "L'option {name!r} attend {nargs} valeurs.",
    ),
    ("{value!r} is not {choice}.", "{value!r} is not one of {choices}."): (
        "{value!r} n'est pas {choice}.",
        "{value!r} n'est pas l'une des valeurs {choices}.",
    ),
    (
        "{value!r} does not match the format {format}.",
        "{value!r} does not match the formats {formats}.",
    ): (
        "{value!r} ne suit pas le format {format}.",
        "{value!r} ne suit aucun des formats {formats}.",
    ),
    ("Takes {nargs} values but 1 was given.", "Takes {nargs} values but {len} were given."): (
        "Attend {nargs} valeurs, 1 donnée.",
        "Attend {nargs} valeurs, {len} données.",
    ),
}


def french(message: str) -> str:
    """click's message in French (as it is when the catalogue lacks it)."""
    return FRENCH.get(message, message)


def french_plural(singular: str, plural: str, count: int) -> str:
    """click's message with a count, in French."""
    one, many = PLURALS.get((singular, plural), (singular, plural))
    return one if count == 1 else many


def _click_modules() -> list[ModuleType]:
    import click.core
    import click.decorators
    import click.exceptions
    import click.formatting
    import click.parser
    import click.termui
    import click.types

    return [
        click.core,
        click.decorators,
        click.exceptions,
        click.formatting,
        click.parser,
        click.termui,
        click.types,
    ]


def install() -> None:
    """Make click speak French, in this process."""
    for module in _click_modules():
        if hasattr(module, "_"):
            module._ = french  # type: ignore[attr-defined]
        if hasattr(module, "ngettext"):
            module.ngettext = french_plural  # type: ignore[attr-defined]
