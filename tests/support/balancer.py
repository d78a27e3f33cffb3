"""``Balancer``: a tiny test load balancer - a :class:`FaultProxy` whose upstream the test
switches between server instances at run time.

One listening port on 127.0.0.1 (the origin a browser sees); every new connection goes to
the instance in force when it is accepted. ``switch()`` sends new connections elsewhere
and, with ``cut=True``, resets the ones still open to the old instance (what a real
balancer does when it takes a dead backend out: the client sees a network error and
reconnects, now to the new instance). Every fault of ``FaultProxy`` (``cut``, ``stall``,
``refuse``...) works as well.

Usage::

    with Balancer(a.port) as balancer:             # http://127.0.0.1:<balancer.port>
        page.goto(balancer.url + "/dashboard/orders")
        a.kill()
        balancer.switch(b.port, cut=True)           # from now on everything goes to B
        balancer.upstream_port == b.port
"""

from __future__ import annotations

from tests.support.fault_proxy import FaultProxy


class Balancer(FaultProxy):
    """See the module docstring."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1",
                 host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(upstream_port, upstream_host=upstream_host, host=host, port=port)
        self.switches: list[tuple[int, int]] = []  # (from port, to port), in order

    def start(self) -> Balancer:
        super().start()
        return self

    def __enter__(self) -> Balancer:
        return self.start()

    def switch(self, upstream_port: int, upstream_host: str = "127.0.0.1", *,
               cut: bool = False) -> int:
        """New connections go to ``upstream_host:upstream_port`` from now on; with ``cut``
        every connection still open (to whichever instance) is reset at once. Returns how
        many were cut. In force when it returns (runs on the proxy's loop, where the
        upstream is read for each accepted connection)."""

        def apply() -> int:
            self.switches.append((self.upstream_port, upstream_port))
            self.upstream_host, self.upstream_port = upstream_host, upstream_port
            return self._abort_all() if cut else 0

        return self._call(apply)


__all__ = ["Balancer"]
