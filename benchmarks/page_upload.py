"""Add a document to the running app exactly as its page does, over plain HTTP.

The upload event is not part of the public API (``api_visibility="private"``), so
a ``gradio_client`` cannot call it; the browser sends three requests, and so does
:func:`upload_as_page`: the file to ``/gradio_api/upload``, the upload event (found
by the file component's ``elem_id`` in ``/config``) to ``/gradio_api/queue/join``,
then it reads the event stream of ``/gradio_api/queue/data`` until the event ends.
"""

from __future__ import annotations

import json
import mimetypes
import uuid
from pathlib import Path
from typing import Any

import httpx

UPLOAD_ELEM_ID = "upload"  # the gr.File of rag.ui
REPLACE_ELEM_ID = "replace"  # its "Replace a document of the same name" checkbox


class PageUploadError(RuntimeError):
    """The page's upload did not complete; the message says at which step."""


def _upload_event(config: dict[str, Any]) -> tuple[dict[str, Any], dict[int, dict[str, Any]]]:
    """The upload event's dependency and the components by id, from ``/config``."""
    components = {c["id"]: c for c in config.get("components", [])}
    file_ids = [i for i, c in components.items()
                if c.get("props", {}).get("elem_id") == UPLOAD_ELEM_ID]
    for dependency in config.get("dependencies", []):
        if any(t[0] in file_ids and t[1] == "upload" for t in dependency.get("targets", [])):
            return dependency, components
    raise PageUploadError(f"the page has no upload event on #{UPLOAD_ELEM_ID} (see /config)")


def upload_as_page(url: str, path: Path, replace: bool = False, timeout_s: float = 300.0) -> str:
    """Upload ``path`` as a user of the page would; returns the page's message (Markdown).

    The event's other inputs keep the values the page starts with (the Document
    menu on "All documents"), except the Replace checkbox, which is ``replace``.
    """
    data = path.read_bytes()
    with httpx.Client(base_url=url, timeout=timeout_s) as http:
        dependency, components = _upload_event(http.get("/config").raise_for_status().json())
        posted = http.post("/gradio_api/upload", files={"files": (path.name, data)})
        _require(posted, "/gradio_api/upload")
        file_data = {
            "path": posted.json()[0],
            "orig_name": path.name,
            "size": len(data),
            "mime_type": mimetypes.guess_type(path.name)[0],
            "meta": {"_type": "gradio.FileData"},
        }
        values = {UPLOAD_ELEM_ID: file_data, REPLACE_ELEM_ID: replace}
        inputs = []
        for component_id in dependency["inputs"]:
            props = components[component_id].get("props", {})
            inputs.append(values.get(props.get("elem_id"), props.get("value")))
        session = uuid.uuid4().hex
        joined = http.post("/gradio_api/queue/join", json={
            "data": inputs,
            "fn_index": dependency["id"],
            "trigger_id": dependency["targets"][0][0],
            "session_hash": session,
            "event_data": None,
        })
        _require(joined, "/gradio_api/queue/join")
        return _first_output(http, session)


def _require(response: httpx.Response, step: str) -> None:
    if response.status_code != 200:
        raise PageUploadError(f"{step}: HTTP {response.status_code} {response.text[:300]}")


def _first_output(http: httpx.Client, session: str) -> str:
    """The event's first output (the upload message), read from the session's event stream."""
    with http.stream("GET", "/gradio_api/queue/data", params={"session_hash": session}) as stream:
        for line in stream.iter_lines():
            if not line.startswith("data:"):
                continue
            message = json.loads(line[5:])
            if message.get("msg") == "unexpected_error":
                raise PageUploadError(f"the upload event failed: {message}")
            if message.get("msg") == "process_completed":
                if not message.get("success"):
                    raise PageUploadError(f"the upload event failed: {message.get('output')}")
                shown = message["output"]["data"][0]
                return str(shown.get("value", "") if isinstance(shown, dict) else shown)
    raise PageUploadError("the upload event's stream ended before it completed")
