"""Dev mode: hot reload of the page's Python in place, the error overlay, strict mode.

Only ``make dev`` (``python -m server --dev``) turns it on: the server then marks the page
(``<meta name="zariz-dev">``) and announces each saved file as a ``dev.reload`` event on the
stream the page already has. Everything here but :mod:`zariz.dev.page` (the DOM side) is
pure Python, tested in CPython.
"""
