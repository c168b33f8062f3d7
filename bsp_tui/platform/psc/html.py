"""The few HTML pages of the wallet front end and of the device verification."""

from __future__ import annotations

from html import escape

from fastapi.responses import HTMLResponse

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;color:#1e1e1e}
h1{color:#000091;font-size:1.4rem}.binding{font-size:4rem;font-weight:bold;color:#000091}
.error{color:#ce0500}label,input,button{display:block;margin:.5rem 0;font-size:1rem}
"""


# Every page: never framed (clickjacking of the e-CPS steps), no script, forms posted
# back here only, no sniffing of the type, no address leaking in a Referer.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def page(
    title: str,
    body: str,
    status: int = 200,
    refresh: str | None = None,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """A page in the national palette, with the security headers; `body` is
    already-escaped HTML."""
    meta = f'<meta http-equiv="refresh" content="{escape(refresh)}">' if refresh else ""
    html = (
        f'<!doctype html><html lang="fr"><head><meta charset="utf-8">{meta}'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS | (headers or {}))


def error_line(message: str) -> str:
    """An error paragraph."""
    return f'<p class="error" role="alert">{escape(message)}</p>' if message else ""


def hidden(name: str, value: str) -> str:
    """A hidden form field."""
    return f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'


def field(name: str, label: str, value: str = "") -> str:
    """A labelled text field."""
    return (
        f'<label for="{escape(name)}">{escape(label)}</label>'
        f'<input id="{escape(name)}" name="{escape(name)}" value="{escape(value)}" required>'
    )


def binding_view(binding: str) -> str:
    """The 2-digit number to find on the phone."""
    return (
        "<p>Validez la demande sur votre e-CPS. Le même nombre doit s'y afficher :</p>"
        f'<p class="binding">{escape(binding)}</p>'
    )
