"""(being written)"""

from flask import Blueprint

bp = Blueprint("opds", __name__)
bp.add_url_rule("/opds", "index", lambda: "…")
