"""Form widgets shared by every page."""

from django import forms

#: The one date format pages accept and show (ISO 8601), whatever the browser's locale.
ISO_DATE = "%Y-%m-%d"


class IsoDateInput(forms.DateInput):
    """A date typed and shown as ``YYYY-MM-DD``.

    A text box, not ``type="date"``: browsers show that in the reader's locale (``03/01/2027`` in
    en-US), so a page would show one date format and the rest of the product another.
    """

    input_type = "text"

    def __init__(self, attrs=None):
        base = {
            "placeholder": "YYYY-MM-DD",
            "pattern": r"\d{4}-\d{2}-\d{2}",
            "inputmode": "numeric",
            "autocomplete": "off",
            "size": "10",
            "title": "A date as YYYY-MM-DD, e.g. 2027-03-01",
        }
        super().__init__({**base, **(attrs or {})}, format=ISO_DATE)
