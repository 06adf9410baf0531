// The types `fusiondb codegen` writes (test/fixtures/api.ts, from tests/serve_app.py) check
// calls: tsc --noEmit (npm test) fails if a @ts-expect-error below is not an error.
import { expect, it } from "vitest";
import { FusionClient } from "../src/index.ts";
import { api } from "./fixtures/api.ts";
import type { ListByUserResult, Task } from "./fixtures/api.ts";

export async function typedCalls(client: FusionClient): Promise<string> {
  const tasks: ListByUserResult = await client.query(api.list_by_user, { user_id: "u1" });
  const first: Task | undefined = tasks[0];
  const id: string = await client.mutation(api.add, { text: "x", user_id: "u1" });
  // @ts-expect-error: user_id is missing
  await client.query(api.list_by_user, {});
  // @ts-expect-error: text must be a string
  await client.mutation(api.add, { text: 1, user_id: "u1" });
  // @ts-expect-error: the result is Task[], not a number
  const wrong: number = await client.query(api.list_by_user, { user_id: "u1" });
  client.watch(api.count_all, {}, (n: number) => n + 1);
  return `${first?.text} ${id} ${wrong}`;
}

it("the generated api names every exposed function with its kind", () => {
  expect(api.list_by_user).toEqual({ kind: "query", name: "list_by_user" });
  expect(api.add.kind).toBe("mutation");
});
