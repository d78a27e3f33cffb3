"""The orders page's dialogs: create, edit, assign courier, change status, delete (confirm).

Mutations go through REST and the dialog closes on success; the table changes when the
server's event arrives (one source of truth, no refetch). Fields are checked in the
browser first (on submit, and on leaving a field that has a value): a wrong phone number
is said next to the field and nothing is sent. A failure (409 invalid transition, 422
validation, network) is shown inside the dialog, next to the field when the server names
one, and the form keeps everything the user typed.

After a failed submit the focus goes to the first invalid field (``aria-invalid``, its
message tied with ``aria-describedby``), or back to the submit button when no field is
to blame; a polite live region in the dialog reads the errors out.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from zariz.orders import NEXT_STATUS, STATUSES
from zariz.phones import PLACEHOLDER as PHONE_PLACEHOLDER
from zariz.phones import format_phone, phone_problem
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
from zariz.ui.i18n import t
from zariz.ui.widgets import Modal, button, field, status_badge, text_value

Check = Callable[[str], str | None]
"""A field's browser-side check: the value -> its error message, or ``None``."""


def phone_error(value: str) -> str | None:
    """The phone field's message for ``value`` (the rule of :mod:`zariz.phones`, which is
    the server's), or ``None`` when the number is accepted."""
    problem = phone_problem(value)
    if problem is None:
        return None
    if problem == "empty":
        return t("forms.required")
    # Letters or a wrong length get the rule itself; a foreign number is told why.
    return t("forms.phone.foreign") if problem == "foreign" else t("forms.phone.shape")


def required(value: str) -> str | None:
    return None if value.strip() else t("forms.required")


