"""Stored templates (per domain, with versions) and a minimal handlebars renderer.

Only variable substitution is rendered: ``{{name}}`` (HTML-escaped), ``{{{name}}}`` (raw) and
dotted paths ``{{user.name}}``; missing variables render as an empty string, comments
``{{! ...}}`` vanish. That is what sending tests need; block helpers are left untouched.

Example::

    >>> render_handlebars("<p>Hi {{name}}</p>", {"name": "Bob & Co"})
    '<p>Hi Bob &amp; Co</p>'
"""

from __future__ import annotations

import html
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_mailgun.testing.util import rfc2822

_VAR_RE = re.compile(r"\{\{\{\s*([\w.\-@]+)\s*\}\}\}|\{\{\s*([\w.\-@]+)\s*\}\}|\{\{!.*?\}\}", re.S)
MAX_TEMPLATES = 100
MAX_VERSIONS = 10


def _lookup(variables: dict[str, Any], path: str) -> Any:
    if path in variables:
        return variables[path]
    value: Any = variables
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return None
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render_handlebars(source: str, variables: dict[str, Any]) -> str:
    def replace(match: re.Match[str]) -> str:
        raw, escaped = match.group(1), match.group(2)
        if raw is not None:
            return _text(_lookup(variables, raw))
        if escaped is not None:
            return html.escape(_text(_lookup(variables, escaped)))
        return ""

    return _VAR_RE.sub(replace, source)


@dataclass
class TemplateVersion:
    tag: str
    template: str
    engine: str = "handlebars"
    comment: str = ""
    active: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def as_dict(self, with_content: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "tag": self.tag,
            "engine": self.engine,
            "mjml": "",
            "createdAt": rfc2822(self.created_at),
            "comment": self.comment,
            "active": self.active,
            "id": self.id,
            "headers": dict(self.headers),
        }
        if with_content:
            out["template"] = self.template
        return out


@dataclass
class Template:
    name: str
    description: str
    created_at: float
    created_by: str = ""
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    versions: dict[str, TemplateVersion] = field(default_factory=dict)

    def active_version(self) -> TemplateVersion | None:
        for version in self.versions.values():
            if version.active:
                return version
        return next(iter(self.versions.values()), None)

    def add_version(self, version: TemplateVersion, make_active: bool) -> None:
        if make_active or not self.versions:
            for other in self.versions.values():
                other.active = False
            version.active = True
        self.versions[version.tag] = version

    def as_dict(self, version: TemplateVersion | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "createdAt": rfc2822(self.created_at),
            "createdBy": self.created_by,
            "id": self.id,
        }
        if version is not None:
            out["version"] = version.as_dict()
        return out
