"""The local mailbox (`/_mailbox` on the plain http pages port): every mail the tenant "sent",
newest first, one per address (`?to=<address>` lists that address's mail), the code large.

No admin token: it is a local developer's inbox, on a port the tenant binds to loopback.
Tests read the same mail through the admin API (`GET /_admin/mail?to=`).
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, render_template, request
from flask.typing import ResponseReturnValue

from devtenant.responses import current_tenant

bp = Blueprint("inbox", __name__)


@bp.app_template_filter("mailtime")
def mail_time(value: float) -> str:
    return dt.datetime.fromtimestamp(value, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@bp.get("/_mailbox")
def mailbox() -> ResponseReturnValue:
    if request.scheme != "http":  # the pages port only
        abort(404)
    mailer = current_tenant().mailer
    to = request.args.get("to", "").strip().lower()
    mails = mailer.mail_to(to) if to else mailer.newest_per_address()
    return render_template("mailbox.html", mails=mails, to=to)
