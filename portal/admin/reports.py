"""(being written)"""

from flask import Blueprint

bp = Blueprint("reports", __name__)
bp.add_url_rule("/reports", "index", lambda: "…")
