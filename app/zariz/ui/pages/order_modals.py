"""The orders page's dialogs: create, assign courier, change status, delete (confirm).

Mutations go through REST and the dialog closes on success; the table changes when the
server's event arrives (one source of truth). A failure (409 invalid transition, 422
validation, network) is shown inside the dialog, next to the field when the server names
one, and the form keeps everything the user typed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from zariz.orders import NEXT_STATUS, STATUSES
from zariz.ui import dom
from zariz.ui.component import Scope
from zariz.ui.context import Ctx
from zariz.ui.dom import h
from zariz.ui.format import (
    ADDRESS_LIMIT,
    CUSTOMER_LIMIT,
    NAME_LIMIT,
    display_text,
    error_message,
    field_errors,
    order_ref,
    status_label,
)
from zariz.ui.widgets import Modal, button, field, status_badge, text_value


class FormModal:
    """A dialog around a ``<form>``: submit runs ``action()``; errors stay in the dialog."""

    def __init__(
        self,
        ctx: Ctx,
        parent: Scope,
        *,
        title: str,
        testid: str,
        submit_label: str,
        submit_kind: str = "primary",
    ) -> None:
        self.ctx = ctx
        self.modal = Modal(parent, title=title, testid=testid)
        self.error = h(
            "div",
            {"class": "form-error", "role": "alert", "data-testid": "modal-error", "hidden": True},
        )
        self.fields = h("div", {"class": "form-fields"})
        self.submit = button(submit_label, kind=submit_kind, testid="modal-submit", type_="submit")
        cancel = button("Cancel", testid="modal-cancel")
        self.form = h("form", {"class": "modal-form", "novalidate": True}, self.fields, self.error)
        self.modal.body.appendChild(self.form)
        self.modal.footer.appendChild(cancel)
        self.modal.footer.appendChild(self.submit)
        # The submit button sits in the footer, outside the <form>: tie it with form=.
        form_id = f"form-{testid}"
        dom.set_attr(self.form, "id", form_id)
        dom.set_attr(self.submit, "form", form_id)
        self.field_errors: dict[str, Any] = {}
        self._filled: dict[str, str] = {}
        self.action: Callable[[], Awaitable[Any]] | None = None
        self.busy = False
        scope = self.modal.scope
        scope.use(dom.on(cancel, "click", lambda _e: self.close()))
        scope.use(dom.on(self.form, "submit", self._on_submit))

    def _controls(self) -> dict[str, Any]:
        return {
            str(dom.attr(c, "name")): c
            for c in self.fields.querySelectorAll("input[name], textarea[name], select[name]")
        }

    def values(self) -> dict[str, str]:
        """What the form holds now (handed to the next version on a hot swap)."""
        return {name: dom.input_value(c) for name, c in self._controls().items()}

    def fill(self, values: dict[str, Any]) -> None:
        """Put ``values`` back into the form; a control filled later (a ``<select>`` whose
        options load) takes them with :meth:`refill`."""
        self._filled = {str(k): str(v) for k, v in values.items() if isinstance(v, str)}
        self.refill()

    def refill(self) -> None:
        for name, control in self._controls().items():
            if name in self._filled:
                control.value = self._filled[name]

    def error_slot(self, name: str) -> Any:
        node = h("span", {"class": "field-error", "hidden": True, "data-field-error": name})
        self.field_errors[name] = node
        return node

    def show_error(self, text: str | None, per_field: dict[str, str] | None = None) -> None:
        dom.set_attr(self.error, "hidden", not text)
        dom.set_text(self.error, text or "")
        for name, node in self.field_errors.items():
            msg = (per_field or {}).get(name)
            dom.set_attr(node, "hidden", not msg)
            dom.set_text(node, msg or "")

    def set_busy(self, on: bool) -> None:
        self.busy = on
        dom.set_attr(self.submit, "disabled", on)
        dom.set_attr(self.form, "aria-busy", "true" if on else None)

    def _on_submit(self, e: Any) -> None:
        e.preventDefault()
        if self.busy or self.action is None:
            return
        self.show_error(None)
        self.set_busy(True)
        self.ctx.run(self.modal.scope, self._run(self.action))

    async def _run(self, action: Callable[[], Awaitable[Any]]) -> None:
        try:
            await action()
        except Exception as exc:  # ApiError / NetworkError / a client-side check
            if self.modal.closed:
                return
            self.set_busy(False)
            self.show_error(error_message(exc), field_errors(getattr(exc, "details", None)))
            return
        self.close()

    def show(self) -> FormModal:
        self.modal.show()
        return self

    def close(self) -> None:
        self.modal.close()


def _input(
    name: str, *, required: bool = False, type_: str = "text", autocomplete: str = "off"
) -> Any:
    return h(
        "input",
        {
            "name": name,
            "type": type_,
            "required": required,
            "autocomplete": autocomplete,
            "data-testid": f"field-{name}",
        },
    )


def create_order_modal(ctx: Ctx, parent: Scope) -> FormModal:
    fm = FormModal(
        ctx, parent, title="New order", testid="create-order-modal", submit_label="Create order"
    )
    inputs = {
        "customer": _input("customer", required=True),
        "phone": _input("phone", required=True, type_="tel"),
        "address": _input("address", required=True),
        "notes": h("textarea", {"name": "notes", "rows": 3, "data-testid": "field-notes"}),
    }
    labels = {
        "customer": "Customer",
        "phone": "Phone",
        "address": "Delivery address",
        "notes": "Notes",
    }
    for name, control in inputs.items():
        fm.fields.appendChild(
            field(
                labels[name],
                control,
                error_node=fm.error_slot(name),
                hint="optional" if name == "notes" else None,
            )
        )

    async def action() -> None:
        values = {k: dom.input_value(v).strip() for k, v in inputs.items()}
        missing = {k: "Required" for k in ("customer", "phone", "address") if not values[k]}
        if missing:
            raise _Invalid("Fill in the required fields.", missing)
        body: dict[str, Any] = {k: values[k] for k in ("customer", "phone", "address")}
        if values["notes"]:
            body["notes"] = values["notes"]
        await ctx.api.create_order(body)

    fm.action = action
    return fm.show()


class _Invalid(Exception):
    """A client-side check, shaped like a 422 so the dialog shows it the same way."""

    def __init__(self, message: str, fields: dict[str, str]) -> None:
        super().__init__(message)
        self.status = 422
        self.message = message
        self.details = [{"loc": [k], "msg": v} for k, v in fields.items()]


def _order_summary(order: dict[str, Any]) -> Any:
    return h(
        "div",
        {"class": "order-summary"},
        h("strong", None, order_ref(order.get("id"))),
        " ",
        status_badge(order.get("status")),
        h("div", None, text_value(order.get("customer"), CUSTOMER_LIMIT, lines=3)),
        h("div", {"class": "muted"}, text_value(order.get("address"), ADDRESS_LIMIT, lines=3)),
    )


def assign_modal(ctx: Ctx, parent: Scope, order: dict[str, Any]) -> FormModal:
    fm = FormModal(
        ctx,
        parent,
        title=f"Assign order {order_ref(order.get('id'))}",
        testid="assign-modal",
        submit_label="Assign",
    )
    fm.fields.appendChild(_order_summary(order))
    select = h(
        "select",
        {"name": "courier_id", "data-testid": "field-courier", "disabled": True},
        h("option", {"value": ""}, "Loading couriers…"),
    )
    fm.fields.appendChild(field("Courier", select, error_node=fm.error_slot("courier_id")))

    async def load() -> None:
        try:
            couriers = await ctx.load_couriers()
        except Exception as exc:
            fm.show_error(error_message(exc))
            return
        options = [h("option", {"value": ""}, "Choose a courier…")]
        for cid, c in couriers.items():
            name = display_text(c.get("name") or cid, NAME_LIMIT)
            label = name + ("" if c.get("active", True) else " (inactive)")
            options.append(
                h("option", {"value": cid, "selected": cid == order.get("courier_id")}, label)
            )
        dom.replace_children(select, options)
        dom.set_attr(select, "disabled", False)
        fm.refill()

    ctx.run(fm.modal.scope, load())

    async def action() -> None:
        raw = dom.input_value(select)
        if not raw:
            raise _Invalid("Choose a courier.", {"courier_id": "Required"})
        # isascii: "²".isdigit() is True and int("²") raises.
        courier = int(raw) if raw.isascii() and raw.isdigit() else raw
        await ctx.api.assign(order["id"], courier)

    fm.action = action
    return fm.show()


def status_modal(ctx: Ctx, parent: Scope, order: dict[str, Any]) -> FormModal:
    fm = FormModal(
        ctx,
        parent,
        title=f"Change status of {order_ref(order.get('id'))}",
        testid="status-modal",
        submit_label="Change status",
    )
    fm.fields.appendChild(_order_summary(order))
    current = str(order.get("status") or "")
    # The natural next steps first; the others stay available (the server has the last
    # word and its 409 is shown here).
    preferred = list(NEXT_STATUS.get(current, ()))
    others = [
        s
        for s in STATUSES
        if s != current and s not in preferred
    ]
    select = h(
        "select",
        {"name": "status", "data-testid": "field-status"},
        [h("option", {"value": s}, status_label(s)) for s in preferred],
        h(
            "optgroup",
            {"label": "Other"},
            [h("option", {"value": s}, status_label(s)) for s in others],
        )
        if others
        else None,
    )
    fm.fields.appendChild(field("New status", select, error_node=fm.error_slot("status")))

    async def action() -> None:
        await ctx.api.set_status(order["id"], dom.input_value(select))

    fm.action = action
    return fm.show()


def delete_modal(ctx: Ctx, parent: Scope, order: dict[str, Any]) -> FormModal:
    fm = FormModal(
        ctx,
        parent,
        title=f"Delete order {order_ref(order.get('id'))}?",
        testid="delete-modal",
        submit_label="Delete order",
        submit_kind="danger",
    )
    fm.fields.appendChild(_order_summary(order))
    fm.fields.appendChild(
        h("p", {"class": "muted"}, "This removes the order for everyone. It cannot be undone.")
    )

    async def action() -> None:
        await ctx.api.delete_order(order["id"])

    fm.action = action
    return fm.show()


__all__ = ["FormModal", "assign_modal", "create_order_modal", "delete_modal", "status_modal"]


def edit_modal(ctx: Ctx, parent: Scope, order: dict[str, Any]) -> FormModal:
    """Edit an order's customer, phone, address and notes (``PATCH /v1/orders/{id}``)."""
    raise NotImplementedError("the edit dialog is being written")
