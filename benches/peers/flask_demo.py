"""The original demo, as a Flask app: GET /stream sends the demo sentence one bare word per
`data:` event, then `data: [DONE]`.

python flask_demo.py WORDS DELAY_MS: WORDS words (the sentence over again as often as it
takes), DELAY_MS between two words (the demo's own pace is 10 words, 500 ms apart). It
serves on a free loopback port with Flask's own server (`app.run`'s, threaded) and prints
`listening ADDRESS` once it accepts.
"""

import sys
import time

from flask import Flask, Response
from werkzeug.serving import make_server

SENTENCE = "Hello, this is a mocked chatbot. How can I help you?".split()
WORDS, DELAY_MS = (int(arg) for arg in sys.argv[1:3])

app = Flask(__name__)


@app.get("/stream")
def stream():
    def events():
        for i in range(WORDS):
            if i and DELAY_MS:
                time.sleep(DELAY_MS / 1000)
            yield f"data: {SENTENCE[i % len(SENTENCE)]}\n\n"
        yield "data: [DONE]\n\n"

    return Response(events(), mimetype="text/event-stream")


if __name__ == "__main__":
    # What app.run(threaded=True) starts, bound to port 0 so that the port is free.
    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(f"listening 127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever()
