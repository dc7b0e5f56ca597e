"""(being written)"""

from flask import Blueprint

bp = Blueprint("policies", __name__)
bp.add_url_rule("/policies", "index", lambda: "…")
