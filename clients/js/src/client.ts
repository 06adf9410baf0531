/**
 * FusionClient: one WebSocket to a fusiondb.serve app's /api/sync, shared by every live
 * query, query and mutation of a page. It reconnects (with backoff) when the connection
 * drops and re-subscribes every live query, so each ends on the server's current value.
 *
 * The protocol (docs/serving.md): the client sends {type: "subscribe", id, name, args},
 * {type: "unsubscribe", id}, {type: "query" | "mutation", id, name, args}; the server sends
 * {type: "value", id, value}, {type: "result", id, value}, {type: "error", id, status,
 * message}, {type: "failed", id, status, message} (a live query's re-run raised).
 */

export type FunctionKind = "query" | "mutation";

/** A typed reference to a served function (`fusiondb codegen` writes them into api.ts). */
export interface FunctionReference<K extends FunctionKind, Args, Result> {
  kind: K;
  name: string;
  /** Never set: carries the argument type. */
  __args?: Args;
  /** Never set: carries the result type. */
  __result?: Result;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyArgs = Record<string, any>;
export type QueryRef<A = AnyArgs, R = unknown> = FunctionReference<"query", A, R> | string;
export type MutationRef<A = AnyArgs, R = unknown> = FunctionReference<"mutation", A, R> | string;
export type ArgsOf<F> = F extends FunctionReference<FunctionKind, infer A, unknown> ? A : AnyArgs;
export type ResultOf<F> = F extends FunctionReference<FunctionKind, AnyArgs, infer R> ? R : unknown;

/** An error the server answered with: its HTTP-like status and message. */
export class FusionError extends Error {
  readonly status: number;
  readonly fields: string[];
  constructor(message: string, status: number, fields: string[] = []) {
    super(message);
    this.name = "FusionError";
    this.status = status;
    this.fields = fields;
  }
}

/** What the client needs of a WebSocket (the browser's, or `ws` in Node). */
export interface SocketLike {
  readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
}
export type SocketFactory = new (url: string) => SocketLike;

export interface ClientOptions {
  /** The WebSocket class (default: globalThis.WebSocket). */
  WebSocket?: SocketFactory;
  /** Query parameters added to the WebSocket URL (e.g. a token your authenticate reads). */
  params?: Record<string, string>;
  /** Reconnect delays in ms: the first, doubling up to the largest. */
  reconnectDelay?: { min: number; max: number };
  /** Told whenever the connection opens (true) or drops (false). */
  onConnectionChange?: (connected: boolean) => void;
}

export type Watcher<R> = (value: R) => void;
export type ErrorWatcher = (error: FusionError) => void;

interface LiveQuery {
  id: number;
  name: string;
  args: AnyArgs;
  key: string;
  watchers: Set<{ onValue: Watcher<unknown>; onError?: ErrorWatcher }>;
  hasValue: boolean;
  value: unknown;
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: FusionError) => void;
  message: string;
  kind: FunctionKind;
  sent: boolean;
}

const OPEN = 1;

function nameOf(ref: FunctionReference<FunctionKind, unknown, unknown> | string): string {
  return typeof ref === "string" ? ref : ref.name;
}

/** The WebSocket URL of the app at `url` ("http://host:port", or "" for this page's origin). */
export function syncUrl(url: string, params?: Record<string, string>): string {
  let base = url;
  if (!/^[a-z]+:\/\//i.test(base)) {
    const loc = (globalThis as { location?: { protocol: string; host: string } }).location;
    if (loc === undefined) throw new Error(`FusionClient: ${JSON.stringify(url)} is not an absolute URL`);
    base = `${loc.protocol}//${loc.host}${base.startsWith("/") || base === "" ? base : "/" + base}`;
  }
  const u = new URL(base.replace(/\/+$/, "") + "/api/sync");
  u.protocol = u.protocol === "https:" ? "wss:" : u.protocol === "http:" ? "ws:" : u.protocol;
  for (const [k, v] of Object.entries(params ?? {})) u.searchParams.set(k, v);
  return u.toString();
}

