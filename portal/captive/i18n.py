"""The portal's words in Bahasa Indonesia (the default) and English (pure).

Plain, friendly language a citizen understands; `t(key, lang, **params)` fills `{name}` fields.
"""

from __future__ import annotations

DEFAULT_LANG = "id"
LANGS: tuple[str, ...] = ("id", "en")

CATALOG: dict[str, dict[str, str]] = {
    "wifi_title": {"id": "WiFi Gratis {regency}", "en": "Free WiFi – {regency}"},
    "wifi_generic": {"id": "WiFi Gratis", "en": "Free WiFi"},
    "site_line": {
        "id": "Lokasi: {name}, Kecamatan {kecamatan}",
        "en": "Location: {name}, {kecamatan} district",
    },
    "switch_lang": {"id": "English", "en": "Bahasa Indonesia"},
    "welcome_lead": {
        "id": "Selamat datang! Tonton video singkat ini, lalu ketuk Lanjutkan.",
        "en": "Welcome! Watch this short video, then tap Continue.",
    },
    "video_hint": {
        "id": "Video tidak berputar? Ketuk videonya.",
        "en": "Video not playing? Tap it.",
    },
    "no_video": {
        "id": "Tunggu sebentar, lalu ketuk Lanjutkan.",
        "en": "Please wait a moment, then tap Continue.",
    },
    "unlock_in": {"id": "Tombol aktif dalam {n} detik", "en": "The button unlocks in {n} seconds"},
    "unlock_ready": {"id": "Silakan ketuk Lanjutkan", "en": "You can tap Continue now"},
    "unlock_fail": {
        "id": "Koneksi ke portal terganggu. Ketuk Lanjutkan; bila gagal, muat ulang halaman ini.",
        "en": "The connection to the portal is unsteady. Tap Continue; if it fails, reload.",
    },
    "continue": {"id": "Lanjutkan", "en": "Continue"},
    "privacy": {
        "id": "Kami hanya mencatat alamat perangkat dan jumlah data yang dipakai, "
        "untuk mengelola jaringan, dan menghapusnya setelah {days} hari.",
        "en": "We only record your device's address and how much data it uses, to run the "
        "network, and delete it after {days} days.",
    },
    "done_title": {"id": "Anda sudah terhubung", "en": "You are connected"},
    "done_lead": {
        "id": "Internet gratis aktif selama {minutes} menit. Selamat berselancar!",
        "en": "Free internet is on for {minutes} minutes. Enjoy!",
    },
    "news_link": {"id": "Baca berita {regency}", "en": "Read the news of {regency}"},
    "status_link": {"id": "Lihat sisa waktu", "en": "See the time left"},
    "status_title": {"id": "Status koneksi", "en": "Connection status"},
    "time_left": {"id": "Sisa waktu", "en": "Time left"},
    "time_unit": {"id": "jam:menit", "en": "h:mm"},
    "data_used": {"id": "Data terpakai", "en": "Data used"},
    "logout": {"id": "Keluar", "en": "Log out"},
    "not_connected": {"id": "Anda belum terhubung.", "en": "You are not connected yet."},
    "back_to_start": {"id": "Kembali ke halaman awal", "en": "Back to the start page"},
    "logged_out_title": {"id": "Anda telah keluar", "en": "You have logged out"},
    "logged_out_lead": {
        "id": "Internet untuk perangkat ini sudah dihentikan. Terima kasih!",
        "en": "Internet access for this device has ended. Thank you!",
    },
    "logged_out_none": {
        "id": "Perangkat ini sedang tidak terhubung.",
        "en": "This device was not connected.",
    },
    "connect_again": {"id": "Sambungkan lagi", "en": "Connect again"},
    "too_early_title": {"id": "Video belum selesai diputar", "en": "The video has not finished"},
    "too_early_lead": {
        "id": "Tunggu {n} detik lagi, lalu ketuk Coba lagi.",
        "en": "Wait {n} more seconds, then tap Try again.",
    },
    "try_again": {"id": "Coba lagi", "en": "Try again"},
    "token_invalid": {
        "id": "Permintaan tidak sah. Silakan mulai lagi dari halaman awal.",
        "en": "This request is not valid. Please start again from the start page.",
    },
    "token_expired": {
        "id": "Halaman ini sudah kedaluwarsa. Silakan tonton videonya lagi.",
        "en": "This page has expired. Please watch the video again.",
    },
    "unknown_client": {
        "id": "Perangkat Anda belum dikenali jaringan. Putuskan WiFi, sambungkan lagi, "
        "lalu coba lagi.",
        "en": "The network does not recognise your device yet. Disconnect from the WiFi, "
        "connect again and retry.",
    },
    "radius_user": {"id": "Nama pengguna", "en": "Username"},
    "radius_password": {"id": "Kata sandi", "en": "Password"},
    "radius_submit": {"id": "Masuk", "en": "Sign in"},
    "radius_rejected": {
        "id": "Nama pengguna atau kata sandi salah.",
        "en": "Wrong username or password.",
    },
    "radius_down": {
        "id": "Server akun sedang tidak menjawab. Silakan coba lagi nanti.",
        "en": "The account server does not answer. Please try again later.",
    },
    "otp_label": {"id": "Atau masuk dengan nomor HP:", "en": "Or sign in with your phone number:"},
    "otp_send": {"id": "Kirim kode", "en": "Send code"},
    "otp_sent": {
        "id": "Kode 6 angka sudah dikirim ke {to}.",
        "en": "A 6-digit code was sent to {to}.",
    },
    "otp_code_label": {"id": "Masukkan kode:", "en": "Enter the code:"},
    "otp_verify": {"id": "Masuk", "en": "Sign in"},
    "otp_wrong": {"id": "Kode salah. Coba lagi.", "en": "Wrong code. Try again."},
    "otp_expired": {
        "id": "Kode sudah kedaluwarsa. Minta kode baru.",
        "en": "The code has expired. Ask for a new one.",
    },
    "otp_locked": {
        "id": "Terlalu banyak percobaan. Minta kode baru.",
        "en": "Too many tries. Ask for a new code.",
    },
    "otp_too_many": {
        "id": "Terlalu banyak kode dikirim ke nomor ini. Coba lagi 10 menit lagi.",
        "en": "Too many codes for this number. Try again in 10 minutes.",
    },
    "phone_invalid": {
        "id": "Nomor HP tidak valid. Gunakan nomor Indonesia, misalnya 0812 3456 7890.",
        "en": "Not a valid number. Use an Indonesian mobile number, e.g. 0812 3456 7890.",
    },
    "otp_not_sent": {
        "id": "Kode tidak dapat dikirim saat ini. Silakan coba lagi nanti.",
        "en": "The code could not be sent right now. Please try again later.",
    },
    "voucher_label": {"id": "Punya kode voucher? Ketik di sini:", "en": "Have a voucher code?"},
    "voucher_submit": {"id": "Pakai voucher", "en": "Use voucher"},
    "voucher_unknown": {
        "id": "Kode voucher tidak dikenal untuk lokasi ini. Periksa lagi kodenya.",
        "en": "This voucher code is not known here. Please check it.",
    },
    "voucher_typo": {
        "id": "Kode voucher salah ketik: kode berisi 10 huruf dan angka seperti tercetak.",
        "en": "The voucher code has a typo: it has 10 letters and digits as printed.",
    },
    "voucher_used": {
        "id": "Waktu voucher ini sudah habis.",
        "en": "This voucher's time is used up.",
    },
    "allowance_used": {
        "id": "Jatah waktu internet perangkat ini untuk hari ini sudah habis. Silakan kembali "
        "besok.",
        "en": "This device has used its internet time for today. Please come back tomorrow.",
    },
    "not_hotspot": {
        "id": "Halaman ini hanya untuk perangkat yang tersambung ke WiFi Gratis.",
        "en": "This page is only for devices connected to the free WiFi.",
    },
    "unavailable": {
        "id": "Layanan sedang ada gangguan. Silakan coba lagi sebentar lagi.",
        "en": "The service has a problem right now. Please try again in a moment.",
    },
    "blocked_title": {"id": "Situs diblokir", "en": "Site blocked"},
    "blocked_lead": {
        "id": "{name} tidak dapat dibuka dari jaringan kantor ini.",
        "en": "{name} cannot be opened from this office network.",
    },
    "blocked_category": {"id": "Kategori: {category}", "en": "Category: {category}"},
    "blocked_until": {
        "id": "Dapat dibuka lagi mulai pukul {until} ({tz}).",
        "en": "It opens again at {until} ({tz}).",
    },
    "blocked_always": {
        "id": "Situs ini diblokir sepanjang waktu oleh kebijakan instansi Anda.",
        "en": "Your agency's policy blocks this site at all times.",
    },
    "blocked_reason": {"id": "Kebijakan: {policy}", "en": "Policy: {policy}"},
    "blocked_no_longer": {
        "id": "Situs ini tidak diblokir lagi. Muat ulang halaman dalam beberapa detik.",
        "en": "This site is no longer blocked. Reload the page in a few seconds.",
    },
    "blocked_unknown": {
        "id": "Situs ini diblokir oleh kebijakan jaringan instansi Anda.",
        "en": "Your agency's network policy blocks this site.",
    },
    "blocked_help": {
        "id": "Perlu untuk pekerjaan? Hubungi admin jaringan Diskominfo, sebutkan alamat situsnya.",
        "en": "Need it for work? Contact Diskominfo's network admin and give the site's address.",
    },
    "category_streaming-video": {"id": "streaming video", "en": "video streaming"},
    "category_drakor": {"id": "streaming drama/film Korea", "en": "Korean drama/film streaming"},
    "category_social-media": {"id": "media sosial", "en": "social media"},
    "category_games": {"id": "game online", "en": "online games"},
    "category_gambling": {"id": "judi online", "en": "online gambling"},
    "category_adult": {"id": "konten dewasa", "en": "adult content"},
    "category_doh": {"id": "DNS terenkripsi pihak luar", "en": "outside encrypted DNS"},
    "error_title": {"id": "Terjadi kesalahan", "en": "Something went wrong"},
    "error_400": {"id": "Permintaan tidak sah", "en": "Bad request"},
    "error_403": {"id": "Akses ditolak", "en": "Access denied"},
    "error_404": {"id": "Halaman tidak ditemukan", "en": "Page not found"},
    "error_405": {"id": "Permintaan tidak didukung", "en": "Request not supported"},
    "error_413": {"id": "Data yang dikirim terlalu besar", "en": "Too much data sent"},
    "error_429": {"id": "Terlalu banyak permintaan", "en": "Too many requests"},
    "error_500": {"id": "Terjadi kesalahan", "en": "Something went wrong"},
    "error_503": {"id": "Layanan sedang tidak tersedia", "en": "Service unavailable"},
    "error_lead_404": {
        "id": "Alamat yang Anda buka tidak ada di portal ini.",
        "en": "The address you opened does not exist on this portal.",
    },
    "error_lead_405": {
        "id": "Silakan buka halaman awal portal.",
        "en": "Please open the portal's start page.",
    },
    "error_lead_413": {
        "id": "Silakan kembali ke halaman awal dan coba lagi.",
        "en": "Please go back to the start page and try again.",
    },
    "error_lead_429": {
        "id": "Tunggu sebentar, lalu coba lagi.",
        "en": "Please wait a moment, then try again.",
    },
    "error_lead_500": {
        "id": "Maaf, ada masalah di portal. Silakan coba lagi.",
        "en": "Sorry, the portal had a problem. Please try again.",
    },
    "error_lead_other": {
        "id": "Silakan kembali ke halaman awal dan coba lagi.",
        "en": "Please go back to the start page and try again.",
    },
}


def lang_from(value: str | None) -> str:
    """The language a `lang` parameter asks for: a known one, else the default ("id")."""
    return value if value in LANGS else DEFAULT_LANG


def t(key: str, lang: str, **params: object) -> str:
    """The text for `key` in `lang` (the default language if unknown), with `params` filled in."""
    entry = CATALOG[key]
    text = entry.get(lang) or entry[DEFAULT_LANG]
    return text.format(**params) if params else text
