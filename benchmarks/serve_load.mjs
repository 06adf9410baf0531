// The load generator of bench_serve.py: N WebSocket clients and one writer in one Node process
// (the `ws` package from clients/js/node_modules), far cheaper per message than Python clients,
// so the figures are the server's.
//
//   node benchmarks/serve_load.mjs '{"port": 8000, "clients": 200, "rate": 200, "seconds": 10,
//                                    "report": "/tmp/report.json"}'
//
// Every client subscribes to its own user's tasks (id 1, `by_user`) and to the newest task
// (id 2, `newest`). Lines on stdout (JSON) tell the driver where it is: {"event": "subscribed"}
// (then it waits for a line on stdin before writing), {"event": "written", ...} once every
// mutation has its result, and {"event": "report"} once every client is fresh (or after `tail`
// seconds) and the report is written to the file `report`.
// Latency = receive time - the newest `stamp` in the value (the server's clock inside the
// mutation; same machine, same clock).
// The receive time is taken as each message arrives; decoding and checking wait until every
// socket ready in that turn of the event loop has been read (setImmediate), so one client's
// decoding does not count as latency of the next 199 (each browser has a process of its own;
// this one process stands in for 200).
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const require = createRequire(fileURLToPath(new URL("../clients/js/package.json", import.meta.url)));
const { WebSocket } = require("ws");

const opts = JSON.parse(process.argv[2]);
const { port, clients: N, rate, seconds } = opts;
const tail = (opts.tail ?? 15) * 1000;
const url = `ws://127.0.0.1:${port}/api/sync`;
const now = () => performance.timeOrigin + performance.now(); // ms, wall clock, sub-ms

const emit = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const latencies = [];
const problems = [];
let timing = false;
let messages = 0;

// Messages received in this turn of the event loop, decoded after it: client, time, data, ...
let arrivals = [];

function arrived(client, data) {
  if (arrivals.length === 0) setImmediate(decodeArrivals);
  arrivals.push(client, now(), data);
}

function decodeArrivals() {
  const batch = arrivals;
  arrivals = [];
  for (let i = 0; i < batch.length; i += 3) batch[i].receive(batch[i + 1], batch[i + 2]);
}

class Client {
  constructor(user) {
    this.user = user;
    this.count = -1; // own tasks seen
    this.newest = -2; // newest seq seen (-1: none yet)
    this.ws = new WebSocket(url, { perMessageDeflate: false });
    this.ws.on("open", () => {
      this.ws.send(JSON.stringify({ type: "subscribe", id: 1, name: "by_user", args: { user_id: `u${user}` } }));
      this.ws.send(JSON.stringify({ type: "subscribe", id: 2, name: "newest", args: {} }));
    });
    this.ws.on("message", (data) => arrived(this, data));
    this.ws.on("error", (e) => problems.push(`u${user}: ${e.message}`));
  }

  receive(at, data) {
    messages += 1;
    const msg = JSON.parse(data.toString());
    if (msg.type !== "value") {
      problems.push(`u${this.user}: ${JSON.stringify(msg).slice(0, 200)}`);
      return;
    }
    if (msg.id === 1) {
      const tasks = msg.value;
      if (tasks.length < this.count) problems.push(`u${this.user}: tasks went back from ${this.count} to ${tasks.length}`);
      if (timing && tasks.length > this.count && tasks.length > 0) {
        let stamp = 0;
        for (const t of tasks) if (t.stamp > stamp) stamp = t.stamp;
        latencies.push(at - stamp * 1000);
      }
      this.count = tasks.length;
    } else {
      const v = msg.value;
      const seq = v === null ? -1 : v.seq;
      if (seq < this.newest) problems.push(`u${this.user}: newest went back from ${this.newest} to ${seq}`);
      if (timing && v !== null && seq > this.newest) latencies.push(at - v.stamp * 1000);
      this.newest = seq;
    }
  }

  get subscribed() {
    return this.count >= 0 && this.newest >= -1;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(cond, limit) {
  const end = Date.now() + limit;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(5);
  }
  return true;
}

async function write(n, expected) {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  let results = 0;
  let errors = 0;
  ws.on("message", (data) => {
    const msg = JSON.parse(data.toString());
    if (msg.type === "result") results += 1;
    else errors += 1;
  });
  let seed = 1;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const start = now();
  for (let seq = 0; seq < n; seq++) {
    const user = Math.floor(random() * N);
    expected[user] += 1;
    ws.send(JSON.stringify({ type: "mutation", id: seq, name: "add", args: { seq, user_id: `u${user}` } }));
    const delay = start + ((seq + 1) * 1000) / rate - now();
    if (delay > 0) await sleep(delay);
  }
  await until(() => results + errors >= n, 120000);
  const took = (now() - start) / 1000;
  ws.close();
  return { took, errors };
}

async function main() {
  const clients = [];
  for (let i = 0; i < N; i++) {
    clients.push(new Client(i));
    if (i % 20 === 19) await sleep(1); // do not flood the accept queue
  }
  if (!(await until(() => clients.every((c) => c.subscribed), 120000))) {
    emit({ event: "error", message: "clients did not subscribe in time" });
    process.exit(1);
  }
  emit({ event: "subscribed" });
  const lines = createInterface({ input: process.stdin });
  await new Promise((resolve) => lines.once("line", resolve));
  const cpu0 = process.cpuUsage();
  messages = 0;
  timing = true;
  const n = rate * seconds;
  const expected = new Array(N).fill(0);
  const { took, errors } = await write(n, expected);
  emit({ event: "written", took, errors });
  const fresh = () => clients.filter((c) => c.count === expected[c.user] && c.newest === n - 1).length;
  await until(() => fresh() === N, tail);
  const cpu = process.cpuUsage(cpu0);
  timing = false;
  // The report (large: every latency) goes to a file; the line only says it is there.
  writeFileSync(opts.report, JSON.stringify({
    mutations: n,
    took,
    fresh: fresh(),
    messages,
    latencies,
    problems: problems.slice(0, 20),
    problemCount: problems.length,
    loadCpuSeconds: (cpu.user + cpu.system) / 1e6,
  }));
  emit({ event: "report" });
  for (const c of clients) c.ws.close();
  lines.close();
  setTimeout(() => process.exit(0), 200);
}

main().catch((e) => {
  emit({ event: "error", message: String(e && e.stack ? e.stack : e) });
  process.exit(1);
});