class FormModal:
    """A dialog around a ``<form>``: submit runs the fields' checks, then ``action()``;
    errors stay in the dialog."""

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
        self.testid = testid
        self.modal = Modal(parent, title=title, testid=testid)
        # Shown, not announced itself: the live region below reads it out (role=alert
        # would interrupt, and a region that was display:none is not reliably read).
        self.error = h(
            "div",
            {"class": "form-error", "data-testid": "modal-error", "hidden": True},
        )
        self.announcer = h(
            "div",
            {
                "class": "sr-only",
                "aria-live": "polite",
                "aria-atomic": "true",
                "data-testid": "modal-announce",
            },
        )
        self.fields = h("div", {"class": "form-fields"})
        self.submit = button(submit_label, kind=submit_kind, testid="modal-submit", type_="submit")
        cancel = button(t("action.cancel"), testid="modal-cancel")
        self.form = h(
            "form",
            {"class": "modal-form", "novalidate": True},
            self.fields,
            self.error,
            self.announcer,
        )
        self.modal.body.appendChild(self.form)
        self.modal.footer.appendChild(cancel)
        self.modal.footer.appendChild(self.submit)
        # The submit button sits in the footer, outside the <form>: tie it with form=.
        form_id = f"form-{testid}"
        dom.set_attr(self.form, "id", form_id)
        dom.set_attr(self.submit, "form", form_id)
        self.field_errors: dict[str, Any] = {}
        self.labels: dict[str, str] = {}
        self.checks: dict[str, Check] = {}
        self.formats: dict[str, Callable[[str], str | None]] = {}
        self._hint_ids: dict[str, str] = {}
        self._filled: dict[str, str] = {}
        self._announced = ""
        self.action: Callable[[], Awaitable[Any]] | None = None
        self.busy = False
        scope = self.modal.scope
        scope.use(dom.on(cancel, "click", lambda _e: self.close()))
        scope.use(dom.on(self.form, "submit", self._on_submit))
        scope.use(dom.on(self.form, "focusout", self._on_focus_out))

    # -- fields ------------------------------------------------------------------------

    def add_field(
        self,
        name: str,
        label: str,
        control: Any,
        *,
        hint: str | None = None,
        check: Check | None = None,
    ) -> Any:
        """Append a labelled ``control`` named ``name`` with its error slot; ``check``
        runs on submit and when the field is left with a value."""
        base = f"{self.testid}-{name}"
        dom.set_attr(control, "id", base)
        if hint:
            self._hint_ids[name] = f"{base}-hint"
            dom.set_attr(control, "aria-describedby", f"{base}-hint")
        self.labels[name] = label
        if check is not None:
            self.checks[name] = check
        self.fields.appendChild(
            field(
                label,
                control,
                error_node=self.error_slot(name),
                hint=hint,
                hint_id=self._hint_ids.get(name),
            )
        )
        return control

    def _controls(self) -> dict[str, Any]:
        """Named controls in document order."""
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
        node = h(
            "span",
            {
                "class": "field-error",
                "id": f"{self.testid}-{name}-error",
                "hidden": True,
                "data-field-error": name,
            },
        )
        self.field_errors[name] = node
        return node

    def set_field_error(self, name: str, message: str | None) -> None:
        """Show (or clear) one field's message, with ``aria-invalid`` and
        ``aria-describedby`` on its control."""
        node = self.field_errors.get(name)
        if node is not None:
            dom.set_attr(node, "hidden", not message)
            dom.set_text(node, message or "")
        control = self._controls().get(name)
        if control is None:
            return
        dom.set_attr(control, "aria-invalid", "true" if message else None)
        described = [self._hint_ids.get(name), dom.attr(node, "id") if message else None]
        dom.set_attr(control, "aria-describedby", " ".join(d for d in described if d) or None)

    def show_error(self, text: str | None, per_field: Mapping[str, str] | None = None) -> None:
        dom.set_attr(self.error, "hidden", not text)
        dom.set_text(self.error, text or "")
        for name in self.field_errors:
            self.set_field_error(name, (per_field or {}).get(name))

    def check_all(self) -> dict[str, str]:
        """Every field's check on what the form holds now: ``{name: message}``."""
        controls = self._controls()
        errors: dict[str, str] = {}
        for name, check in self.checks.items():
            control = controls.get(name)
            if control is None:
                continue
            message = check(dom.input_value(control))
            if message:
                errors[name] = message
        return errors

    def _on_focus_out(self, e: Any) -> None:
        target = dom.opt(e.target)
        name = dom.attr(target, "name")
        check = self.checks.get(name) if name else None
        if target is None or name is None or check is None or self.modal.closed:
            return
        value = dom.input_value(target)
        # Tabbing through an empty field is not an error yet; fixing one clears it.
        if not value.strip() and dom.attr(target, "aria-invalid") != "true":
            return
        message = check(value)
        self.set_field_error(name, message)
        formatter = self.formats.get(name)
        formatted = formatter(value) if formatter is not None and message is None else None
        if formatted is not None and formatted != value:
            target.value = formatted  # what the server will store: 050-123-4567

    # -- submit ------------------------------------------------------------------------

    def set_busy(self, on: bool) -> None:
        self.busy = on
        dom.set_attr(self.submit, "disabled", on)
        dom.set_attr(self.form, "aria-busy", "true" if on else None)

    def _on_submit(self, e: Any) -> None:
        e.preventDefault()
        if self.busy or self.action is None:
            return
        errors = self.check_all()
        if errors:
            self.fail(t("forms.error.fix"), errors)
            return
        self.show_error(None)
        if dom.active_element() == self.submit:
            # A disabled button drops its focus to <body>: keep it in the dialog.
            dom.focus(self.modal.dialog)
        self.set_busy(True)
        self.ctx.run(self.modal.scope, self._run(self.action))

    async def _run(self, action: Callable[[], Awaitable[Any]]) -> None:
        try:
            await action()
        except Exception as exc:  # ApiError / NetworkError / a client-side check
            if self.modal.closed:
                return
            self.set_busy(False)
            self.fail(*describe_failure(exc))
            return
        self.close()

    def fail(self, text: str, per_field: Mapping[str, str]) -> None:
        """Show a failed submit: the messages, the focus on the first invalid field (the
        submit button when no field is to blame), and the errors read out."""
        self.show_error(text, per_field)
        invalid = [c for n, c in self._controls().items() if per_field.get(n)]
        if invalid:
            dom.focus(invalid[0])
        elif not self.busy:
            dom.focus(self.submit)
        parts = [text] + [
            t("forms.announce.field", label=self.labels.get(name, name), message=message)
            for name, message in per_field.items()
        ]
        self.announce(" ".join(p for p in parts if p))

    def announce(self, text: str) -> None:
        """Say ``text`` through the dialog's live region (a repeat of the same text is
        made different, or screen readers stay silent)."""
        last = self._announced
        if text and text == last.rstrip("\u00a0"):
            text = text if last.endswith("\u00a0") else text + "\u00a0"
        self._announced = text
        dom.set_text(self.announcer, text)

    def show(self) -> FormModal:
        self.modal.show()
        return self

    def close(self) -> None:
        self.modal.close()


