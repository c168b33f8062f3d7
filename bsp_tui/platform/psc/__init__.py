"""Pro Santé Connect as the emulation serves it: OIDC provider and e-CPS second factor."""
