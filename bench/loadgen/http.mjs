// HTTP load for `make bench`: several workloads at once against one server, each either
//   - "closed": `concurrency` workers, each sending its next request when the last answered, or
//   - "open": requests started at a fixed `rate`, whatever the answers do (a latency probe).
// Each workload cycles through its request list; per workload it reports requests/s, status
// counts and latency percentiles. Keep-alive connections, one process, one JSON line out.

import { readFileSync } from "node:fs";
import http from "node:http";
import { performance } from "node:perf_hooks";

const plan = JSON.parse(readFileSync(process.argv[2], "utf8"));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function request(agent, base, spec) {
  return new Promise((resolve) => {
    const body = spec.body === undefined ? null : Buffer.from(JSON.stringify(spec.body));
    const headers = { ...(spec.headers || {}) };
    if (body) {
      headers["content-type"] = "application/json";
      headers["content-length"] = body.length;
    }
    const started = performance.now();
    const req = http.request(
      { host: base.hostname, port: base.port, path: spec.path, method: spec.method || "GET", agent, headers },
      (res) => {
        res.resume();
        res.on("end", () => resolve({ status: res.statusCode, ms: performance.now() - started }));
      },
    );
    req.on("error", (err) => resolve({ status: `error:${err.code || err.message}`, ms: performance.now() - started }));
    if (body) req.write(body);
    req.end();
  });
}

function summarise(name, records, seconds) {
  const lat = Float64Array.from(records.map((r) => r.ms)).sort();
  const pct = (q) => (lat.length ? Math.round(lat[Math.min(lat.length - 1, Math.max(0, Math.ceil(q * lat.length) - 1))] * 100) / 100 : null);
  const statuses = {};
  for (const r of records) statuses[r.status] = (statuses[r.status] || 0) + 1;
  return {
    name,
    requests: records.length,
    seconds,
    rps: Math.round((records.length / seconds) * 10) / 10,
    statuses,
    p50_ms: pct(0.5),
    p90_ms: pct(0.9),
    p99_ms: pct(0.99),
    max_ms: lat.length ? Math.round(lat[lat.length - 1] * 100) / 100 : null,
  };
}

async function runWorkload(base, w, deadline) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: w.concurrency || 256 });
  const records = [];
  let next = 0;
  const pick = () => w.requests[next++ % w.requests.length];
  const started = performance.now();
  const warmupEnd = started + (w.warmupS || 0) * 1000;
  const keep = (r, at) => {
    if (at >= warmupEnd) records.push(r);
  };
  if (w.kind === "closed") {
    const worker = async () => {
      while (performance.now() < deadline) {
        const at = performance.now();
        keep(await request(agent, base, pick()), at);
      }
    };
    await Promise.all(Array.from({ length: w.concurrency }, worker));
  } else {
    const pending = [];
    let sent = 0;
    while (performance.now() < deadline) {
      const due = Math.floor(((performance.now() - started) / 1000) * w.rate);
      while (sent < due) {
        const at = performance.now();
        pending.push(request(agent, base, pick()).then((r) => keep(r, at)));
        sent++;
      }
      await sleep(1);
    }
    await Promise.all(pending);
  }
  agent.destroy();
  return summarise(w.name, records, (deadline - warmupEnd) / 1000);
}

async function main() {
  const base = new URL(plan.baseUrl);
  const cpuStart = process.cpuUsage();
  const wallStart = performance.now();
  const deadline = wallStart + plan.durationS * 1000;
  const results = await Promise.all(plan.workloads.map((w) => runWorkload(base, w, deadline)));
  const cpu = process.cpuUsage(cpuStart);
  const wall = (performance.now() - wallStart) / 1000;
  process.stdout.write(
    JSON.stringify({
      event: "result",
      workloads: results,
      loadgen_cpu: Math.round(((cpu.user + cpu.system) / 1e6 / wall) * 100) / 100,
    }) + "\n",
  );
}

main().catch((err) => {
  process.stderr.write(`loadgen: ${err.stack || err}\n`);
  process.exit(1);
});