def _field_messages(details: Any) -> dict[str, str]:
    """The server's field errors in the operator's language; the phone rule in the form's
    words (the server's ``invalid_phone`` is the same rule)."""
    out = field_errors(details)
    for item in details if isinstance(details, list) else ():
        loc = item.get("loc") if isinstance(item, Mapping) else None
        if isinstance(loc, list | tuple) and loc and item.get("type") == "invalid_phone":
            out[str(loc[-1])] = t("forms.phone.shape")
    return out


def describe_failure(exc: BaseException) -> tuple[str, dict[str, str]]:
    """``(the dialog's message, {field: message})`` for a failed request."""
    details = getattr(exc, "details", None)
    per_field = _field_messages(details)
    if per_field and getattr(exc, "status", None) == 422:
        return t("forms.error.fix"), per_field
    return error_message(exc), per_field


def _input(
    name: str,
    *,
    required: bool = False,
    type_: str = "text",
    autocomplete: str = "off",
    placeholder: str | None = None,
    value: str | None = None,
) -> Any:
    return h(
        "input",
        {
            "name": name,
            "type": type_,
            "required": required,
            "autocomplete": autocomplete,
            "placeholder": placeholder,
            "value": value,
            "dir": "ltr" if type_ == "tel" else "auto",
            "data-testid": f"field-{name}",
        },
    )


def _phone_input(value: str | None = None) -> Any:
    # inputmode=tel: the phone keypad on a phone; dir=ltr: +972 stays on the left in Hebrew.
    control = _input(
        "phone", required=True, type_="tel", placeholder=PHONE_PLACEHOLDER, value=value
    )
    dom.set_attr(control, "inputmode", "tel")
    return control


def _notes(value: str | None = None) -> Any:
    node = h("textarea", {"name": "notes", "rows": 3, "dir": "auto", "data-testid": "field-notes"})
    if value:
        node.value = value
    return node


def _order_fields(fm: FormModal, order: Mapping[str, Any] | None, *, phone_check: Check) -> None:
    """Customer, phone, address and notes, prefilled from ``order`` (the edit dialog)."""

    def text(name: str) -> str | None:
        value = order.get(name) if order is not None else None
        return value if isinstance(value, str) else None

    fm.add_field(
        "customer",
        t("forms.field.customer"),
        _input("customer", required=True, value=text("customer")),
        check=required,
    )
    fm.add_field(
        "phone",
        t("forms.field.phone"),
        _phone_input(text("phone")),
        hint=t("forms.phone.hint", example=PHONE_PLACEHOLDER),
        check=phone_check,
    )
    fm.formats["phone"] = format_phone
    fm.add_field(
        "address",
        t("forms.field.address"),
        _input("address", required=True, value=text("address")),
        check=required,
    )
    fm.add_field(
        "notes", t("forms.field.notes"), _notes(text("notes")), hint=t("forms.optional")
    )


def create_order_modal(ctx: Ctx, parent: Scope) -> FormModal:
    fm = FormModal(
        ctx,
        parent,
        title=t("forms.create.title"),
        testid="create-order-modal",
        submit_label=t("forms.create.submit"),
    )
    _order_fields(fm, None, phone_check=phone_error)

    async def action() -> None:
        values = {k: v.strip() for k, v in fm.values().items()}
        body: dict[str, Any] = {k: values[k] for k in ("customer", "phone", "address")}
        if values.get("notes"):
            body["notes"] = values["notes"]
        created = await ctx.api.create_order(body)
        # The viewer's own change toasts even while others' events are muted (the event may
        # beat this answer; the id is unknown before it).
        if isinstance(created, dict):
            ctx.toasts.mark_own(created.get("id"))

    fm.action = action
    return fm.show()


