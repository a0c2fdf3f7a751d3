"""``{{ text|hashtags }}``: a caption or comment, escaped, with each ``#tag`` a link to its tag page."""

from __future__ import annotations

import re

from django import template
from django.urls import reverse
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from api.tags import services as tag_services

register = template.Library()

# A '#' that starts a word: "a#b" and "page#top" are left alone. The text is split before it is
# escaped, because escaping writes "'" as "&#x27;", which would read as a tag named x27.
HASHTAG = re.compile(r"(?<![\w&#])#([\w-]+)")


@register.filter(is_safe=True)
def hashtags(text: str | None) -> SafeString:
    parts: list[str] = []
    written = 0
    raw = str(text or "")
    for match in HASHTAG.finditer(raw):
        try:
            name = tag_services.normalise(match.group(1))
        except tag_services.TagRejected:
            continue  # too long to be a tag: stays plain text
        parts.append(escape(raw[written : match.start()]))
        parts.append(
            format_html(
                '<a class="hashtag" href="{}">{}</a>', reverse("web:tag", args=[name]), match.group(0)
            )
        )
        written = match.end()
    parts.append(escape(raw[written:]))
    return mark_safe("".join(parts))  # every piece above was escaped
