// The package as npm installs it: `npm pack` (which builds dist/ through prepare), the tarball
// unpacked into a fresh project's node_modules, then plain JavaScript (no TypeScript, no
// bundler) imports it with Node, and a TypeScript project type-checks against its .d.ts.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";

const here = resolve(import.meta.dirname, "..");
let project: string;
let files: string[];

beforeAll(() => {
  project = mkdtempSync(join(tmpdir(), "fusiondb-client-"));
  const packed = JSON.parse(
    execFileSync("npm", ["pack", "--json", "--pack-destination", project], { cwd: here, encoding: "utf8" }),
  );
  files = packed[0].files.map((f: { path: string }) => f.path);
  const target = join(project, "node_modules", "fusiondb-client");
  mkdirSync(target, { recursive: true });
  execFileSync("tar", ["-xzf", join(project, packed[0].filename), "-C", target, "--strip-components=1"]);
  for (const dep of ["react", "@types/react", "typescript"]) {
    mkdirSync(join(project, "node_modules", dep, ".."), { recursive: true });
    symlinkSync(join(here, "node_modules", dep), join(project, "node_modules", dep));
  }
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "plain", type: "module", private: true }));
}, 120000);

afterAll(() => rmSync(project, { recursive: true, force: true }));

it("packs the built JavaScript and its type declarations, not the tests", () => {
  for (const f of ["dist/index.js", "dist/index.d.ts", "dist/client.js", "dist/react.js", "dist/react.d.ts", "package.json"]) {
    expect(files).toContain(f);
  }
  expect(files.some((f) => f.startsWith("test/"))).toBe(false);
});

it("imports in plain JavaScript with Node", () => {
  writeFileSync(
    join(project, "main.js"),
    `import { FusionClient, FusionError, syncUrl } from "fusiondb-client";
import { useQuery, useMutation, FusionProvider } from "fusiondb-client/react";
console.log(JSON.stringify([typeof FusionClient, new FusionError("m", 400).status,
  syncUrl("https://h/app"), typeof useQuery, typeof useMutation, typeof FusionProvider]));`,
  );
  const out = execFileSync("node", ["main.js"], { cwd: project, encoding: "utf8" });
  expect(JSON.parse(out)).toEqual(["function", 400, "wss://h/app/api/sync", "function", "function", "function"]);
}, 60000);

it("type-checks a TypeScript user against the declarations", () => {
  writeFileSync(
    join(project, "use.ts"),
    `import { FusionClient } from "fusiondb-client";
import type { FunctionReference } from "fusiondb-client";
const add = { kind: "mutation", name: "add" } as FunctionReference<"mutation", { text: string }, string>;
export async function go(c: FusionClient): Promise<string> {
  // @ts-expect-error: text must be a string
  await c.mutation(add, { text: 1 });
  return c.mutation(add, { text: "x" });
}`,
  );
  writeFileSync(
    join(project, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        strict: true, noEmit: true, module: "NodeNext", moduleResolution: "NodeNext", target: "ES2022",
        lib: ["ES2022", "DOM"], types: [], skipLibCheck: true,
      },
      files: ["use.ts"],
    }),
  );
  const tsc = join(project, "node_modules", "typescript", "bin", "tsc");
  expect(execFileSync("node", [tsc, "-p", project], { cwd: project, encoding: "utf8" })).toBe("");
  expect(readFileSync(join(project, "node_modules", "fusiondb-client", "dist", "index.d.ts"), "utf8")).toContain("FusionClient");
}, 120000);
