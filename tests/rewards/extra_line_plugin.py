#!/usr/bin/python3
"""extra_line_plugin.py: a subprocess reward plugin that writes its reply line TWICE (one extra line per request), for
the protocol test. Score: the response's length (distinct per sample, so a reply read for the wrong batch shows).
It echoes the request's version and id, so it speaks whichever protocol the host does."""
import json
import sys

for line in sys.stdin:
    if not line.strip():
        continue
    req = json.loads(line)
    reply = {"version": req.get("version"), "id": req.get("id"),
             "results": [{"score": len(s.get("response", ""))} for s in req["samples"]]}
    text = json.dumps(reply) + "\n"
    sys.stdout.write(text)
    sys.stdout.write(text)
    sys.stdout.flush()
