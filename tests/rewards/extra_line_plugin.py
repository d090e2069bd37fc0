#!/usr/bin/python3
"""extra_line_plugin.py: a subprocess reward plugin that writes one extra line per request: before each reply it
repeats its previous reply (a stale line, written in the same flush as the new reply, so the host always finds it
first: the outcome does not depend on timing). Score: the response's length (distinct per sample, so a reply read for
the wrong batch shows). It echoes the request's version and id, so it speaks whichever protocol the host does; with
protocol 1 (no ids) every batch after the first read the previous batch's reply."""
import json
import sys

prev = None
for line in sys.stdin:
    if not line.strip():
        continue
    req = json.loads(line)
    reply = {"version": req.get("version"), "id": req.get("id"),
             "results": [{"score": len(s.get("response", ""))} for s in req["samples"]]}
    text = json.dumps(reply) + "\n"
    if prev is not None:
        sys.stdout.write(prev)
    sys.stdout.write(text)
    sys.stdout.flush()
    prev = text
