"""How a connector type's create/edit form looks: pure data, rendered by the web UI.

The UI is generic (DESIGN.md rule 2): it never names a type or a provider. A type describes its
form here: one *variant* field (the provider) and fields shown for some variants, with their
defaults, hints and the rules the page checks as the user types. The server validates again;
these rules only spare a round trip.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

FieldKind = Literal["text", "url", "number", "secret", "select", "pem", "headers"]
Section = Literal["config", "secrets"]


@dataclass(frozen=True)
class FormField:
    """One field. ``variants`` None: shown for every variant. ``required_for``: the variants
    where it must be filled; ``required_unless``: not required when one of these is filled.
    ``pem_label`` (kind ``pem``): the header a PEM text must contain, checked by the page, and
    sent base64-encoded as the API expects."""

    name: str
    label: str
    kind: FieldKind
    section: Section = "config"
    variants: tuple[str, ...] | None = None
    required_for: tuple[str, ...] = ()
    required_unless: tuple[str, ...] = ()
    defaults: Mapping[str, str] = field(default_factory=dict)
    hints: Mapping[str, str] = field(default_factory=dict)
    placeholders: Mapping[str, str] = field(default_factory=dict)
    options: tuple[tuple[str, str], ...] = ()
    pem_labels: tuple[str, ...] = ()
    message_keys: tuple[str, ...] = ()
    """Words that, in a server's 400 message, name this field (besides ``[name]``): the page
    shows the message next to it too."""
    given_with: str | None = None
    """A field that must be filled whenever this one is (a client certificate and its key)."""

    def shown_for(self, variant: str) -> bool:
        return self.variants is None or variant in self.variants


@dataclass(frozen=True)
class ConnectorForm:
    """``variant_field`` (a config key) picks among ``variants``: (value, label, description)."""

    variant_field: str
    variant_label: str
    variants: tuple[tuple[str, str, str], ...]
    fields: tuple[FormField, ...]
    url_field: str | None = None
    """The config key holding the endpoint URL: its host is shown in the connectors table."""
    model_field: str | None = None
    """The config key holding the default model, shown in the connectors table."""
    example_params: str = ""
    """The JSON body the test panel starts with."""
    run_params: Mapping[str, object] = field(default_factory=dict)
    """``{"plain": <params template>, "stream": <params template>}`` for the test panel: the
    sub-action and its params, with ``"$body"`` standing for the edited body text;
    ``"stream_body"``: keys merged into the body for the streamed run."""
