"""A Sphinx extension of the book (listed in _config.yml): HTML that assistive technology reads.

docutils writes a bibliography as `<div role="list">` around entries of role `doc-biblioentry`.
DPUB-ARIA 1.1 deprecates that role, and a list whose items are not `listitem`s is announced
wrongly by screen readers (axe-core's rules aria-deprecated-role and aria-required-children,
WCAG 2 success criterion 4.1.2). Each entry of the references page becomes a `listitem`.
"""

from typing import Any

BIBLIOGRAPHY_ENTRY = 'role="doc-biblioentry"'
LIST_ITEM = 'role="listitem"'


def entries_as_list_items(body: str) -> str:
    """The page's HTML body with every bibliography entry's role made `listitem`."""
    return body.replace(BIBLIOGRAPHY_ENTRY, LIST_ITEM)


def _on_page(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    """Sphinx's html-page-context event: rewrite the body before the theme's template uses it."""
    if BIBLIOGRAPHY_ENTRY in context.get("body", ""):
        context["body"] = entries_as_list_items(context["body"])


def setup(app: Any) -> dict[str, Any]:
    """Register the extension with Sphinx."""
    app.connect("html-page-context", _on_page)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
