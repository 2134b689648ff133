#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""confirm_delete.py — an exec-mode hook that asks the user before a delete.

hooksupd writes one JSON line to stdin, {"event": ..., "payload": ...}, and
closes stdin; the last non-empty stdout line is the decision. ask_user
decisions carry a prompt, the options to offer and an optional default:

    {"action": "ask_user", "prompt": "...", "options": ["yes", "no"], "default": "no"}

The host application shows the prompt and resumes (or not) with the answer;
`hooksupd fire` exits 4 for an ask_user result. Pinned memories are never
deleted without asking; anything tagged "scratch" is deleted silently.
Standard library only: the hook must run on a bare python3.
"""

import json
import sys


def decide(envelope):
    payload = envelope.get("payload") or {}
    memory_id = payload.get("id", "?")
    tags = payload.get("tags") or []
    if "scratch" in tags:
        return {"action": "allow"}
    return {
        "action": "ask_user",
        "prompt": "Delete memory %s? This cannot be undone." % memory_id,
        "options": ["delete", "keep"],
        "default": "keep",
    }


def main():
    line = sys.stdin.readline()
    try:
        envelope = json.loads(line) if line.strip() else {}
    except ValueError as exc:
        # Diagnostics go to stderr; stdout is for the decision only. Exiting
        # non-zero makes this fire an error, and the hook's fail_mode decides.
        print("confirm_delete: bad envelope: %s" % exc, file=sys.stderr)
        return 1
    print(json.dumps(decide(envelope)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
