"""The printable receipt slip a penerima hands to a walk-in reporter.

Rendered once, in the response that created the receipt (no copy of the
receipt exists afterwards). Self-contained HTML: no script, no outside asset.
"""

from __future__ import annotations

from html import escape

from werkzeug.wrappers import Response

from peluit_common.web import SECURITY_HEADERS

from .application import Registration

TEMPLATE = """<!doctype html>
<html lang="id"><head><meta charset="utf-8"><title>Tanda Terima Laporan / Report Receipt</title>
<style>
body {{ font-family: sans-serif; max-width: 40em; margin: 2em auto; }}
.receipt {{ font: bold 2em monospace; letter-spacing: .1em; border: 2px dashed #000; padding: .5em; text-align: center; }}
@media print {{ .noprint {{ display: none; }} }}
</style></head>
<body>
<h1>Tanda Terima Laporan Pengaduan<br><small>Report receipt</small></h1>
<p>Nomor registrasi / Registration number: <strong>{number}</strong></p>
<p>Tanda terima / Receipt:</p>
<p class="receipt">{receipt}</p>
<p><strong>Simpan tanda terima ini dan jangan berikan kepada siapa pun.</strong> Tanda terima adalah satu-satunya cara
untuk melihat perkembangan laporan dan menjawab pertanyaan Inspektorat. Tanda terima tidak dapat dipulihkan jika
hilang. Identitas pelapor dirahasiakan.</p>
<p><em>Keep this receipt and show it to no one. It is the only way to follow the report and to answer the
Inspektorat's questions. It cannot be recovered if lost. The reporter's identity is kept confidential.</em></p>
</body></html>
"""


def printable_slip(registration: Registration) -> Response:
    html = TEMPLATE.format(number=escape(registration.registration_number), receipt=escape(registration.receipt))
    headers = {**SECURITY_HEADERS, "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}
    return Response(html, status=201, content_type="text/html; charset=utf-8", headers=headers)