def edit_modal(ctx: Ctx, parent: Scope, order: dict[str, Any]) -> FormModal:
    """Edit an order's customer, phone, address and notes (``PATCH /v1/orders/{id}``).

    Only changed fields are sent, and the phone is checked only when changed: an order
    written before the phone rule keeps its number through an edit of its address. The
    row changes when the server's ``order.updated`` event arrives; nothing changed closes
    the dialog without a request."""
    fm = FormModal(
        ctx,
        parent,
        title=t("forms.edit.title", ref=order_ref(order.get("id"))),
        testid="edit-order-modal",
        submit_label=t("forms.edit.submit"),
    )
    before = {
        name: value.strip() if isinstance(value := order.get(name), str) else ""
        for name in ("customer", "phone", "address", "notes")
    }

    def phone_check(value: str) -> str | None:
        return None if value.strip() == before["phone"] else phone_error(value)

    _order_fields(fm, order, phone_check=phone_check)

    async def action() -> None:
        now = {k: v.strip() for k, v in fm.values().items()}
        changes: dict[str, Any] = {
            name: now[name] or (None if name == "notes" else "")
            for name in before
            if name in now and now[name] != before[name]
        }
        if changes:
            ctx.toasts.mark_own(order["id"])  # before the call: its event may beat the answer
            await ctx.api.update_order(order["id"], changes)

    fm.action = action
    return fm.show()


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
        title=t("forms.assign.title", ref=order_ref(order.get("id"))),
        testid="assign-modal",
        submit_label=t("forms.assign.submit"),
    )
    fm.fields.appendChild(_order_summary(order))
    select = h(
        "select",
        {"name": "courier_id", "data-testid": "field-courier", "disabled": True},
        h("option", {"value": ""}, t("forms.assign.loading")),
    )
    fm.add_field(
        "courier_id",
        t("forms.assign.courier"),
        select,
        check=lambda v: None if v else t("forms.assign.required"),
    )

    async def load() -> None:
        try:
            couriers = await ctx.load_couriers()
        except Exception as exc:
            fm.show_error(error_message(exc))
            fm.announce(error_message(exc))
            return
        options = [h("option", {"value": ""}, t("forms.assign.choose"))]
        for cid, c in couriers.items():
            name = display_text(c.get("name") or cid, NAME_LIMIT)
            label = name if c.get("active", True) else t("forms.assign.inactive", name=name)
            options.append(
                h("option", {"value": cid, "selected": cid == order.get("courier_id")}, label)
            )
        dom.replace_children(select, options)
        dom.set_attr(select, "disabled", False)
        fm.refill()
        # The select was disabled when the dialog opened, so focus went to a button: move
        # it to the choice, unless the user has already moved it inside the dialog.
        if not dom.contains(select, dom.active_element()):
            dom.focus(select)

    ctx.run(fm.modal.scope, load())

    async def action() -> None:
        raw = dom.input_value(select)  # not empty: the field's check ran first
        # isascii: "²".isdigit() is True and int("²") raises.
        courier = int(raw) if raw.isascii() and raw.isdigit() else raw
        ctx.toasts.mark_own(order["id"])
        await ctx.api.assign(order["id"], courier)

    fm.action = action
    return fm.show()


def status_modal(ctx: Ctx, parent: Scope, order: dict[str, Any]) -> FormModal:
    fm = FormModal(
        ctx,
        parent,
        title=t("forms.status.title", ref=order_ref(order.get("id"))),
        testid="status-modal",
        submit_label=t("forms.status.submit"),
    )
    fm.fields.appendChild(_order_summary(order))
    current = str(order.get("status") or "")
    # The natural next steps first; the others stay available (the server has the last
    # word and its 409 is shown here).
    preferred = list(NEXT_STATUS.get(current, ()))
    others = [s for s in STATUSES if s != current and s not in preferred]
    select = h(
        "select",
        {"name": "status", "data-testid": "field-status"},
        [h("option", {"value": s}, status_label(s)) for s in preferred],
        h(
            "optgroup",
            {"label": t("forms.status.other")},
            [h("option", {"value": s}, status_label(s)) for s in others],
        )
        if others
        else None,
    )
    fm.add_field("status", t("forms.status.new"), select)

    async def action() -> None:
        ctx.toasts.mark_own(order["id"])
        await ctx.api.set_status(order["id"], dom.input_value(select))

    fm.action = action
    return fm.show()


def delete_modal(ctx: Ctx, parent: Scope, order: dict[str, Any]) -> FormModal:
    fm = FormModal(
        ctx,
        parent,
        title=t("forms.delete.title", ref=order_ref(order.get("id"))),
        testid="delete-modal",
        submit_label=t("forms.delete.submit"),
        submit_kind="danger",
    )
    fm.fields.appendChild(_order_summary(order))
    fm.fields.appendChild(h("p", {"class": "muted"}, t("forms.delete.warning")))

    async def action() -> None:
        ctx.toasts.mark_own(order["id"])
        await ctx.api.delete_order(order["id"])

    fm.action = action
    return fm.show()


__all__ = [
    "FormModal",
    "assign_modal",
    "create_order_modal",
    "delete_modal",
    "describe_failure",
    "edit_modal",
    "phone_error",
    "status_modal",
]
