"""Reads calinvite's output with independent implementations: Python's email
package (policy.default, strict RFC 5322/2047/2231 handling) and the icalendar
library. Prints one JSON object per message path given, as a JSON list."""
import json
import re
import sys
from email import policy
from email.parser import BytesParser

from icalendar import Calendar


def text_of(value):
    return None if value is None else str(value)


def prop_params(prop):
    return {k.upper(): str(v) for k, v in prop.params.items()}


def read(path):
    raw = open(path, "rb").read()
    out = {"path": path}
    out["ascii"] = all(b < 128 for b in raw)
    out["crlf_only"] = b"\r\n" in raw and re.search(rb"[^\r]\n|\r[^\n]", raw) is None
    out["max_line"] = max(len(l) for l in raw.split(b"\r\n"))
    m = BytesParser(policy=policy.default).parsebytes(raw)
    out["defects"] = [type(d).__name__ for p in m.walk() for d in p.defects]
    out["header_names"] = list(m.keys())
    out["subject"] = str(m["Subject"])
    fr, to = m["From"].addresses[0], m["To"].addresses[0]
    out["from"] = [fr.display_name, fr.addr_spec]
    out["to"] = [to.display_name, to.addr_spec]
    out["message_id"] = str(m["Message-ID"])
    out["tree"] = [p.get_content_type() for p in m.walk()]
    cal_parts = [p for p in m.walk() if p.get_content_type() == "text/calendar"]
    att = [p for p in m.walk() if p.get_content_type() == "application/ics"]
    out["text"] = next(p.get_content() for p in m.walk() if p.get_content_type() == "text/plain")
    out["html"] = next(p.get_content() for p in m.walk() if p.get_content_type() == "text/html")
    c = cal_parts[0]
    out["ct_method"] = c.get_param("method")
    out["ct_charset"] = c.get_content_charset()
    ics = c.get_payload(decode=True)
    out["attachment_name"] = att[0].get_filename() if att else None
    out["attachment_same"] = bool(att) and att[0].get_payload(decode=True) == ics
    lines = ics.split(b"\r\n")
    out["ics_crlf_only"] = re.search(rb"[^\r]\n|\r[^\n]", ics) is None
    out["ics_max_line"] = max(len(l) for l in lines)
    bad_utf8 = 0
    for l in lines:
        try:
            l.decode("utf-8")
        except UnicodeDecodeError:
            bad_utf8 += 1
    out["ics_lines_split_utf8"] = bad_utf8
    cal = Calendar.from_ical(ics)
    out["method"] = text_of(cal.get("METHOD"))
    out["tzids"] = [str(t.get("TZID")) for t in cal.walk("VTIMEZONE")]
    events = []
    for ev in cal.walk("VEVENT"):
        e = {}
        for name in ("UID", "SUMMARY", "DESCRIPTION", "LOCATION", "URL", "STATUS", "SEQUENCE"):
            e[name] = text_of(ev.get(name))
        for name in ("DTSTART", "DTEND", "RECURRENCE-ID"):
            p = ev.get(name)
            e[name] = None if p is None else [p.to_ical().decode(), prop_params(p).get("TZID")]
        e["DTSTAMP"] = ev.get("DTSTAMP").to_ical().decode() if ev.get("DTSTAMP") else None
        e["RRULE"] = ev.get("RRULE").to_ical().decode() if ev.get("RRULE") else None
        ex = ev.get("EXDATE")
        ex = ex if isinstance(ex, list) else ([ex] if ex is not None else [])
        e["EXDATE"] = [d.to_ical().decode() for d in ex]
        org = ev.get("ORGANIZER")
        e["ORGANIZER"] = None if org is None else [str(org), prop_params(org)]
        att = ev.get("ATTENDEE")
        att = att if isinstance(att, list) else ([att] if att is not None else [])
        e["ATTENDEE"] = [[str(a), prop_params(a)] for a in att]
        events.append(e)
    out["events"] = events
    return out


print(json.dumps([read(p) for p in sys.argv[1:]], ensure_ascii=False))
