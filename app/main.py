"""PyScript entry (index.html: <script type="py" src="/app/main.py">).

Kept tiny on purpose: running it again (a second script tag, a hot reload) re-mounts the
UI and reuses the tab's single SSE client; see ``zariz.boot``.

An app module that fails to import (a SyntaxError, an exception at import time) is shown
by the page's boot overlay (static/boot/boot-error.js) with the repository's paths, not
by PyScript's error box: this file catches it, since ``zariz.boot`` may be what broke.
"""

try:
    from zariz.boot import main
except Exception as exc:
    import json
    import traceback

    import js

    _text = "".join(traceback.format_exception(exc))
    js.console.error(_text)
    _report = json.dumps({"type": type(exc).__name__, "message": str(exc), "traceback": _text})
    try:
        js.globalThis.__zarizBootError.python(_report)
    except AttributeError:  # a page without the overlay script: PyScript's box says it
        raise exc from None
else:
    main()
