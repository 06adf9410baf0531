// @vitest-environment happy-dom
import { act, cleanup, render, screen, waitFor } from "@testing-library/react";
import { afterEach, beforeEach, expect, it } from "vitest";
import { WebSocket } from "ws";
import { FusionClient } from "../src/index.ts";
import type { SocketFactory } from "../src/index.ts";
import { FusionProvider, useMutation, useQuery } from "../src/react.ts";
import { FakeServer } from "./fakeServer.ts";

let server: FakeServer;
let client: FusionClient;
const renders: unknown[] = [];

beforeEach(async () => {
  renders.length = 0;
  server = await FakeServer.start();
  client = new FusionClient(server.url, { WebSocket: WebSocket as unknown as SocketFactory });
});

afterEach(async () => {
  cleanup();
  client.close();
  await server.close();
});

function Counter() {
  const value = useQuery("counter", {});
  const bump = useMutation("bump");
  renders.push(value);
  return (
    <button type="button" onClick={() => void bump()}>
      {value === undefined ? "loading" : `count ${value}`}
    </button>
  );
}

it("useQuery is undefined while loading, then re-renders on every change", async () => {
  render(
    <FusionProvider client={client}>
      <Counter />
    </FusionProvider>,
  );
  expect(screen.getByRole("button").textContent).toBe("loading");
  const button = () => screen.getByRole("button").textContent;
  await waitFor(() => expect(button()).toBe("count 0"));
  act(() => screen.getByRole("button").click());
  await waitFor(() => expect(button()).toBe("count 1"));
  server.bump(); // a commit from elsewhere
  await waitFor(() => expect(button()).toBe("count 2"));
  expect(renders[0]).toBeUndefined();
  expect(renders.filter((v) => v !== undefined)).toEqual(expect.arrayContaining([0, 1, 2]));
});

function Echo(props: { word: string }) {
  const value = useQuery("echo", { word: props.word }) as { word: string } | undefined;
  return <p>{value === undefined ? "loading" : value.word}</p>;
}

it("useQuery follows its arguments", async () => {
  const view = render(
    <FusionProvider client={client}>
      <Echo word="one" />
    </FusionProvider>,
  );
  await waitFor(() => expect(screen.queryByText("one")).not.toBeNull());
  view.rerender(
    <FusionProvider client={client}>
      <Echo word="two" />
    </FusionProvider>,
  );
  await waitFor(() => expect(screen.queryByText("two")).not.toBeNull());
});
