import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { FusionClient, FusionError, syncUrl } from "../src/index.ts";
import type { SocketFactory } from "../src/index.ts";
import { FakeServer, until } from "./fakeServer.ts";

const Socket = WebSocket as unknown as SocketFactory;
let server: FakeServer;
let client: FusionClient;

beforeEach(async () => {
  server = await FakeServer.start();
  client = new FusionClient(server.url, { WebSocket: Socket, reconnectDelay: { min: 10, max: 50 } });
});

afterEach(async () => {
  client.close();
  await server.close();
});

describe("FusionClient", () => {
  it("builds the sync URL from an http(s) base", () => {
    expect(syncUrl("http://h:1/")).toBe("ws://h:1/api/sync");
    expect(syncUrl("https://h/app", { token: "t" })).toBe("wss://h/app/api/sync?token=t");
  });

  it("watch gets the value, then every change, until stopped", async () => {
    const seen: unknown[] = [];
    const stop = client.watch("counter", {}, (v) => seen.push(v));
    await until(() => seen.length === 1);
    await client.mutation("bump");
    await client.mutation("bump");
    await until(() => seen.length === 3);
    expect(seen).toEqual([0, 1, 2]);
    stop();
    await until(() => server.received.some((m) => m.type === "unsubscribe"));
    await client.mutation("bump");
    expect(seen).toEqual([0, 1, 2]);
  });

  it("watchers of one query share a subscription and a late one gets the value at once", async () => {
    const a: unknown[] = [];
    const b: unknown[] = [];
    client.watch("counter", {}, (v) => a.push(v));
    await until(() => a.length === 1);
    client.watch("counter", {}, (v) => b.push(v));
    expect(b).toEqual([0]);
    expect(server.received.filter((m) => m.type === "subscribe")).toHaveLength(1);
  });

  it("query and mutation resolve with results; errors reject with status and fields", async () => {
    expect(await client.query("echo", { a: 1 })).toEqual({ a: 1 });
    const err = await client.mutation("nope", { x: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FusionError);
    expect((err as FusionError).status).toBe(422);
    expect((err as FusionError).fields).toEqual(["x"]);
  });

  it("a failed subscribe reaches the watcher's onError", async () => {
    const errors: FusionError[] = [];
    client.watch("missing", {}, () => undefined, (e) => errors.push(e));
    await until(() => errors.length === 1);
    expect(errors[0].status).toBe(404);
  });

  it("reconnects, re-subscribes and ends on the current value", async () => {
    const seen: unknown[] = [];
    const changes: boolean[] = [];
    client.close();
    client = new FusionClient(server.url, {
      WebSocket: Socket,
      reconnectDelay: { min: 10, max: 50 },
      onConnectionChange: (c) => changes.push(c),
    });
    client.watch("counter", {}, (v) => seen.push(v));
    await until(() => seen.length === 1);
    server.dropAll();
    await until(() => changes.includes(false));
    server.counter = 41; // commits while the client was away
    server.bump();
    await until(() => seen.at(-1) === 42);
    expect(changes).toEqual([true, false, true]);
    expect(server.connections).toBe(1);
  });

  it("a mutation in flight when the connection drops is rejected, not re-sent", async () => {
    const pending = client.mutation("hang");
    await until(() => server.received.some((m) => m.name === "hang"));
    server.dropAll();
    await expect(pending).rejects.toThrow(/connection lost/);
    await until(() => client.connected);
    expect(server.received.filter((m) => m.name === "hang")).toHaveLength(1);
  });

  it("calls made before the connection opens are sent once it does", async () => {
    const fresh = new FusionClient(server.url, { WebSocket: Socket });
    try {
      expect(await fresh.query("echo", { early: true })).toEqual({ early: true });
    } finally {
      fresh.close();
    }
  });

  it("uploads a file to an upload URL and gets its storage id", async () => {
    const blob = new Blob([new Uint8Array([1, 2, 3])], { type: "image/png" });
    expect(await client.upload("/api/upload?token=good", blob)).toBe("file1");
    expect(await client.upload(`${server.url}/api/upload?token=good`, new Uint8Array([9]), "text/plain")).toBe("file2");
    expect(server.uploads.map((u) => [[...u.body], u.type])).toEqual([
      [[1, 2, 3], "image/png"],
      [[9], "text/plain"],
    ]);
    const refused = await client.upload("/api/upload?token=old", blob).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(FusionError);
    expect((refused as FusionError).status).toBe(403);
    expect((refused as FusionError).message).toContain("expired");
  });
});
