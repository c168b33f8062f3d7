"""bsp: a terminal launcher for the Bouquet de Services aux Professionnels."""

__version__ = "0.1.0"
