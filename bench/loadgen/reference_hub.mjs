// The reference hub: Node's `ws` server, each broadcast framed once (`WebSocket.Sender.frame`)
// and written to every member's socket without waiting. Not a peer: it is the fastest server
// the bench has, so the ramp against it shows the load generator's own ceiling.
//
//   node reference_hub.mjs PORT        ws://127.0.0.1:PORT/ws/ROOM, GET / answers "ok"

import http from "node:http";
import { Sender, WebSocket, WebSocketServer } from "ws";

const port = Number(process.argv[2]);
const rooms = new Map();
const server = http.createServer((_req, res) => res.end("ok"));
const wss = new WebSocketServer({ server, perMessageDeflate: false, skipUTF8Validation: true });

wss.on("connection", (ws, req) => {
  const room = req.url.split("/").pop();
  if (!rooms.has(room)) rooms.set(room, new Set());
  const members = rooms.get(room);
  members.add(ws);
  ws.on("message", (data) => {
    const frame = Buffer.concat(
      Sender.frame(data, { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: true }),
    );
    for (const member of members) {
      if (member.readyState === WebSocket.OPEN) member._socket.write(frame);
    }
  });
  ws.on("close", () => members.delete(ws));
});

server.listen(port, "127.0.0.1");
process.on("SIGINT", () => process.exit(0));
process.on("SIGTERM", () => process.exit(0));
