"""sphinx_accessibility: the references page's entries are list items of their list."""

from fmnist_lib.sphinx_accessibility import _on_page, entries_as_list_items

BIBLIOGRAPHY = (
    '<div role="list" class="citation-list">\n'
    '<div class="citation" id="id1" role="doc-biblioentry">\n<p>One.</p>\n</div>\n'
    '<div class="citation" id="id2" role="doc-biblioentry">\n<p>Two.</p>\n</div>\n'
    "</div>\n"
)


def test_every_bibliography_entry_becomes_a_list_item():
    body = entries_as_list_items(BIBLIOGRAPHY)
    assert "doc-biblioentry" not in body
    assert body.count('role="listitem"') == 2
    assert '<div role="list" class="citation-list">' in body


def test_the_page_event_rewrites_the_body_and_leaves_other_pages_alone():
    context = {"body": BIBLIOGRAPHY}
    _on_page(None, "book/references", "page.html", context, None)
    assert context["body"] == entries_as_list_items(BIBLIOGRAPHY)
    other = {"body": "<p>No citations.</p>"}
    _on_page(None, "book/intro", "page.html", other, None)
    assert other == {"body": "<p>No citations.</p>"}
