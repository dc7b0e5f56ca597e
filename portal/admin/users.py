"""(being written)"""

from flask import Blueprint

bp = Blueprint("users", __name__)
bp.add_url_rule("/users", "index", lambda: "…")
