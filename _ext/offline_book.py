"""Keep the built book self-contained and its browser console clean.

* sphinx-thebe (added by Jupyter Book even with thebe disabled) injects its
  configuration script twice, a ``const`` redeclaration that throws on every page, and
  would fetch thebe from a CDN if activated. The book runs offline, so its scripts are
  dropped from every page.
* pydata-sphinx-theme logs a console error when no default colour mode is set.
"""

from __future__ import annotations


def _is_thebe(script) -> bool:
    filename = getattr(script, "filename", None) or ""
    body = getattr(script, "attributes", {}).get("body", "") if hasattr(script, "attributes") else ""
    return "thebe" in str(filename) or "THEBE_JS_URL" in str(body)


def _drop_thebe(app, pagename, templatename, context, doctree):
    context.setdefault("default_mode", "light")
    if "script_files" in context:
        context["script_files"] = [s for s in context["script_files"] if not _is_thebe(s)]


def setup(app):
    app.connect("html-page-context", _drop_thebe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
