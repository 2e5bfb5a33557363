// Open-loop websocket load generator for `make bench` (one process, pinned to its own core).
//
// Reads a JSON plan (path in argv[2]), opens every client, then either
//   - "fanout": runs fixed-rate phases and an open-loop ramp in one room, or
//   - "idle": opens the sockets, reports how long that took, holds them until told to close.
// It speaks three protocols: GoChat's frames, python-socketio (Engine.IO v4 over a bare
// websocket, no polling) and the plain hub's (text in, the same text out to everyone).
//
// Every message carries "@@sender.seq.gid.t@@" in its content: `t` is the send time in
// microseconds on this process's monotonic clock, `gid` a global message number. Each
// receiver keeps a bitset of the gids it has seen, so a lost or a doubled delivery is counted
// exactly, per (sender, sequence). Output: one JSON object per line on stdout.

import { readdirSync, readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { randomBytes, randomFillSync } from "node:crypto";
import { connect as netConnect } from "node:net";
import { WebSocket } from "ws";

const plan = JSON.parse(readFileSync(process.argv[2], "utf8"));
const MARK = Buffer.from("@@");
const ERROR_MARK = Buffer.from('"error"');
const DOT = 46;
const AT = 64;
const CLOCK_TICKS = 100; // USER_HZ on Linux: /proc/<pid>/stat counts CPU in 1/100 s

const emit = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const log = (...args) => process.stderr.write(`loadgen: ${args.join(" ")}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const nowUs = () => Math.round(performance.now() * 1000);

// ---- measurement state for the current step ----------------------------------------------

class Step {
  constructor(capacity, receivers) {
    this.capacity = capacity; // messages this step may send
    this.words = Math.ceil(capacity / 32);
    this.seen = new Uint32Array(this.words * receivers);
    this.latencies = new Float64Array(Math.max(1024, capacity * receivers));
    this.latencyCount = 0;
    this.gidBase = 0;
    this.windowStartUs = Infinity; // messages sent from here on are measured
    this.windowEndUs = Infinity;
    this.unique = 0;
    this.doubled = 0;
    this.windowDeliveries = 0;
    this.latestUs = 0; // send time of the newest message delivered so far
    this.latestLatencyMs = 0; // and how long it took
    this.aborted = false;
  }
}

let step = null;
let gidNext = 0;
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
  let gid;
  let sentUs;
  [, i] = parseNumber(data, i); // sender
  [, i] = parseNumber(data, i + 1); // seq
  [gid, i] = parseNumber(data, i + 1);
  [sentUs, i] = parseNumber(data, i + 1);
  if (data[i] !== AT) return;
  const s = step;
  if (s === null) return;
  const local = gid - s.gidBase;
  if (local < 0 || local >= s.capacity) return; // a straggler from an earlier step
  const word = receiver * s.words + (local >>> 5);
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
    onFrame(this.index, data);
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
  const s = new Step(total, clients.length);
  s.gidBase = gidNext;
  gidNext += total;
  const closedBefore = clients.filter((c) => c.closed).length;
  const errorsBefore = errors;
  step = s;

  const start = performance.now();
  const startUs = nowUs();
  s.windowStartUs = startUs + warmupS * 1e6;
  s.windowEndUs = startUs + (warmupS + durationS) * 1e6;
  let sent = 0;
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
        const gid = s.gidBase + sent;
        const t = nowUs();
        if (t >= s.windowStartUs && t < s.windowEndUs) windowSent++;
        client.seq++;
        client.send(protocol.encode(`@@${client.index}.${client.seq}.${gid}.${t}@@${pad}`));
        sent++;
      }
      if (sent >= total || s.aborted) {
        if (cpu !== null) cpuResult = cpuSince(cpu);
        resolve();
      } else setTimeout(tick, 1);
    };
    tick();
  });
  // Wait for every delivery of every message sent, or give up after drainS.
  const openNow = () => clients.filter((c) => c.ready && !c.closed).length;
  const drainStart = performance.now();
  while (s.unique < sent * openNow() && performance.now() - drainStart < drainS * 1000) {
    await sleep(10);
  }
  step = null;
  const receivers = open.length;
  const expected = sent * receivers;
  const latencies = s.latencies.subarray(0, s.latencyCount).sort();
  const round = (x) => (x === null ? null : Math.round(x * 100) / 100);
  const result = {
    rate,
    senders,
    receivers,
    sent,
    aborted: s.aborted,
    expected,
    delivered: s.unique,
    lost: Math.max(0, expected - s.unique),
    doubled: s.doubled,
    errors: errors - errorsBefore,
    closed: clients.filter((c) => c.closed).length - closedBefore,
    offered_deliveries_per_s: Math.round(rate * receivers),
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
  return (
    !result.aborted &&
    result.lost === 0 &&
    result.doubled === 0 &&
    result.errors === 0 &&
    result.closed === 0 &&
    result.p99_ms !== null &&
    result.p99_ms <= limitMs
  );
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
      result = await runStep(clients, { ...timing, rate });
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
    result.contended = result.foreign_cpu > (plan.ramp?.foreignCpuLimit ?? 0.15);
    if (!result.contended || sustainable(result, limit)) break;
    await sleep(1000);
  }
  return result;
}

// ---- modes ---------------------------------------------------------------------------------

async function fanout() {
  const { clients, seconds, failures } = await openAll(
    plan.clients,
    plan.connectConcurrency || 100,
    (plan.connectTimeoutS || 30) * 1000,
  );
  const ready = clients.filter((c) => c.ready).length;
  emit({ event: "opened", clients: clients.length, ready, seconds, failures });
  await waitQuiet(300, 30000); // join announcements of everyone who came after
  const timing = {
    warmupS: plan.warmupS,
    durationS: plan.durationS,
    senders: plan.senders,
    drainS: plan.drainS || 3,
  };
  const out = { event: "result", open_seconds: seconds, ready, failures, fixed: null, ramp: null };
  if (ready === clients.length) {
    if (plan.fixedRate) {
      out.fixed = await uncontended(clients, { ...timing, rate: plan.fixedRate });
      emit({ event: "fixed", ...out.fixed });
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
  out.first_error = firstError;
  emit(out);
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

const modes = { fanout, idle };
modes[plan.mode]()
  .then(() => setTimeout(() => process.exit(0), 100))
  .catch((err) => {
    log(err.stack || String(err));
    process.exit(1);
  });
