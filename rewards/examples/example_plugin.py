#!/usr/bin/python3
"""example_plugin.py: an example subprocess reward plugin (JSON lines on stdin/stdout, protocol version 2).

Reward: the share of the response's lines that end with a full stop ("tidy" text), n/a for an empty response.
Per-sample meta switches, used by the tests: {"crash": true} exits abruptly, {"hang": true} sleeps forever,
{"fail": true} reports an error for that sample only.
Protocol 2: every reply echoes its request's "id", and the plugin writes nothing else on stdout (print debug output to
stderr): one request line in, one reply line out.
Config: {"rewards": ["tidy"], "plugins": [{"name": "tidy", "kind": "subprocess", "path": "rewards/examples/example_plugin.py",
          "timeout_s": 5}]}
Dependency-free: only the Python standard library.
"""
import json
import os
import sys
import time

PROTOCOL_VERSION = 2


def score(sample, options):
    meta = sample.get("meta") or {}
    if meta.get("crash"):
        os._exit(3)
    if meta.get("hang"):
        time.sleep(3600)
    if meta.get("fail"):
        return {"error": "sample asked to fail"}
    lines = [l.strip() for l in sample.get("response", "").splitlines() if l.strip()]
    if not lines:
        return {"score": None}
    suffix = options.get("suffix", ".")
    return {"score": sum(l.endswith(suffix) for l in lines) / len(lines)}


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        if req.get("version") != PROTOCOL_VERSION:
            reply = {"version": PROTOCOL_VERSION, "id": req.get("id"),
                     "results": [{"error": "unsupported protocol version"}] * len(req.get("samples", []))}
        else:
            options = req.get("options") or {}
            reply = {"version": PROTOCOL_VERSION, "id": req["id"], "results": [score(s, options) for s in req["samples"]]}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
