"""moto's server, handling one request at a time.

`moto_server` serves requests on several threads, and moto's in-memory
backends do not apply a conditional write atomically across threads: two
concurrent `UpdateItem ... ConditionExpression stock >= :1` calls can both
succeed (seen here: 6 sales from a stock of 5). DynamoDB applies each
conditional write and transaction atomically, so the tests run moto's very
same application with threading off, which gives that guarantee.

One addition for the tests: `GET /_tests/ses/messages` lists the messages
SES accepted (id, source, destinations, the raw message), so the mailer
contract checks what was sent on this backend too. moto's own
`/moto-api/data.json` has them, with every other model of every service.

Usage: python tests/e2e/moto_serial.py PORT
"""
import json
import sys

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.ses.models import ses_backends
from werkzeug.serving import run_simple

SENT = "/_tests/ses/messages"


def sent_messages():
    """Every message SES accepted, in every account and region."""
    out = []
    for account in ses_backends.values():
        for backend in account.values():
            for m in backend.sent_messages:
                out.append(
                    {
                        "id": m.id,
                        "source": m.source,
                        "destinations": m.destinations,
                        "raw": getattr(m, "raw_data", None),
                        "subject": getattr(m, "subject", None),
                    }
                )
    return out


def with_test_routes(app):
    def serve(environ, start_response):
        if environ.get("PATH_INFO") == SENT and environ.get("REQUEST_METHOD") == "GET":
            body = json.dumps(sent_messages()).encode()
            start_response(
                "200 OK",
                [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
            )
            return [body]
        return app(environ, start_response)

    return serve


if __name__ == "__main__":
    app = DomainDispatcherApplication(create_backend_app)
    run_simple("127.0.0.1", int(sys.argv[1]), with_test_routes(app), threaded=False, use_reloader=False)
