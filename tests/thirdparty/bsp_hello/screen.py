"""Its screen: asks its service who is signed in, through the launcher's session."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from connectors.view import ConnectorView, service_worker


class HelloView(ConnectorView):
    """One line: what the service answered."""

    STATUS_ID = "hello-answer"

    def compose(self) -> ComposeResult:
        yield Static("", id="hello-answer")

    def on_mount(self) -> None:
        self.ask()

    @service_worker(group="hello")
    async def ask(self) -> None:
        response = await self.context.client.get("/me")
        self.say(response.json()["hello"])
