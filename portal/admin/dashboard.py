"""(being written) The dashboard."""

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue

from portal.admin.session import requires

bp = Blueprint("dashboard", __name__)


@bp.route("/")
@requires("view")
def index() -> ResponseReturnValue:
    return render_template("admin/message.html", title="Dasbor", message="…")
