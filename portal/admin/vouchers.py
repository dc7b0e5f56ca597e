"""(being written)"""

from flask import Blueprint

bp = Blueprint("vouchers", __name__)
bp.add_url_rule("/vouchers", "index", lambda: "…")
