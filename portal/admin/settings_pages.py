"""(being written)"""

from flask import Blueprint

bp = Blueprint("settings_pages", __name__)
bp.add_url_rule("/ekspor", "export", lambda: "…")
