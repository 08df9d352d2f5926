"""Messages of intake (reporter API, portal, evidence, e-mail and WhatsApp channels).

The wire codes stay what they were; an entry named differently from its wire
code is looked up with ``text=`` (``HttpError(404, "not_found", text="unknown_receipt")``).
Entries of the e-mail channel are SMTP reply texts (ASCII, one line), those
of WhatsApp chat replies. The portal's page texts are in its gettext catalogue.
"""

from __future__ import annotations

MESSAGES: dict[str, tuple[str, str]] = {
    # registration, status and messages (reporter API, portal, channels)
    "unavailable": ("Layanan sedang sibuk. Kirim ulang laporan yang sama (dengan Idempotency-Key yang sama).",
                    "The service is busy. Send the same report again (with the same Idempotency-Key)."),
    "idempotency_key_reused": ("Idempotency-Key ini sudah dipakai untuk laporan lain.",
                               "This Idempotency-Key was already used for a different report."),
    "case_closed": ("Kasus sudah ditutup.", "The case is closed."),
    "report_fields_invalid": ("Periksa kembali isian laporan.", "Please check the report fields."),
    "idempotency_key_format": ("Idempotency-Key harus 16-128 karakter huruf, angka, '-' atau '_'.",
                               "Idempotency-Key must be 16-128 letters, digits, '-' or '_'."),
    "unknown_receipt": ("Tanda terima tidak dikenal.", "Unknown receipt."),
    "penerima_only": ("Hanya petugas penerima yang dapat mencatat laporan.",
                      "Only intake officers (penerima) can record reports."),
    "keep_receipt": ("Simpan tanda terima ini. Tanda terima tidak dapat dipulihkan jika hilang.",
                     "Keep this receipt. It cannot be recovered if lost."),
    "message_received": ("Pesan Anda telah diterima Inspektorat.", "The Inspektorat received your message."),
    # evidence uploads
    "evidence_refused": ("Berkas bukti tidak dapat diterima; lihat keterangan tiap berkas. Tidak ada yang disimpan.",
                         "The evidence could not be accepted; see the note for each file. Nothing was stored."),
    "upload_too_large": ("Unggahan melebihi batas {mb} MB.", "The upload exceeds the limit of {mb} MB."),
    "multipart_only": ("Kirim bukti sebagai multipart/form-data.", "Send evidence as multipart/form-data."),
    "malformed_multipart": ("Data unggahan tidak dapat dibaca.", "The upload cannot be read."),
    "case_closed_evidence": ("Kasus sudah ditutup; bukti tidak dapat ditambahkan.",
                             "The case is closed; evidence can no longer be added."),
    "case_evidence_quota": ("Kasus ini sudah mencapai batas jumlah atau ukuran bukti.",
                            "This case has reached its limit on the number or size of evidence files."),
    "evidence_accepted": ("Bukti telah diterima Inspektorat. Metadata (lokasi, penulis, perangkat) dihapus dari "
                          "salinan yang dibaca petugas; berkas asli disimpan tersegel.",
                          "The Inspektorat received your evidence. Metadata (location, author, device) was removed "
                          "from the copy officers read; the original is kept sealed."),
    # evidence refusals, "refusal_<code>" ({n}: the file's position, 1-based; never its name or content)
    "refusal_no_file": ("Lampirkan minimal satu berkas.", "Attach at least one file."),
    "refusal_too_many_files": ("Paling banyak {max} berkas sekali unggah.", "At most {max} files per upload."),
    "refusal_request_too_large": ("Jumlah ukuran berkas melebihi batas {mb} MB sekali unggah.",
                                   "The files together exceed the limit of {mb} MB per upload."),
    "refusal_file_too_large": ("Berkas ke-{n} melebihi batas {mb} MB.", "File {n} exceeds the limit of {mb} MB."),
    "refusal_empty_file": ("Berkas ke-{n} kosong.", "File {n} is empty."),
    "refusal_unsupported_type": ("Jenis berkas ke-{n} tidak diizinkan. Yang diterima: foto JPEG/PNG, PDF, "
                                  "Word/Excel/PowerPoint (DOCX/XLSX/PPTX), teks biasa (UTF-8), audio MP3/M4A.",
                                  "File {n} is of a type that is not accepted. Accepted: JPEG/PNG photos, PDF, "
                                  "Word/Excel/PowerPoint (DOCX/XLSX/PPTX), plain text (UTF-8), MP3/M4A audio."),
    "refusal_macro_document": ("Berkas ke-{n} berisi makro; simpan ulang sebagai DOCX/XLSX/PPTX tanpa makro.",
                                "File {n} contains macros; save it again as DOCX/XLSX/PPTX without macros."),
    "refusal_zip_bomb": ("Berkas ke-{n} terkompresi secara tidak wajar dan ditolak.",
                          "File {n} is compressed abnormally (a possible zip bomb) and was refused."),
    "refusal_pixel_flood": ("Gambar ke-{n} terlalu besar (lebih dari {mp} megapiksel).",
                             "Image {n} is too large (over {mp} megapixels)."),
    "refusal_encrypted_file": ("Berkas ke-{n} terkunci kata sandi; kirim tanpa kata sandi.",
                                "File {n} is password-protected; send it without a password."),
    "refusal_corrupt_file": ("Berkas ke-{n} rusak atau tidak dapat dibaca.", "File {n} is damaged or unreadable."),
    # channels (e-mail, WhatsApp): each attachment stands alone, so the upload limits are per file there
    "refusal_over_report_limit": ("Berkas ke-{n} melampaui batas {max} berkas atau {mb} MB per laporan.",
                                   "File {n} goes over the limit of {max} files or {mb} MB per report."),
    "refusal_evidence_quota": ("Berkas ke-{n} melampaui batas jumlah atau ukuran bukti kasus ini.",
                                 "File {n} goes over this case's limit on the number or size of evidence files."),
    # e-mail: SMTP reply texts (ASCII, one line)
    "smtp_line_too_long": ("Baris terlalu panjang", "Line too long"),
    "smtp_timeout": ("Waktu habis", "Timeout, closing connection"),
    "smtp_session_failed": ("Kesalahan sementara", "Temporary failure, closing connection"),
    "smtp_too_many_errors": ("Terlalu banyak kesalahan", "Too many errors, closing connection"),
    "smtp_cannot_vrfy": ("Tidak dapat diverifikasi", "Cannot VRFY user"),
    "smtp_not_implemented": ("Tidak didukung", "Command not implemented"),
    "smtp_unrecognized": ("Perintah tidak dikenal", "Command unrecognized"),
    "smtp_syntax_hello": ("Sintaks: {verb} domain", "Syntax: {verb} domain"),
    "smtp_syntax_mail": ("Sintaks: MAIL FROM:<alamat>", "Syntax: MAIL FROM:<address>"),
    "smtp_syntax_rcpt": ("Sintaks: RCPT TO:<alamat>", "Syntax: RCPT TO:<address>"),
    "smtp_bye": ("Sampai jumpa", "Bye"),
    "smtp_ehlo_first": ("Kirim EHLO dahulu", "Send EHLO first"),
    "smtp_nested_mail": ("Transaksi sudah dimulai", "Nested MAIL command"),
    "smtp_mail_first": ("Kirim MAIL dahulu", "Need MAIL command"),
    "smtp_too_large": ("Pesan terlalu besar", "Message size exceeds fixed limit"),
    "smtp_unsupported_parameter": ("Parameter {verb} tidak dikenal", "Unsupported {verb} parameter"),
    "smtp_unknown_recipient": ("Alamat tidak dikenal", "Unknown recipient; this server accepts only WBS addresses"),
    "smtp_one_tenant": ("Satu Inspektorat per pesan", "One Inspektorat per transaction, send again"),
    "smtp_no_recipients": ("Tidak ada penerima yang sah", "No valid recipients"),
    "smtp_start_data": ("Akhiri dengan <CRLF>.<CRLF>", "End data with <CR><LF>.<CR><LF>"),
    "smtp_busy": ("Sedang sibuk", "Too busy, try again later"),
    "smtp_temporary": ("Coba lagi nanti", "Temporary failure, try again later"),
    "smtp_shutting_down": ("Layanan berhenti sementara", "Service shutting down, try again later"),
    "smtp_discarded": ("Pesan otomatis tidak diproses", "Automatic message accepted and dropped"),
    "smtp_unknown_tenant": ("Inspektorat tidak terdaftar", "No Inspektorat registered under this address"),
    "smtp_empty_report": ("Laporan kosong: tulis apa yang terjadi (minimal 10 karakter)",
                          "Empty report: describe what happened (at least 10 characters)"),
    "smtp_unreadable": ("Laporan tidak dapat dibaca", "The report could not be read"),
    "smtp_bad_sender": ("Alamat pengirim tidak dapat dipakai untuk membalas",
                        "The sender address cannot be used for a reply"),
    "smtp_key_reused": ("Message-ID ini sudah dipakai untuk laporan lain",
                        "This Message-ID was already used for a different report"),
    # e-mail: notes in the reply that carries the receipt (lines wrapped for a mail reader)
    "mail_note_where_when": ("Tempat dan/atau waktu kejadian tidak kami temukan dalam e-mail Anda. Tambahkan\n"
                             "melalui halaman status laporan jika Anda mengetahuinya.",
                             "We did not find the place and/or time of the events in your e-mail. Add them\n"
                             "on the report status page if you know them."),
    "mail_note_recorded": ("{count} lampiran tercatat sebagai bukti. Metadata (lokasi, penulis, perangkat)\n"
                           "dihapus dari salinan yang dibaca petugas; berkas asli disimpan tersegel.",
                           "{count} attachment(s) were recorded as evidence. Metadata (location, author,\n"
                           "device) was removed from the copy officers read; the original is kept sealed."),
    "mail_note_not_recorded": ("Lampiran berikut TIDAK tercatat (laporan tetap tercatat); kirim ulang dalam bentuk "
                               "lain\nmelalui halaman status laporan:",
                               "These attachments were NOT recorded (the report was); send them again in another "
                               "form\non the report status page:"),
    "mail_note_truncated": ("Laporan Anda melebihi batas panjang; bagian akhirnya tidak tercatat. Kirim sisanya\n"
                            "sebagai pesan melalui halaman status laporan.",
                            "Your report exceeded the length limit; its end was not recorded. Send the rest\n"
                            "as a message on the report status page."),
    # WhatsApp: the webhook's HTTP answers
    "whatsapp_off": ("Kanal WhatsApp tidak aktif.", "The WhatsApp channel is off."),
    "whatsapp_verify_token": ("Token verifikasi salah.", "Wrong verification token."),
    "whatsapp_signature_required": ("Tanda tangan X-Hub-Signature-256 wajib.", "X-Hub-Signature-256 is required."),
    "whatsapp_bad_signature": ("Tanda tangan tidak cocok.", "The signature does not match."),
    "whatsapp_unknown_format": ("Format webhook tidak dikenal.", "Unrecognised webhook format."),
    "whatsapp_retry_later": ("Layanan sedang sibuk; kirim ulang nanti.", "The service is busy; retry later."),
    # WhatsApp: chat replies when something cannot go on
    "wa_expired": ("Percakapan sebelumnya berakhir karena tidak aktif.",
                   "Your previous conversation expired after inactivity."),
    "wa_text_only": ("Mohon kirim pesan teks, foto atau dokumen. Bukti juga dapat diunggah di halaman status laporan.",
                     "Please send text, a photo or a document. Evidence can also be uploaded on the report status "
                     "page."),
    "wa_media_unavailable": ("Lampiran ke-{n} tidak dapat diambil dari WhatsApp; kirim ulang.",
                             "Attachment {n} could not be fetched from WhatsApp; send it again."),
    "wa_invalid_choice": ("Pilihan tidak valid. Balas dengan nomor dari daftar.",
                          "Invalid choice. Reply with a number from the list."),
    "wa_unavailable_choice": ("Inspektorat atau kategori yang dipilih tidak lagi tersedia. "
                              "Kirim pesan apa saja untuk mulai lagi.",
                              "The chosen Inspektorat or category is no longer available. "
                              "Send any message to start again."),
    "wa_not_accepted": ("Laporan tidak dapat diterima. Kirim pesan apa saja untuk mulai lagi.",
                        "The report could not be accepted. Send any message to start again."),
    "wa_attachments_recorded": ("{count} lampiran tercatat sebagai bukti; metadata (lokasi, penulis, perangkat) "
                                "dihapus dari salinan yang dibaca petugas.",
                                "{count} attachment(s) recorded as evidence; metadata (location, author, device) "
                                "was removed from the copy officers read."),
    "wa_attachments_not_recorded": ("Lampiran berikut TIDAK tercatat (laporan tetap tercatat):",
                                    "These attachments were NOT recorded (the report was):"),
}
