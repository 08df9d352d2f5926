"""Messages of the identity vault: the contact relay's e-mails to reporters
(``relay_<template>_subject`` and ``_body`` for every ``peluit_contracts.relay``
template). They never carry case content: a reporter's mailbox may be read by
someone else."""

from __future__ import annotations

MESSAGES: dict[str, tuple[str, str]] = {
    "relay_new_message_subject": (
        "Ada pesan baru untuk laporan Anda",
        "New message about your report",
    ),
    "relay_new_message_body": (
        "Inspektorat telah mengirim pesan terkait laporan Anda. Buka halaman status laporan di portal WBS\n"
        "dan masukkan tanda terima Anda untuk membacanya. Jangan membalas e-mail ini.",
        "The Inspektorat has sent a message about your report. Open the report status page on the WBS portal\n"
        "and enter your receipt to read it. Do not reply to this e-mail.",
    ),
    "relay_case_closed_subject": (
        "Laporan Anda telah selesai ditangani",
        "Your report has been concluded",
    ),
    "relay_case_closed_body": (
        "Penanganan laporan Anda telah selesai. Tanggapan Inspektorat dapat dibaca di halaman status laporan\n"
        "dengan tanda terima Anda.",
        "The handling of your report has been concluded. Read the Inspektorat's feedback on the report status\n"
        "page with your receipt.",
    ),
}
