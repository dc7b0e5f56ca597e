"""(being written)"""

from flask import Blueprint

bp = Blueprint("audit", __name__)
bp.add_url_rule("/audit", "index", lambda: "…")