export class FusionClient {
  private readonly url: string;
  private readonly Socket: SocketFactory;
  private readonly options: ClientOptions;
  private socket: SocketLike | null = null;
  private nextId = 1;
  private readonly live = new Map<string, LiveQuery>();
  private readonly liveById = new Map<number, LiveQuery>();
  private readonly pending = new Map<number, Pending>();
  private delay: number;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private closed = false;
  connected = false;

  constructor(url: string, options: ClientOptions = {}) {
    this.options = options;
    this.url = syncUrl(url, options.params);
    const Socket = options.WebSocket ?? (globalThis as { WebSocket?: SocketFactory }).WebSocket;
    if (Socket === undefined) throw new Error("FusionClient: no WebSocket here; pass options.WebSocket");
    this.Socket = Socket;
    this.delay = options.reconnectDelay?.min ?? 100;
    this.connect();
  }

  /** Run a query once; its result. */
  query<F extends QueryRef>(ref: F, args?: ArgsOf<F>): Promise<ResultOf<F>> {
    return this.request("query", nameOf(ref), args ?? {}) as Promise<ResultOf<F>>;
  }

  /** Run a mutation; its result. Rejected if the connection drops before the answer (the
   * mutation may or may not have run then). */
  mutation<F extends MutationRef>(ref: F, args?: ArgsOf<F>): Promise<ResultOf<F>> {
    return this.request("mutation", nameOf(ref), args ?? {}) as Promise<ResultOf<F>>;
  }

  /** Call `onValue` with the query's value now (if known) and after every change; returns
   * the function that stops watching. Watchers of the same query and arguments share one
   * server subscription. */
  watch<F extends QueryRef>(
    ref: F,
    args: ArgsOf<F>,
    onValue: Watcher<ResultOf<F>>,
    onError?: ErrorWatcher,
  ): () => void {
    const name = nameOf(ref);
    const key = JSON.stringify([name, args ?? {}]);
    let q = this.live.get(key);
    if (q === undefined) {
      q = { id: this.nextId++, name, args: args ?? {}, key, watchers: new Set(), hasValue: false, value: undefined };
      this.live.set(key, q);
      this.liveById.set(q.id, q);
      this.sendIfOpen({ type: "subscribe", id: q.id, name, args: q.args });
    }
    const entry = { onValue: onValue as Watcher<unknown>, onError };
    q.watchers.add(entry);
    if (q.hasValue) onValue(q.value as ResultOf<F>);
    const query = q;
    return () => {
      query.watchers.delete(entry);
      if (query.watchers.size === 0 && this.live.get(query.key) === query) {
        this.live.delete(query.key);
        this.liveById.delete(query.id);
        this.sendIfOpen({ type: "unsubscribe", id: query.id });
      }
    };
  }

  /**
   * Upload a file to a URL a mutation returned from `db.storage.generate_upload_url()`;
   * resolves to the new file's storage id (pass it to a mutation to keep it). `file` is a
   * Blob or File (its `type` is sent as the Content-Type unless `contentType` is given) or
   * bytes. A path URL ("/api/upload?...") is taken relative to this client's server.
   * Rejected with a FusionError carrying the server's status and message (403: the URL is
   * wrong or expired; 413: the file is over the server's limit).
   */
  async upload(url: string, file: Blob | ArrayBuffer | Uint8Array, contentType?: string): Promise<string> {
    const type = contentType ?? (typeof Blob !== "undefined" && file instanceof Blob ? file.type : "");
    let response: Response;
    try {
      response = await fetch(new URL(url, this.httpBase()), {
        method: "POST",
        body: file as BodyInit,
        headers: type ? { "Content-Type": type } : {},
      });
    } catch (e) {
      throw new FusionError(`upload failed: ${e instanceof Error ? e.message : String(e)}`, 0);
    }
    let body: { storageId?: string; error?: { status?: number; message?: string } } | undefined;
    try {
      body = await response.json();
    } catch {
      body = undefined;
    }
    if (!response.ok || typeof body?.storageId !== "string") {
      throw new FusionError(body?.error?.message ?? `upload failed: HTTP ${response.status}`, response.status);
    }
    return body.storageId;
  }

