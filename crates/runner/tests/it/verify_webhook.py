"""Verifies one webhook delivery with the official Standard Webhooks library.

Reads a JSON object from stdin: {"secret": "whsec_...", "headers": {name: value}, "body": "..."}.
Prints "verified" and exits 0 when the library accepts the delivery; prints the library's
error and exits 1 when it refuses it. Anything else (a usage error) exits 2.
"""

import json
import sys

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main() -> int:
    try:
        given = json.load(sys.stdin)
        hook = Webhook(given["secret"])
    except Exception as e:  # noqa: BLE001 - any bad input is a usage error here
        print(f"usage error: {e!r}")
        return 2
    try:
        hook.verify(given["body"], given["headers"])
    except WebhookVerificationError as e:
        print(f"refused: {e}")
        return 1
    print("verified")
    return 0


if __name__ == "__main__":
    sys.exit(main())
