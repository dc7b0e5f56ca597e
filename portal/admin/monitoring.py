"""(being written)"""

from flask import Blueprint

bp = Blueprint("monitoring", __name__)
bp.add_url_rule("/monitoring", "index", lambda: "…")
