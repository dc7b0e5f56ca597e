"""(being written)"""

from flask import Blueprint

bp = Blueprint("clients", __name__)
bp.add_url_rule("/clients", "index", lambda: "…")
