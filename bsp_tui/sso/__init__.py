"""The launcher's side of sign-in: flows, ID-token checks, the shared session and its store."""
