"""The emulated national platform: Pro Santé Connect, e-CPS and the services."""
