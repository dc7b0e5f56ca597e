"""(being written)"""

from flask import Blueprint

bp = Blueprint("lists", __name__)
bp.add_url_rule("/lists", "index", lambda: "…")
