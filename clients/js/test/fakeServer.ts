// A small in-memory server speaking the /api/sync protocol (docs/serving.md), on a free port,
// so the client's own behaviour (sharing, reconnecting, errors) is tested without Python.
import { WebSocketServer, WebSocket } from "ws";
import { createServer } from "node:http";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

type Msg = { type: string; id?: number; name?: string; args?: Record<string, unknown> };

export class FakeServer {
  readonly wss: WebSocketServer;
  readonly received: Msg[] = [];
  /** What POST /api/upload?token=good received: the bytes and their Content-Type. */
  readonly uploads: { body: Buffer; type: string | undefined }[] = [];
  counter = 0;
  private subs = new Map<WebSocket, Map<number, string>>();

  private constructor(wss: WebSocketServer) {
    this.wss = wss;
    wss.on("connection", (ws) => {
      this.subs.set(ws, new Map());
      ws.on("message", (data) => this.handle(ws, JSON.parse(String(data)) as Msg));
      ws.on("close", () => this.subs.delete(ws));
    });
  }

  static async start(): Promise<FakeServer> {
    let fake: FakeServer | undefined;
    const http = createServer((req, res) => fake?.upload(req, res));
    const wss = new WebSocketServer({ server: http });
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", () => resolve()));
    fake = new FakeServer(wss);
    return fake;
  }

  /** POST /api/upload: as fusiondb.serve answers (token "good" works, anything else is 403). */
  private upload(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://x");
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      res.setHeader("Content-Type", "application/json");
      if (req.method !== "POST" || url.pathname !== "/api/upload" || url.searchParams.get("token") !== "good") {
        res.statusCode = 403;
        res.end(JSON.stringify({ error: { status: 403, message: "upload URL expired: ask a mutation for a new one" } }));
        return;
      }
      this.uploads.push({ body: Buffer.concat(chunks), type: req.headers["content-type"] });
      res.end(JSON.stringify({ storageId: `file${this.uploads.length}` }));
    });
  }

  get url(): string {
    return `http://127.0.0.1:${(this.wss.options.server!.address() as AddressInfo).port}`;
  }

  get connections(): number {
    return this.subs.size;
  }

  /** Bump the counter (as a commit would) and push it to every subscriber of "counter". */
  bump(): void {
    this.counter += 1;
    for (const [ws, subs] of this.subs) {
      for (const [id, name] of subs) {
        if (name === "counter") ws.send(JSON.stringify({ type: "value", id, value: this.counter }));
      }
    }
  }

  /** Drop every connection (the client should come back). */
  dropAll(): void {
    for (const ws of this.subs.keys()) ws.terminate();
  }

  async close(): Promise<void> {
    for (const ws of this.subs.keys()) ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    await new Promise<void>((resolve) => this.wss.options.server?.close(() => resolve()) ?? resolve());
  }

  private handle(ws: WebSocket, msg: Msg): void {
    this.received.push(msg);
    const send = (m: object) => ws.send(JSON.stringify(m));
    if (msg.type === "subscribe") {
      if (msg.name === "counter") {
        this.subs.get(ws)?.set(msg.id!, "counter");
        send({ type: "value", id: msg.id, value: this.counter });
      } else if (msg.name === "echo") {
        send({ type: "value", id: msg.id, value: msg.args });
      } else {
        send({ type: "error", id: msg.id, status: 404, message: `no function '${msg.name}' is exposed` });
      }
    } else if (msg.type === "unsubscribe") {
      this.subs.get(ws)?.delete(msg.id!);
    } else if (msg.type === "mutation" && msg.name === "bump") {
      this.bump();
      send({ type: "result", id: msg.id, value: this.counter });
    } else if (msg.type === "mutation" && msg.name === "hang") {
      // never answers
    } else if (msg.type === "query" && msg.name === "echo") {
      send({ type: "result", id: msg.id, value: msg.args });
    } else {
      send({ type: "error", id: msg.id, status: 422, message: "bad arguments: 'x'", fields: ["x"] });
    }
  }
}

export function until(check: () => boolean, ms = 5000): Promise<void> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (check()) resolve();
      else if (Date.now() - start > ms) reject(new Error("condition not met in time"));
      else setTimeout(tick, 5);
    };
    tick();
  });
}
