// A real Socket.IO client (npm socket.io-client) driven by the Rust tests over stdio.
//   node sio-client.mjs URL [TOKEN | json:AUTH]   (json: sends AUTH, any JSON, as the handshake auth)
//   SIO_TRANSPORT=polling: HTTP long-polling only (default: WebSocket only)
//   SIO_RECONNECT=1: reconnect after losing the server (default: off, every disconnect is final)
// stdout, one JSON object per line:
//   {"type":"connect"} | {"type":"connect_error","message":"..."} | {"type":"disconnect","reason":"..."}
//   {"type":"event","event":"rates:live","data":{...}} | {"type":"ack","id":1,"data":...}
// stdin, one JSON object per line:
//   {"cmd":"emit","event":"rates:subscribe","data":["BTC/USD"],"id":1}   (ack printed with that id)
//   {"cmd":"pause","ms":3000}   (blocks the event loop: a client too slow to read)
//   {"cmd":"close"}
import { io } from "socket.io-client";
import { createInterface } from "node:readline";

const [url, token] = process.argv.slice(2);
const auth = token?.startsWith("json:") ? JSON.parse(token.slice(5)) : token ? { token } : {};
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");

const socket = io(url, {
  transports: [process.env.SIO_TRANSPORT === "polling" ? "polling" : "websocket"],
  reconnection: process.env.SIO_RECONNECT === "1",
  reconnectionDelay: 100,
  reconnectionDelayMax: 500,
  auth,
});
socket.on("connect", () => out({ type: "connect" }));
socket.on("connect_error", (e) => out({ type: "connect_error", message: e.message }));
socket.on("disconnect", (reason) => out({ type: "disconnect", reason }));
socket.onAny((event, data) => out({ type: "event", event, data }));

createInterface({ input: process.stdin }).on("line", (line) => {
  const msg = JSON.parse(line);
  if (msg.cmd === "emit") socket.emit(msg.event, msg.data, (ack) => out({ type: "ack", id: msg.id, data: ack }));
  if (msg.cmd === "pause") { const end = Date.now() + msg.ms; while (Date.now() < end) { /* frozen */ } }
  if (msg.cmd === "close") { socket.close(); process.exit(0); }
}).on("close", () => { socket.close(); process.exit(0); });
