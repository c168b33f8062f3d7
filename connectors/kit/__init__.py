"""The connector kit: what a connector's client side is written against.

- `connectors.kit.errors`: `ConnectorError`, the one error type of a connector's client,
  read from a service's OperationOutcome and carrying its exit code;
- `connectors.kit.cli`: the click helpers (`say`, `--json`, the session's client from the
  click context, a ConnectorError turned into its exit code once);
- `connectors.view`: the screen base (`ConnectorView`, `StatusLine`), the error boundary
  `service_worker`, and literal rendering (`literal`, `literal_row`);
- `connectors.retry`: creating requests that survive a lost answer (`post_once`).

Nothing is imported here, so that a client pulls in neither click nor Textual.
"""
