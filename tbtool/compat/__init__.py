"""Drop-in replacements for other tools' readers, built on tbtool's reader
(``tbtool.compat.tbparse.SummaryReader``)."""