  /** The http(s) origin of the server this client talks to. */
  private httpBase(): string {
    const u = new URL(this.url);
    u.protocol = u.protocol === "wss:" ? "https:" : "http:";
    return u.origin;
  }

  /** Close the connection for good: live queries stop, pending calls are rejected. */
  close(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.socket?.close();
    this.rejectPending(() => true, "client closed");
  }

  private request(kind: FunctionKind, name: string, args: AnyArgs): Promise<unknown> {
    if (this.closed) return Promise.reject(new FusionError("client closed", 0));
    const id = this.nextId++;
    const message = JSON.stringify({ type: kind, id, name, args });
    return new Promise((resolve, reject) => {
      const p: Pending = { resolve, reject, message, kind, sent: false };
      this.pending.set(id, p);
      if (this.socket !== null && this.socket.readyState === OPEN) {
        this.socket.send(message);
        p.sent = true;
      }
    });
  }

  private sendIfOpen(msg: object): void {
    if (this.socket !== null && this.socket.readyState === OPEN) this.socket.send(JSON.stringify(msg));
  }

  private connect(): void {
    if (this.closed) return;
    const socket = new this.Socket(this.url);
    this.socket = socket;
    socket.onopen = () => {
      this.delay = this.options.reconnectDelay?.min ?? 100;
      this.connected = true;
      this.options.onConnectionChange?.(true);
      for (const q of this.live.values()) {
        socket.send(JSON.stringify({ type: "subscribe", id: q.id, name: q.name, args: q.args }));
      }
      for (const p of this.pending.values()) {
        if (!p.sent) {
          socket.send(p.message);
          p.sent = true;
        }
      }
    };
    socket.onmessage = (ev) => this.receive(String(ev.data));
    socket.onerror = () => {
      /* onclose follows and reconnects */
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.connected) {
        this.connected = false;
        this.options.onConnectionChange?.(false);
      }
      // A mutation sent may have run: say so rather than run it twice. Queries are re-sent.
      this.rejectPending((p) => p.kind === "mutation" && p.sent, "connection lost before the answer");
      for (const p of this.pending.values()) p.sent = false;
      if (this.closed) return;
      this.timer = setTimeout(() => this.connect(), this.delay);
      this.delay = Math.min(this.delay * 2, this.options.reconnectDelay?.max ?? 5000);
    };
  }

  private rejectPending(which: (p: Pending) => boolean, why: string): void {
    for (const [id, p] of this.pending) {
      if (which(p)) {
        this.pending.delete(id);
        p.reject(new FusionError(why, 0));
      }
    }
  }

  private receive(text: string): void {
    let msg: { type?: string; id?: number; value?: unknown; status?: number; message?: string; fields?: string[] };
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    const id = msg.id as number;
    const error = () => new FusionError(msg.message ?? "error", msg.status ?? 0, msg.fields ?? []);
    switch (msg.type) {
      case "value": {
        const q = this.liveById.get(id);
        if (q === undefined) return; // unsubscribed meanwhile
        q.hasValue = true;
        q.value = msg.value;
        for (const w of [...q.watchers]) w.onValue(msg.value);
        return;
      }
      case "failed":
      case "error": {
        const p = this.pending.get(id);
        if (p !== undefined) {
          this.pending.delete(id);
          p.reject(error());
          return;
        }
        const q = this.liveById.get(id);
        if (q !== undefined) for (const w of [...q.watchers]) w.onError?.(error());
        return;
      }
      case "result": {
        const p = this.pending.get(id);
        if (p !== undefined) {
          this.pending.delete(id);
          p.resolve(msg.value);
        }
        return;
      }
      default:
        return;
    }
  }
}
