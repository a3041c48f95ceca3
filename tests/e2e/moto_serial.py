"""moto's server, handling one request at a time.

`moto_server` serves requests on several threads, and moto's in-memory
backends do not apply a conditional write atomically across threads: two
concurrent `UpdateItem ... ConditionExpression stock >= :1` calls can both
succeed (seen here: 6 sales from a stock of 5). DynamoDB applies each
conditional write and transaction atomically, so the tests run moto's very
same application with threading off, which gives that guarantee.

Usage: python tests/e2e/moto_serial.py PORT
"""
import sys

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

if __name__ == "__main__":
    app = DomainDispatcherApplication(create_backend_app)
    run_simple("127.0.0.1", int(sys.argv[1]), app, threaded=False, use_reloader=False)
