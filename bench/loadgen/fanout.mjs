// Open-loop websocket load generator for `make bench` (one process, pinned to its own core).
//
// Reads a JSON plan (path in argv[2]), opens every client, then either
//   - "fanout": runs fixed-rate phases and an open-loop ramp; every client is in room 0
//     unless its spec says `room` (many small rooms: every member sends, each message goes
//     to its own room's members only),
//   - "idle": opens the sockets, reports how long that took, holds them until told to close,
//   - "storm" (GoChat only): clients in rooms, each room with one "talker" that stays; the
//     others drop at once, miss messages, and all reconnect at once with `?after=` their last
//     message id: how long until every one is back and caught up, and whether anything was
//     lost or doubled.
// It speaks three protocols: GoChat's frames, python-socketio (Engine.IO v4 over a bare
// websocket, no polling) and the plain hub's (text in, the same text out to everyone).
//
// Every message carries "@@sender.seq.gid.t@@" in its content: `t` is the send time in
// microseconds on this process's monotonic clock, `gid` the message's number in its room
// (the sender's room). Each receiver keeps a bitset of its own room's gids, so a lost, a
// doubled or a misrouted (another room's) delivery is counted exactly, per (sender,
// sequence), in memory proportional to the deliveries expected. Output: one JSON object per
// line on stdout.

