"""Hook: tell the team what changed. modelreg runs it after the change is durable, in the registry
directory, with {"event", "entry", "version"} as JSON on stdin and MODELREG_EVENT, MODELREG_MODEL,
MODELREG_VERSION, MODELREG_FROM_STAGE, MODELREG_TO_STAGE, MODELREG_ACTOR in the environment.

It posts one line to $NOTIFY_WEBHOOK (a Slack-style incoming webhook) when set, appends it to
$NOTIFY_FILE when set, and prints it on stderr otherwise. A failing hook undoes nothing.
"""

import json
import os
import sys
import urllib.request


def main() -> int:
    event = json.load(sys.stdin)
    entry = event["entry"]
    move = f" {entry.get('from_stage') or ''} -> {entry.get('to_stage')}" if entry.get("to_stage") else ""
    reason = f": {entry['reason']}" if entry.get("reason") else ""
    text = f"{entry['actor']} {event['event']} {entry['model']}@{entry['version']}{move}{reason}"
    if os.environ.get("NOTIFY_FILE"):
        with open(os.environ["NOTIFY_FILE"], "a", encoding="utf-8") as fh:
            fh.write(text + "\n")
    if os.environ.get("NOTIFY_WEBHOOK"):
        body = json.dumps({"text": text}).encode()
        request = urllib.request.Request(os.environ["NOTIFY_WEBHOOK"], body, {"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=10).close()
    if not os.environ.get("NOTIFY_FILE") and not os.environ.get("NOTIFY_WEBHOOK"):
        print(text, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
