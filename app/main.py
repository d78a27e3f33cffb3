"""PyScript entry (index.html: <script type="py" src="/app/main.py">).

Kept tiny on purpose: running it again (a second script tag, a hot reload) re-mounts the
UI and reuses the tab's single SSE client; see ``zariz.boot``.
"""

from zariz.boot import main

main()
