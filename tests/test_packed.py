"""The static copy's message packed as it is built (packed.py): the same message `update_display` sends."""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ling_notebook import packed
from ling_notebook.render import COPY_MIME

# Any text a reply can hold: every code point but lone surrogates (engine.valid_text replaces those).
texts = st.text(st.characters(exclude_categories=("Cs",)))
plain_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)


@given(pieces=st.lists(texts, max_size=6), plain=texts, metadata=st.dictionaries(texts, plain_json, max_size=3),
       display_id=texts, slice_=st.integers(1, 4))
def test_the_packed_content_is_the_message_update_display_would_send(pieces, plain, metadata, display_id, slice_):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(packed, "SLICE", slice_)  # long strings are escaped in slices: cut them everywhere
        packed_bytes = packed.content_bytes(iter(pieces), plain, metadata, display_id)
    content = json.loads(packed_bytes)
    assert content == {"data": {"text/html": "".join(pieces), "text/plain": plain, COPY_MIME: {}}, "metadata": metadata,
                       "transient": {"display_id": display_id}}


@given(metadata=st.dictionaries(texts, st.lists(texts, max_size=4), max_size=3), slice_=st.integers(1, 4))
def test_a_string_of_the_metadata_may_come_a_piece_at_a_time(metadata, slice_):
    # render.copy_metadata(packing=True): a long Markdown's compressed base64, made as it is written.
    given_as_pieces = {key: [{"deflate": iter(pieces)}] for key, pieces in metadata.items()}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(packed, "SLICE", slice_)
        content = json.loads(packed.content_bytes(iter(["<p>"]), "p", given_as_pieces, "d"))
    assert content["metadata"] == {key: [{"deflate": "".join(pieces)}] for key, pieces in metadata.items()}


def test_without_ipykernel_the_bundle_goes_through_ipython(monkeypatch):
    sent = []
    monkeypatch.setattr("IPython.display.update_display", lambda obj, **kw: sent.append((obj, kw)))
    packed.update_display(iter(["<p>a", "</p>"]), "a", {"m": [1, {"deflate": iter(["ab", "cd"])}]}, "d1")
    assert sent == [({"text/html": "<p>a</p>", "text/plain": "a", COPY_MIME: {}},
                     {"raw": True, "metadata": {"m": [1, {"deflate": "abcd"}]}, "display_id": "d1"})]


def test_packing_leaves_no_utf8_copy_inside_the_replys_text():
    # CPython keeps the UTF-8 form of a non-ASCII str inside it once a C library asks for it (sys.getsizeof
    # counts it): the reply's text must not carry a second copy for the rest of its life.
    text, html = "“quoted” " + "x" * 100, "<p>“quoted”</p>" + "y" * 100
    sizes = sys.getsizeof(text), sys.getsizeof(html)
    packed.content_bytes(iter([html]), text, {"ling_notebook": {"markdown": [text]}}, "d1")
    assert (sys.getsizeof(text), sys.getsizeof(html)) == sizes


@pytest.mark.parametrize("change, packs_here", [
    ({}, True),
    ({"packer": "pickle"}, False),  # the content must be what the session's own packer makes
    ({"store_display_history": True}, False),  # publish() would keep the bundle too
    ({"subclass": True}, False),  # someone's own publish() must run
])
def test_the_message_is_packed_here_only_where_publish_would_just_send_json(monkeypatch, change, packs_here):
    from ipykernel.zmqshell import ZMQDisplayPublisher
    from jupyter_client.session import Session

    class Custom(ZMQDisplayPublisher):
        def publish(self, *args, **kwargs):
            return super().publish(*args, **kwargs)

    kind = Custom if change.get("subclass") else ZMQDisplayPublisher
    publisher = kind(session=Session(packer=change.get("packer", "json")), pub_socket=object(),
                     store_display_history=change.get("store_display_history", False))
    monkeypatch.setattr("IPython.get_ipython", lambda: SimpleNamespace(display_pub=publisher))
    assert (packed._publisher() is publisher) is packs_here
