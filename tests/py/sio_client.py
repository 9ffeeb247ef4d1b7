"""A real Socket.IO client (python-socketio) driven by the Rust tests over stdio, speaking the
same line protocol as tests/js/sio-client.mjs:

    python sio_client.py URL [TOKEN]        SIO_TRANSPORT=polling|websocket (default websocket)

stdout, one JSON object per line:
    {"type":"connect"} | {"type":"connect_error","message":"..."} | {"type":"disconnect","reason":"..."}
    {"type":"event","event":"rates:live","data":{...}} | {"type":"ack","id":1,"data":...}
stdin, one JSON object per line:
    {"cmd":"emit","event":"rates:subscribe","data":["BTC/USD"],"id":1}   (ack printed with that id)
    {"cmd":"close"}
"""

import json
import os
import sys
import threading

import socketio

lock = threading.Lock()


def out(obj):
    with lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def main():
    url = sys.argv[1]
    token = sys.argv[2] if len(sys.argv) > 2 else None
    transport = os.environ.get("SIO_TRANSPORT", "websocket")
    sio = socketio.Client(reconnection=False)

    @sio.event
    def connect():
        out({"type": "connect"})

    @sio.event
    def connect_error(data):
        out({"type": "connect_error", "message": str(data)})

    @sio.event
    def disconnect(reason=None):
        out({"type": "disconnect", "reason": str(reason)})

    @sio.on("*")
    def any_event(event, data=None):
        out({"type": "event", "event": event, "data": data})

    try:
        sio.connect(url, transports=[transport], auth={"token": token} if token else None)
    except socketio.exceptions.ConnectionError as e:
        out({"type": "connect_error", "message": str(e)})
        return

    for line in sys.stdin:
        msg = json.loads(line)
        if msg.get("cmd") == "emit":
            ident = msg.get("id")
            sio.emit(
                msg["event"],
                msg.get("data"),
                callback=lambda data=None, ident=ident: out({"type": "ack", "id": ident, "data": data}),
            )
        elif msg.get("cmd") == "close":
            break
    sio.disconnect()


if __name__ == "__main__":
    main()
