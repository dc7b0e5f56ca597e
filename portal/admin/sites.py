"""(being written)"""

from flask import Blueprint

bp = Blueprint("sites", __name__)
bp.add_url_rule("/sites", "index", lambda: "…")
