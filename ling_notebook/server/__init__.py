"""The built-in OpenAI-compatible chat-completions server: the offline demo model and the test double.

A small HTTP server on loopback (tornado, on its own event loop in a daemon thread) that speaks
``POST /v1/chat/completions`` (SSE stream or plain JSON) and ``GET /v1/models`` like the OpenAI and
Ant Ling APIs, and keeps a record of every request it received. It knows nothing of Jupyter or of
the client side of this package. Its parts: `scenarios` (what each model sends; pure code),
`records` (the bounded request log, header values masked), `handlers` (tornado: the protocol and who may
call), `serve` (`ModelServer` and `run`), `replay` (with ``ModelServer(replay=LOG)``, ``ling-notebook serve
--replay``: the reply log's complete replies instead of the models below, the one part that reads the client's log).

Models (parameters go in the model name after ``?``, e.g. ``test/flood?tokens=500&rate=0``):

- ``ling-offline-demo``: deterministic Markdown about the last user message, at the server's rate
  (``?rate=N`` overrides it; ``rate=0`` or ``inf`` means as fast as possible). It also answers to
  ``Ling-2.6-flash`` (the client's default model, `scenarios.DEMO_ALIASES`), saying so in its answer.
  Offered ``tools``, it calls the first one (once per number in the prompt when its first parameter is a
  number), then lists the results it is sent.
- ``test/<scenario>`` (``rate`` defaults to 1000 pieces/s; generic content is ``" w1"``, ``" w2"``, ...):
  ``echo`` (the last user message back, in 4-character pieces), ``trickle`` (tokens=50, rate=20),
  ``flood`` (tokens=10000, rate=0), ``markdown`` (tokens=10000, rate=0: a long Markdown answer, the demo
  model's answers one after another), ``length`` / ``content-filter`` (tokens=10, that finish reason),
  ``reasoning`` (reasoning=20 ``reasoning_content`` pieces, then tokens=20), ``empty-chunks`` (tokens=10,
  interleaved with empty deltas), ``utf8`` (emoji, CJK and combining marks, each event's bytes split
  mid-character across two TCP writes), ``slow-start`` (delay=2.0 s before the headers),
  ``error-mid`` (after=5 pieces, then an in-stream error event and the end of the response),
  ``drop`` (after=5, then the connection is cut), ``truncate`` (after=5, then the response ends with no
  finish reason and no ``[DONE]``), ``stall`` (after=3, then silence until the client leaves),
  ``picky`` (echo, but a prompt containing "fail" gets HTTP status=500 for its first fails=1e9 attempts,
  i.e. always, with ``retry-after: after`` seconds), ``flaky`` (echo, but every prompt's first fails=1
  attempts get HTTP status=429, retry-after after=0 s; attempts are counted per model and messages),
  ``tools`` (calls what the prompt's ``call NAME ARGUMENTS`` lines name, streamed as ``delta.tool_calls``:
  arguments in pieces=4 characters, interleave=1 mixes a round's calls, rounds=1 rounds of calls, then an
  answer quoting the tool results), and ``http-401``, ``http-403``, ``http-404``, ``http-429``, ``http-500``,
  ``http-503`` (that error status).

An assistant message whose ``tool_calls`` are not each answered by a ``tool`` message is refused (HTTP 400),
as the real API does. ``max_tokens`` / ``max_completion_tokens`` cut any reply with
``finish_reason: "length"``. When a client disconnects, generation stops at once. ``GET /_ling/requests``
returns the records as JSON and ``DELETE /_ling/requests`` clears them, for tests that run the server in
another process.
`records.peak_open(records)` tells how many requests were open at once.

Only loopback callers are answered: the ``Host`` must be a loopback name, a browser ``Origin`` must be
a loopback origin, POSTs must be ``application/json``, and no CORS headers are sent (see `handlers`).
"""

from .records import RequestRecord
from .scenarios import DEMO_MODEL
from .serve import ModelServer, run

__all__ = ["DEMO_MODEL", "ModelServer", "RequestRecord", "run"]