import { readdirSync, readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { randomBytes, randomFillSync } from "node:crypto";
import { connect as netConnect } from "node:net";
import { WebSocket } from "ws";

const plan = JSON.parse(readFileSync(process.argv[2], "utf8"));
const MARK = Buffer.from("@@");
const ERROR_MARK = Buffer.from('"error"');
const MESSAGE_MARK = Buffer.from('{"type":"message"');
const READY_MARK = Buffer.from('{"type":"ready"');
const ID_MARK = Buffer.from('"id":');
const TRUNCATED_MARK = Buffer.from('"truncated":true');
const DOT = 46;
const AT = 64;
const CLOCK_TICKS = 100; // USER_HZ on Linux: /proc/<pid>/stat counts CPU in 1/100 s

const emit = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const log = (...args) => process.stderr.write(`loadgen: ${args.join(" ")}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const nowUs = () => Math.round(performance.now() * 1000);

// ---- measurement state for the current step ----------------------------------------------

// A step's bitsets: room r may receive caps[r] messages (gids bases[r] .. bases[r]+caps[r]),
// and each of its sizes[r] members has ceil(caps[r] / 32) words of its own.
class Step {
  constructor(caps, sizes, bases) {
    const rooms = caps.length;
    this.caps = caps;
    this.bases = bases;
    this.words = new Int32Array(rooms);
    this.offsets = new Float64Array(rooms);
    let words = 0;
    let deliveries = 0;
    for (let r = 0; r < rooms; r++) {
      this.words[r] = Math.ceil(caps[r] / 32);
      this.offsets[r] = words;
      words += this.words[r] * sizes[r];
      deliveries += caps[r] * sizes[r];
    }
    this.seen = new Uint32Array(words);
    this.latencies = new Float64Array(Math.max(1024, Math.min(deliveries, 1 << 24)));
    this.latencyCount = 0;
    this.windowStartUs = Infinity; // messages sent from here on are measured
    this.windowEndUs = Infinity;
    this.unique = 0;
    this.doubled = 0;
    this.misrouted = 0;
    this.windowDeliveries = 0;
    this.latestUs = 0; // send time of the newest message delivered so far
    this.latestLatencyMs = 0; // and how long it took
    this.aborted = false;
  }
}

// Rooms: every client's room (spec.room, 0 by default) and its place among the room's
// members; a room's next gid runs on across steps, so a straggler is never taken for a
// message of the current step.
let roomOf = new Int32Array(0);
let slotOf = new Int32Array(0);
let roomSizes = [];
let roomNext = [];

function assignRooms(specs) {
  roomOf = new Int32Array(specs.length);
  slotOf = new Int32Array(specs.length);
  const rooms = 1 + specs.reduce((max, spec) => Math.max(max, spec.room || 0), 0);
  roomSizes = new Array(rooms).fill(0);
  roomNext = new Array(rooms).fill(0);
  specs.forEach((spec, i) => {
    roomOf[i] = spec.room || 0;
    slotOf[i] = roomSizes[roomOf[i]]++;
  });
}

// A step over `counts[r]` messages per room; its gids are reserved here.
function newStep(counts) {
  const bases = roomNext.slice();
  counts.forEach((count, r) => (roomNext[r] += count));
  return new Step(counts, roomSizes, bases);
}

let step = null;
let messagesSent = 0; // every message sent, retried and aborted runs included
let framesSeen = 0;
let errors = 0;
let firstError = null;
let lastFrameAt = performance.now();

function parseNumber(buf, start) {
  let value = 0;
  let i = start;
  for (; i < buf.length; i++) {
    const c = buf[i];
    if (c < 48 || c > 57) break;
    value = value * 10 + (c - 48);
  }
  return [value, i];
}

function onFrame(receiver, data) {
  framesSeen++;
  lastFrameAt = performance.now();
  const at = data.indexOf(MARK);
  if (at < 0) {
    if (data.indexOf(ERROR_MARK) >= 0) {
      errors++;
      if (firstError === null) firstError = data.toString().slice(0, 300);
    }
    return;
  }
  // @@sender.seq.gid.t@@
  let i = at + 2;
  let sender;
  let gid;
  let sentUs;
  [sender, i] = parseNumber(data, i);
  [, i] = parseNumber(data, i + 1); // seq
  [gid, i] = parseNumber(data, i + 1);
  [sentUs, i] = parseNumber(data, i + 1);
  if (data[i] !== AT) return;
  const s = step;
  if (s === null) return;
  const room = roomOf[receiver];
  if (roomOf[sender] !== room) {
    s.misrouted++;
    return;
  }
  const local = gid - s.bases[room];
  if (local < 0 || local >= s.caps[room]) return; // a straggler from an earlier step
  const word = s.offsets[room] + slotOf[receiver] * s.words[room] + (local >>> 5);
  const bit = 1 << (local & 31);
  if (s.seen[word] & bit) {
    s.doubled++;
    return;
  }
  s.seen[word] |= bit;
  s.unique++;
  if (sentUs >= s.windowStartUs && sentUs < s.windowEndUs) {
    s.windowDeliveries++;
    if (s.latencyCount === s.latencies.length) {
      const grown = new Float64Array(s.latencies.length * 2);
      grown.set(s.latencies);
      s.latencies = grown;
    }
    s.latencies[s.latencyCount++] = (nowUs() - sentUs) / 1000;
  }
  if (s.latestUs < sentUs) {
    s.latestUs = sentUs;
    s.latestLatencyMs = (nowUs() - sentUs) / 1000;
  }
}

// ---- protocols -----------------------------------------------------------------------------

const protocols = {
  // GoChat: the history ends with a "ready" frame; a message is {"type":"message",...}.
  gochat: {
    onText(client, data) {
      if (!client.ready && data.indexOf('"ready"') >= 0) client.markReady();
    },
    encode: (content) => JSON.stringify({ type: "message", content }),
    readyOnOpen: false,
  },
  // The plain Starlette hub: ready on open, broadcasts the text it receives.
  plain: {
    onText() {},
    encode: (content) => JSON.stringify({ type: "message", content }),
    readyOnOpen: true,
  },
  // python-socketio: Engine.IO "0{...}" open, we connect to "/" with "40", the server
  // answers "40{sid}"; pings "2" need a "3"; an event is 42["message", ...].
  socketio: {
    onText(client, data) {
      const c0 = data[0];
      if (c0 === 48 /* 0 */) client.send("40");
      else if (c0 === 52 /* 4 */ && data[1] === 48 /* 0 */) client.markReady();
      else if (c0 === 50 /* 2 */ && data.length === 1) client.send("3");
    },
    encode: (content) => "42" + JSON.stringify(["message", { type: "message", content }]),
    readyOnOpen: false,
  },
};

const protocol = protocols[plan.protocol];
const trackIds = plan.mode === "storm";
if (!protocol) throw new Error(`unknown protocol ${plan.protocol}`);

// Two interchangeable client transports. "raw" is a minimal RFC 6455 client on a bare TCP
// socket: server frames are parsed in place from each read, several per read when the server
// batches, which costs a few microseconds a delivery where `ws` costs about ten; it is what
// keeps one core of load generator ahead of the fastest server. "ws" (the npm package) is kept
// as the reference implementation to cross-check the raw one (`transport: "ws"` in the plan).

class Client {
  constructor(index, spec) {
    this.index = index;
    this.spec = spec;
    this.ready = false;
    this.closed = false;
    this.closeCode = null;
    this.seq = 0;
    this._resolveReady = null;
    this._timer = null;
  }

  open(timeoutMs) {
    return new Promise((resolve) => {
      this._resolveReady = resolve;
      this._timer = setTimeout(() => this._settle(false, "timeout"), timeoutMs);
      this.connect(timeoutMs);
    });
  }

  onOpen() {
    if (protocol.readyOnOpen) this.markReady();
  }

  onMessage(data) {
    if (!this.ready || plan.protocol === "socketio") protocol.onText(this, data);
    if (trackIds) this.noteId(data);
    onFrame(this.index, data);
  }

  // The last GoChat message id seen, what a reconnect asks to resume after; whether the
  // `ready` frame said history was cut short.
  noteId(data) {
    if (data.indexOf(MESSAGE_MARK) === 0) {
      const at = data.indexOf(ID_MARK);
      if (at > 0) this.lastId = Math.max(this.lastId || 0, parseNumber(data, at + ID_MARK.length)[0]);
    } else if (data.indexOf(READY_MARK) === 0) {
      this.truncated = data.indexOf(TRUNCATED_MARK) >= 0;
      this.readyAt = performance.now();
    }
  }

  onClose(code) {
    this.closed = true;
    this.closeCode = code;
    this._settle(false, `closed ${code}`);
  }

  markReady() {
    this.ready = true;
    this._settle(true, null);
  }

  _settle(ok, reason) {
    if (this._resolveReady === null) return;
    clearTimeout(this._timer);
    const resolve = this._resolveReady;
    this._resolveReady = null;
    resolve({ ok, reason });
  }
}

class WsClient extends Client {
  connect(timeoutMs) {
    const ws = new WebSocket(this.spec.url, {
      headers: this.spec.headers || {},
      perMessageDeflate: false,
      skipUTF8Validation: true,
      handshakeTimeout: timeoutMs,
    });
    this.ws = ws;
    ws.on("open", () => this.onOpen());
    ws.on("message", (data) => this.onMessage(data));
    ws.on("unexpected-response", (_req, res) => {
      this._settle(false, `http ${res.statusCode}`);
      res.resume();
    });
    ws.on("error", (err) => this._settle(false, err.message));
    ws.on("close", (code) => this.onClose(code));
  }

  send(text) {
    this.ws.send(text);
  }

  terminate() {
    this.ws.terminate();
  }
}

const MASK_POOL = Buffer.alloc(4096);
let maskAt = MASK_POOL.length;

function nextMask() {
  if (maskAt + 4 > MASK_POOL.length) {
    randomFillSync(MASK_POOL);
    maskAt = 0;
  }
  maskAt += 4;
  return MASK_POOL.subarray(maskAt - 4, maskAt);
}

function encodeFrame(opcode, payload) {
  const length = payload.length;
  const headerLength = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + 4 + length);
  frame[0] = 0x80 | opcode;
  if (length < 126) frame[1] = 0x80 | length;
  else if (length < 65536) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  const mask = nextMask();
  mask.copy(frame, headerLength);
  const body = headerLength + 4;
  for (let i = 0; i < length; i++) frame[body + i] = payload[i] ^ mask[i & 3];
  return frame;
}

class RawClient extends Client {
  connect() {
    const url = new URL(this.spec.url);
    const socket = netConnect({ host: url.hostname, port: Number(url.port), noDelay: true });
    this.socket = socket;
    this.handshaken = false;
    this.pending = null; // bytes of an incomplete frame (or of the HTTP response)
    this.fragments = null;
    const headers = {
      Host: url.host,
      Upgrade: "websocket",
      Connection: "Upgrade",
      "Sec-WebSocket-Key": randomBytes(16).toString("base64"),
      "Sec-WebSocket-Version": "13",
      ...(this.spec.headers || {}),
    };
    let request = `GET ${url.pathname}${url.search} HTTP/1.1\r\n`;
    for (const [name, value] of Object.entries(headers)) request += `${name}: ${value}\r\n`;
    socket.write(request + "\r\n");
    socket.on("data", (chunk) => this.onData(chunk));
    socket.on("error", (err) => this._settle(false, err.code || err.message));
    socket.on("close", () => {
      if (!this.closed) this.onClose(this.closeCode ?? 1006);
    });
  }

  onData(chunk) {
    let buf = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = null;
    if (!this.handshaken) {
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) {
        this.pending = buf;
        return;
      }
      const status = buf.toString("latin1", 9, 12);
      if (status !== "101") {
        this._settle(false, `http ${status}`);
        this.socket.destroy();
        return;
      }
      this.handshaken = true;
      buf = buf.subarray(end + 4);
      this.onOpen();
    }
    let at = 0;
    while (buf.length - at >= 2) {
      const b0 = buf[at];
      const b1 = buf[at + 1];
      let length = b1 & 0x7f;
      let header = 2;
      if (length === 126) {
        if (buf.length - at < 4) break;
        length = buf.readUInt16BE(at + 2);
        header = 4;
      } else if (length === 127) {
        if (buf.length - at < 10) break;
        length = Number(buf.readBigUInt64BE(at + 2));
        header = 10;
      }
      const masked = (b1 & 0x80) !== 0;
      const start = at + header + (masked ? 4 : 0);
      if (buf.length < start + length) break;
      let payload = buf.subarray(start, start + length);
      if (masked) {
        const key = buf.subarray(at + header, at + header + 4);
        payload = Buffer.from(payload);
        for (let i = 0; i < payload.length; i++) payload[i] ^= key[i & 3];
      }
      at = start + length;
      this.onFrameBytes(b0 & 0x80, b0 & 0x0f, payload);
      if (this.closed) return;
    }
    if (at < buf.length) this.pending = Buffer.from(buf.subarray(at));
  }

  onFrameBytes(fin, opcode, payload) {
    if (opcode === 1 || opcode === 2 || opcode === 0) {
      if (!fin || this.fragments !== null) {
        this.fragments = this.fragments === null ? [payload] : [...this.fragments, payload];
        if (!fin) return;
        payload = Buffer.concat(this.fragments);
        this.fragments = null;
      }
      this.onMessage(payload);
    } else if (opcode === 9) {
      this.socket.write(encodeFrame(10, payload));
    } else if (opcode === 8) {
      this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      this.socket.end(encodeFrame(8, payload.subarray(0, 2)));
      this.onClose(this.closeCode);
    }
  }

  send(text) {
    this.socket.write(encodeFrame(1, Buffer.from(text)));
  }

  terminate() {
    this.socket.destroy();
  }
}

const Transport = (plan.transport || "raw") === "ws" ? WsClient : RawClient;

async function openAll(specs, concurrency, timeoutMs, offset = 0) {
  const clients = specs.map((spec, i) => new Transport(offset + i, spec));
  const failures = {};
  let next = 0;
  const started = performance.now();
  async function worker() {
    while (next < clients.length) {
      const client = clients[next++];
      const { ok, reason } = await client.open(timeoutMs);
      if (!ok) failures[reason] = (failures[reason] || 0) + 1;
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, clients.length) }, worker));
  const seconds = (performance.now() - started) / 1000;
  return { clients, seconds, failures };
}

async function waitQuiet(quietMs, capMs) {
  const start = performance.now();
  while (performance.now() - lastFrameAt < quietMs) {
    if (performance.now() - start > capMs) return false;
    await sleep(Math.min(50, quietMs));
  }
  return true;
}

// ---- CPU accounting ------------------------------------------------------------------------

function procTicks(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]); // utime + stime
  } catch {
    return 0;
  }
}

// Ticks per core from /proc/stat: `busy` counts user, nice, system, irq, softirq and steal;
// `task` only user, nice and system, the time that is charged to processes. Loopback TCP does
// much of its work in softirq time, charged to no process: it belongs to the workload.
function coreTicks() {
  try {
    const lines = readFileSync("/proc/stat", "utf8").split("\n");
    const cores = [];
    for (const line of lines) {
      if (!/^cpu\d/.test(line)) continue;
      const f = line.split(/\s+/).slice(1).map(Number);
      cores.push({
        busy: f[0] + f[1] + f[2] + f[5] + f[6] + f[7],
        task: f[0] + f[1] + f[2],
        total: f.reduce((a, b) => a + b, 0),
      });
    }
    return cores;
  } catch {
    return [];
  }
}

function cpuSnapshot() {
  const own = process.cpuUsage();
  return {
    cores: coreTicks(),
    at: performance.now(),
    ownUs: own.user + own.system,
    ownSysUs: own.system,
    server: (plan.watchPids || []).reduce((sum, pid) => sum + procTicks(pid), 0),
    backing: backingPids().reduce((sum, pid) => sum + procTicks(pid), 0),
  };
}

// PostgreSQL and Redis work for the server under test but run unpinned: their CPU is counted
// apart, so that it is not mistaken for other work on the machine.
const BACKING = new Set(["postgres", "redis-server"]);

function backingPids() {
  const pids = [];
  for (const entry of readdirSync("/proc")) {
    if (entry.charCodeAt(0) < 48 || entry.charCodeAt(0) > 57) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      if (BACKING.has(comm)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

function cpuSince(snap) {
  const end = cpuSnapshot();
  const wallS = (end.at - snap.at) / 1000;
  return {
    loadgen_cpu: (end.ownUs - snap.ownUs) / 1e6 / wallS,
    loadgen_sys: (end.ownSysUs - snap.ownSysUs) / 1e6 / wallS,
    server_cpu: (end.server - snap.server) / CLOCK_TICKS / wallS,
    backing_cpu: (end.backing - snap.backing) / CLOCK_TICKS / wallS,
    core_busy: end.cores.map((c, i) => {
      const total = c.total - snap.cores[i].total;
      return total > 0 ? Math.round(((c.busy - snap.cores[i].busy) / total) * 100) / 100 : null;
    }),
    task_cpu: end.cores.reduce((sum, c, i) => {
      const total = c.total - snap.cores[i].total;
      return total > 0 ? sum + (c.task - snap.cores[i].task) / total : sum;
    }, 0),
  };
}

// Process CPU the machine spent on anything but this load generator, the server and its
// database: other people's work on a shared machine. A step that fails while it is high is
// measured again.
function foreignCpu(r) {
  if (r.loadgen_cpu === null || r.task_cpu === undefined) return 0;
  return Math.max(0, r.task_cpu - r.loadgen_cpu - r.server_cpu - r.backing_cpu);
}

function roundedCpu(r) {
  const out = {};
  for (const key of ["loadgen_cpu", "loadgen_sys", "server_cpu", "backing_cpu"]) {
    out[key] = r[key] === null ? null : Math.round(r[key] * 100) / 100;
  }
  return out;
}

// ---- one open-loop step ------------------------------------------------------------------

function percentile(sorted, q) {
  if (sorted.length === 0) return null;
  const idx = Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1);
  return sorted[Math.max(0, idx)];
}

const pad = "x".repeat(Math.max(0, plan.payloadBytes || 0));

async function runStep(clients, { rate, warmupS, durationS, senders: minSenders, drainS }) {
  const open = clients.filter((c) => c.ready && !c.closed);
  if (open.length === 0) throw new Error("no client is open any more");
  const perSender = plan.perSenderRate || 8;
  const senders = Math.min(open.length, Math.max(minSenders, Math.ceil(rate / perSender)));
  const total = Math.max(1, Math.round(rate * (warmupS + durationS)));
  // Message k is sent by open[k % senders]: how many each room will get, and how many
  // members each room has open now (every one of them must receive each of its messages).
  const counts = new Array(roomSizes.length).fill(0);
  for (let k = 0; k < total; k++) counts[roomOf[open[k % senders].index]]++;
  const members = new Array(roomSizes.length).fill(0);
  for (const c of open) members[roomOf[c.index]]++;
  const s = newStep(counts);
  const roomSent = new Array(roomSizes.length).fill(0);
  const closedBefore = clients.filter((c) => c.closed).length;
  const errorsBefore = errors;
  step = s;

  const start = performance.now();
  const startUs = nowUs();
  s.windowStartUs = startUs + warmupS * 1e6;
  s.windowEndUs = startUs + (warmupS + durationS) * 1e6;
  let sent = 0;
  let expected = 0;
  let maxLagMs = 0;
  let cpu = null;
  let cpuResult = null;
  let windowSent = 0;
  const abortUs = Math.max(plan.abortMs || 1000, 3000 / rate) * 1000;
  await new Promise((resolve) => {
    const tick = () => {
      const now = performance.now();
      const elapsedS = (now - start) / 1000;
      if (cpu === null && elapsedS >= warmupS) cpu = cpuSnapshot();
      // A server more than `abortMs` behind has failed this step: stop feeding it, so the
      // backlog it must work off before the next step stays small.
      if (!s.aborted && sent > 0 && nowUs() - Math.max(s.latestUs, startUs) > abortUs) {
        s.aborted = true;
      }
      const due = s.aborted ? sent : Math.min(total, Math.floor(elapsedS * rate) + 1);
      while (sent < due) {
        const intended = start + (sent / rate) * 1000;
        maxLagMs = Math.max(maxLagMs, now - intended);
        const client = open[sent % senders];
        const room = roomOf[client.index];
        const gid = s.bases[room] + roomSent[room]++;
        expected += members[room];
        const t = nowUs();
        if (t >= s.windowStartUs && t < s.windowEndUs) windowSent++;
        client.seq++;
        client.send(protocol.encode(`@@${client.index}.${client.seq}.${gid}.${t}@@${pad}`));
        sent++;
        messagesSent++;
      }
      if (sent >= total || s.aborted) {
        if (cpu !== null) cpuResult = cpuSince(cpu);
        resolve();
      } else setTimeout(tick, 1);
    };
    tick();
  });
  // Wait for every delivery of every message sent, or give up after drainS.
  const drainStart = performance.now();
  while (s.unique < expected && performance.now() - drainStart < drainS * 1000) {
    if (open.some((c) => c.closed)) break; // a closed member will never have them all
    await sleep(10);
  }
  step = null;
  const receivers = open.length;
  const fanout = expected / Math.max(1, sent); // deliveries per message
  const latencies = s.latencies.subarray(0, s.latencyCount).sort();
  const round = (x) => (x === null ? null : Math.round(x * 100) / 100);
  const result = {
    rate,
    senders,
    receivers,
    rooms: counts.filter((n) => n > 0).length,
    sent,
    aborted: s.aborted,
    expected,
    delivered: s.unique,
    lost: Math.max(0, expected - s.unique),
    doubled: s.doubled,
    misrouted: s.misrouted,
    errors: errors - errorsBefore,
    closed: clients.filter((c) => c.closed).length - closedBefore,
    offered_deliveries_per_s: Math.round(rate * fanout),
    messages_per_s: Math.round((s.windowDeliveries / durationS / fanout) * 10) / 10,
    deliveries_per_s: Math.round(s.windowDeliveries / durationS),
    window_messages: windowSent,
    p50_ms: round(percentile(latencies, 0.5)),
    p90_ms: round(percentile(latencies, 0.9)),
    p99_ms: round(percentile(latencies, 0.99)),
    max_ms: round(latencies.length ? latencies[latencies.length - 1] : null),
    max_send_lag_ms: round(maxLagMs),
    ...(cpuResult || {
      loadgen_cpu: null,
      loadgen_sys: null,
      server_cpu: null,
      backing_cpu: null,
      core_busy: [],
    }),
  };
  result.foreign_cpu = foreignCpu(result);
  delete result.task_cpu;
  for (const key of ["loadgen_cpu", "loadgen_sys", "server_cpu", "backing_cpu", "foreign_cpu"]) {
    if (result[key] !== null) result[key] = Math.round(result[key] * 100) / 100;
  }
  await waitQuiet(plan.quietMs || 500, (plan.quietCapS || 15) * 1000);
  return result;
}

function sustainable(result, limitMs) {
  if (result.repeats) return result.passed * 2 > result.repeats.length && result.clean;
  return (
    !result.aborted &&
    result.lost === 0 &&
    result.doubled === 0 &&
    result.misrouted === 0 &&
    result.errors === 0 &&
    result.closed === 0 &&
    result.p99_ms !== null &&
    result.p99_ms <= limitMs
  );
}

// A step run `repeats` times back to back: it passes when most runs pass and none lost,
// doubled, misrouted or was refused anything, so one stall (a full garbage collection, other
// work on the machine) cannot decide it alone, while a loss always does. The figures are
// those of the run with the median p99; the counts are summed over all runs.
async function runRepeated(clients, timing, repeats, limitMs) {
  if (repeats <= 1) return runStep(clients, timing);
  const runs = [];
  for (let i = 0; i < repeats; i++) {
    runs.push(await runStep(clients, timing));
    if (runs[i].closed > 0 || runs[i].lost > 0) break; // a loss decides: no need to go on
  }
  const byP99 = [...runs].sort((a, b) => (a.p99_ms ?? Infinity) - (b.p99_ms ?? Infinity));
  const result = { ...byP99[Math.floor((runs.length - 1) / 2)] };
  for (const key of ["sent", "expected", "delivered", "lost", "doubled", "misrouted", "errors", "closed"]) {
    result[key] = runs.reduce((sum, r) => sum + r[key], 0);
  }
  result.max_ms = Math.max(...runs.map((r) => r.max_ms ?? 0));
  result.loadgen_cpu = Math.max(...runs.map((r) => r.loadgen_cpu ?? 0));
  result.repeats = runs.map((r) => ({
    p50_ms: r.p50_ms,
    p99_ms: r.p99_ms,
    max_ms: r.max_ms,
    deliveries_per_s: r.deliveries_per_s,
    aborted: r.aborted,
    ok: sustainable(r, limitMs),
  }));
  result.passed = result.repeats.filter((r) => r.ok).length;
  result.clean =
    result.lost === 0 &&
    result.doubled === 0 &&
    result.misrouted === 0 &&
    result.errors === 0 &&
    result.closed === 0;
  result.aborted = runs.filter((r) => r.aborted).length * 2 > runs.length;
  return result;
}

// Up (or down) by `factor` until the verdict flips, then bisect `refine` times.
async function ramp(clients, spec, timing) {
  const steps = [];
  const limit = spec.p99LimitMs;
  const deadline = performance.now() + spec.budgetS * 1000;
  let best = null;
  let worst = null; // lowest failing rate
  const contendedLimit = spec.foreignCpuLimit ?? 0.15;
  const tryRate = async (rate) => {
    let result;
    let retries = 0;
    let contendedRetries = 0;
    for (;;) {
      result = await runRepeated(clients, { ...timing, rate }, spec.repeats || 1, limit);
      result.ok = sustainable(result, limit);
      result.contended = result.foreign_cpu > contendedLimit;
      steps.push(result);
      emit({ event: "step", ...result });
      if (result.ok) break;
      // Measure a failure again when other work took CPU meanwhile (a shared machine), or
      // once when it failed only narrowly (one hiccup must not end a ramp); a gross failure
      // stands, or the backlog it leaves would spoil the next step too.
      if (performance.now() > deadline) break;
      if (result.contended && contendedRetries < (spec.contendedRetries ?? 2)) {
        contendedRetries++;
        await sleep(1000);
        continue;
      }
      const narrow = result.lost === 0 && result.errors === 0 && result.p99_ms < 3 * limit;
      if (narrow && retries < (spec.retryFailures || 0)) {
        retries++;
        continue;
      }
      break;
    }
    if (result.ok && (best === null || rate > best.rate)) best = result;
    if (!result.ok && (worst === null || rate < worst.rate)) worst = result;
    return result.ok;
  };
  let rate = spec.start;
  let loadgenBound = false;
  // Past `loadgenCpuLimit` of its own core, while the server still has room, the load
  // generator and not the server would set the latency: the ramp stops there and the figure
  // is a lower bound for the server. (A server that is busy too is ramped on: it fails next.)
  const atLoadgenCeiling = () =>
    best !== null &&
    best.loadgen_cpu !== null &&
    best.loadgen_cpu >= (spec.loadgenCpuLimit ?? 0.8) &&
    best.server_cpu < (spec.loadgenCpuLimit ?? 0.8);
  if (await tryRate(rate)) {
    while (worst === null && rate * spec.factor <= spec.max && performance.now() < deadline) {
      if (atLoadgenCeiling()) {
        loadgenBound = true;
        break;
      }
      rate *= spec.factor;
      await tryRate(rate);
    }
  } else {
    while (best === null && rate / spec.factor >= spec.min && performance.now() < deadline) {
      rate /= spec.factor;
      await tryRate(rate);
    }
  }
  for (let i = 0; i < spec.refine && best && worst && performance.now() < deadline; i++) {
    await tryRate(Math.sqrt(best.rate * worst.rate));
  }
  const ceilingHit = worst === null && best !== null && !loadgenBound;
  return { steps, best, ceiling_hit: ceilingHit, loadgen_bound: loadgenBound };
}

// A step measured again (up to three times) while it fails with other work on the machine.
async function uncontended(clients, timing) {
  const limit = plan.ramp ? plan.ramp.p99LimitMs : 100;
  let result;
  for (let attempt = 0; attempt < 4; attempt++) {
    result = await runStep(clients, timing);
    result.contended =
      result.foreign_cpu > (plan.ramp?.foreignCpuLimit ?? plan.foreignCpuLimit ?? 0.15);
    if (!result.contended || sustainable(result, limit)) break;
    await sleep(1000);
  }
  return result;
}

// ---- modes ---------------------------------------------------------------------------------

// Open every client of the plan and say how fast they were admitted, with the CPU the server
// and this process spent meanwhile (a busy load generator must not pass for a slow server).
async function openAndReport(concurrency, timeoutMs) {
  const cpu = cpuSnapshot();
  const opened = await openAll(plan.clients, concurrency, timeoutMs);
  const { clients, seconds, failures } = opened;
  const ready = clients.filter((c) => c.ready).length;
  emit({
    event: "opened",
    clients: clients.length,
    ready,
    seconds,
    failures,
    admitted_per_s: Math.round(ready / seconds),
    ...roundedCpu(cpuSince(cpu)),
  });
  return { ...opened, ready };
}

// With `syncPhases` the harness is told when the sockets are open, when the fixed-rate phase
// has ended and when the ramp has ("opened", "fixed", "ramped"), and each time it answers a
// line on stdin before the next phase starts (after "ramped": before every socket is cut at
// once): it reads the server's /metrics meanwhile.
async function fanout() {
  const input = plan.syncPhases ? readLines() : null;
  const { clients, seconds, failures, ready } = await openAndReport(
    plan.connectConcurrency || 100,
    (plan.connectTimeoutS || 30) * 1000,
  );
  await waitQuiet(300, 30000); // join announcements of everyone who came after
  if (input) await input.next(120000);
  const timing = {
    warmupS: plan.warmupS,
    durationS: plan.durationS,
    senders: plan.senders,
    drainS: plan.drainS || 3,
  };
  const out = { event: "result", open_seconds: seconds, ready, failures, fixed: null, ramp: null };
  if (ready === clients.length) {
    if (plan.fixedRate) {
      out.fixed = await uncontended(clients, {
        ...timing,
        durationS: plan.fixedS || timing.durationS,
        rate: plan.fixedRate,
      });
      emit({ event: "fixed", ...out.fixed });
      if (input) await input.next(120000);
    }
    if (plan.ramp) {
      out.ramp = await ramp(clients, plan.ramp, { ...timing, ...(plan.ramp.timing || {}) });
      if (out.ramp.best && plan.ramp.confirmFraction) {
        const rate = out.ramp.best.rate * plan.ramp.confirmFraction;
        out.ramp.confirm = await uncontended(clients, {
          ...timing,
          durationS: plan.ramp.confirmS || timing.durationS,
          rate,
        });
      }
    }
  }
  out.frames_seen = framesSeen;
  out.messages_sent = messagesSent;
  out.first_error = firstError;
  if (input && out.ramp) {
    emit({ event: "ramped" });
    await input.next(120000);
  }
  emit(out);
  input?.close();
  for (const c of clients) c.terminate();
}

function readLines() {
  const lines = createInterface({ input: process.stdin });
  const queue = [];
  const waiters = [];
  lines.on("line", (line) => (waiters.length ? waiters.shift()(line) : queue.push(line)));
  lines.on("close", () => {
    while (waiters.length) waiters.shift()(null);
  });
  return {
    next: (timeoutMs) =>
      queue.length
        ? Promise.resolve(queue.shift())
        : Promise.race([new Promise((resolve) => waiters.push(resolve)), sleep(timeoutMs)]),
    close: () => lines.close(),
  };
}

// Open `warm` sockets, say so and wait for the harness to read the server's memory; open the
// rest, say so and wait again; then close everything.
async function idle() {
  const input = readLines();
  const holdMs = (plan.holdS || 60) * 1000;
  const timeoutMs = (plan.connectTimeoutS || 60) * 1000;
  const concurrency = plan.connectConcurrency || 100;
  const warm = await openAll(plan.clients.slice(0, plan.warm), concurrency, timeoutMs);
  await waitQuiet(300, 30000);
  emit({ event: "warm", ready: warm.clients.filter((c) => c.ready).length });
  await input.next(holdMs);
  const rest = await openAll(plan.clients.slice(plan.warm), concurrency, timeoutMs, plan.warm);
  const clients = [...warm.clients, ...rest.clients];
  const ready = clients.filter((c) => c.ready && !c.closed).length;
  await waitQuiet(500, 60000);
  emit({ event: "opened", clients: clients.length, ready, seconds: rest.seconds, failures: rest.failures });
  await input.next(holdMs);
  input.close();
  const stillOpen = clients.filter((c) => c.ready && !c.closed).length;
  emit({ event: "result", open_seconds: rest.seconds, opened: rest.clients.length, ready, still_open: stillOpen, failures: rest.failures });
  for (const c of clients) c.terminate();
}

// ---- reconnect storm -------------------------------------------------------------------------

// Send one message from each of `talkers` in turn, `rate` a second, `count` in all (or until
// `stop()` says so); the gids come from the step's rooms.
async function sendPaced(talkers, count, rate, s, roomSent, stop = () => false) {
  const start = performance.now();
  let sent = 0;
  while (sent < count && !stop()) {
    const due = Math.min(count, Math.floor(((performance.now() - start) / 1000) * rate) + 1);
    for (; sent < due; sent++) {
      const talker = talkers[sent % talkers.length];
      const room = roomOf[talker.index];
      if (roomSent[room] >= s.caps[room]) return sent; // the room's bitset is full
      const gid = s.bases[room] + roomSent[room]++;
      talker.seq++;
      talker.send(protocol.encode(`@@${talker.index}.${talker.seq}.${gid}.${nowUs()}@@${pad}`));
      messagesSent++;
    }
    await sleep(2);
  }
  return sent;
}

function closeCodes(clients) {
  const codes = {};
  for (const c of clients) if (c.closed) codes[c.closeCode] = (codes[c.closeCode] || 0) + 1;
  return codes;
}

async function waitFor(condition, capMs) {
  const start = performance.now();
  while (!condition()) {
    if (performance.now() - start > capMs) return false;
    await sleep(10);
  }
  return true;
}

// Open a client, and a fresh one after a short random backoff each time it is refused, up
// to `attempts` in all: the client that opened (or the last one tried) and the retries.
async function openWithRetries(spec, index, timeoutMs, attempts, failures) {
  for (let attempt = 1; ; attempt++) {
    const client = new Transport(index, spec);
    const { ok, reason } = await client.open(timeoutMs);
    if (ok) return { client, retries: attempt - 1 };
    failures[reason] = (failures[reason] || 0) + 1;
    client.terminate();
    if (attempt >= attempts) return { client, retries: null };
    await sleep(100 + Math.random() * 400 * attempt);
  }
}

// Every room has one talker (stays connected, sends) and members. The members receive
// `before` messages per room live, drop at once, miss `missed` per room, then all reconnect
// at once with `?after=` their last id while the talkers go on at `duringRate` msg/s. Every
// member must end with every message of its room exactly once.
async function storm() {
  const timeoutMs = (plan.connectTimeoutS || 60) * 1000;
  const { clients, seconds, ready } = await openAndReport(plan.connectConcurrency || 50, timeoutMs);
  if (ready !== clients.length) throw new Error(`only ${ready} of ${clients.length} opened`);
  await waitQuiet(300, 30000);
  const talkers = clients.filter((c) => c.spec.talker);
  const members = clients.filter((c) => !c.spec.talker);
  const rooms = roomSizes.length;
  const perRoom = (plan.before || 0) + (plan.missed || 0) + (plan.duringPerRoomMax || 50);
  const s = newStep(new Array(rooms).fill(perRoom));
  const roomSent = new Array(rooms).fill(0);
  step = s;
  const expectedAll = () => roomSent.reduce((sum, n, r) => sum + n * roomSizes[r], 0);
  const expectedTalkers = () => roomSent.reduce((sum, n) => sum + n, 0);

  await sendPaced(talkers, (plan.before || 0) * rooms, plan.rate || 200, s, roomSent);
  if (!(await waitFor(() => s.unique >= expectedAll(), 30000))) {
    throw new Error(`before the drop: ${s.unique} of ${expectedAll()} delivered`);
  }
  for (const m of members) m.terminate();
  const deliveredBefore = s.unique;
  await sleep((plan.awayS || 1) * 1000); // the server sees them go
  await sendPaced(talkers, (plan.missed || 0) * rooms, plan.rate || 200, s, roomSent);
  const talkersDone = () => s.unique - deliveredBefore >= expectedTalkers() - (plan.before || 0) * rooms;
  if (!(await waitFor(talkersDone, 30000))) throw new Error("the missed messages were not all stored");
  emit({ event: "away", members: members.length, missed: (plan.missed || 0) * rooms });

  // The storm: every member at once, resuming after the last id it saw.
  const errorsBefore = errors;
  const stormFailures = {};
  const started = performance.now();
  const cpu = cpuSnapshot();
  let back = 0;
  let retries = 0;
  let gaveUp = 0;
  const resume = members.map((m) => {
    const url = new URL(m.spec.url);
    url.searchParams.set("after", String(m.lastId || 0));
    return { ...m.spec, url: url.toString() };
  });
  const again = new Array(members.length);
  const concurrency = Math.min(plan.stormConcurrency || members.length, members.length);
  let next = 0;
  const worker = async () => {
    while (next < members.length) {
      const i = next++;
      const opened = await openWithRetries(resume[i], members[i].index, timeoutMs, plan.attempts || 5, stormFailures);
      again[i] = opened.client;
      if (opened.retries === null) gaveUp++;
      else {
        back++;
        retries += opened.retries;
      }
    }
  };
  const reconnecting = Array.from({ length: concurrency }, worker);
  let allBack = false;
  const chatting = plan.duringRate
    ? sendPaced(talkers, Infinity, plan.duringRate, s, roomSent, () => allBack)
    : Promise.resolve(0);
  await Promise.all(reconnecting);
  const backS = (performance.now() - started) / 1000;
  allBack = true;
  const duringSent = await chatting;
  const stormCpu = roundedCpu(cpuSince(cpu));
  // Caught up: every member has every message of its room (history, then live).
  const openMembers = () => again.filter((c) => c.ready && !c.closed).length;
  await waitFor(() => s.unique >= expectedAll(), (plan.drainS || 10) * 1000);
  const caughtUpS = (performance.now() - started) / 1000;
  step = null;
  const readyTimes = again
    .filter((c) => c.readyAt)
    .map((c) => (c.readyAt - started) / 1000)
    .sort((a, b) => a - b);
  const round = (x) => (x === null ? null : Math.round(x * 1000) / 1000);
  emit({
    event: "result",
    rooms,
    talkers: talkers.length,
    members: members.length,
    open_seconds: seconds,
    back: openMembers(),
    gave_up: gaveUp,
    retries,
    failures: stormFailures,
    truncated: again.filter((c) => c.truncated).length,
    // A talker the server closed took its later messages with it (sent, never stored); a
    // member closed after it was back misses what followed.
    talkers_closed: talkers.filter((c) => c.closed).length,
    talker_close_codes: closeCodes(talkers),
    members_closed: again.filter((c) => c.ready && c.closed).length,
    back_s: round(backS),
    caught_up_s: round(caughtUpS),
    ready_p50_s: round(percentile(readyTimes, 0.5)),
    ready_p99_s: round(percentile(readyTimes, 0.99)),
    admitted_per_s: Math.round(back / backS),
    sent: messagesSent,
    missed_per_member: plan.missed || 0,
    sent_during_storm: duringSent,
    expected: expectedAll(),
    delivered: s.unique,
    lost: Math.max(0, expectedAll() - s.unique),
    doubled: s.doubled,
    misrouted: s.misrouted,
    errors: errors - errorsBefore,
    first_error: firstError,
    ...stormCpu,
  });
  for (const c of [...talkers, ...again]) c.terminate();
}

assignRooms(plan.clients || []);
const modes = { fanout, idle, storm };
modes[plan.mode]()
  .then(() => setTimeout(() => process.exit(0), 100))
  .catch((err) => {
    log(err.stack || String(err));
    process.exit(1);
  });
