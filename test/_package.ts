/**
 * rota's npm package as a new user gets it: packed (`npm pack`, whose prepack
 * build writes `dist/`) from a copy of the sources, as from a clone, then
 * installed into a fresh project from the registry and npm's cache only. For
 * `test/package.test.ts`, and for the benchmarks, which run rota as installed.
 */

import { execFile } from "node:child_process";
import { cpSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import process from "node:process";
import { ROOT } from "./_harness.ts";

/** Run a command to its end, bounded; resolve with its exit code and output. */
export function run(
  command: string,
  args: readonly string[],
  options: { cwd: string; env?: Record<string, string>; timeoutMs?: number },
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      {
        cwd: options.cwd,
        env: { ...process.env, ...options.env },
        timeout: options.timeoutMs ?? 60_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** The packed and installed package. */
export interface InstalledPackage {
  /** The packed files, relative to the package's root. */
  readonly files: readonly string[];
  /** The project it is installed in (its `node_modules/rota`). */
  readonly project: string;
}

/**
 * Pack rota and install the tarball into a new project under `dir`.
 *
 * @param dir An empty directory, which the caller removes.
 * @param alongside Packages installed with it (`hono@4`, …).
 * @returns The packed files and the project.
 * @throws {Error} When packing or installing fails, with npm's output.
 */
export async function packAndInstall(dir: string, alongside: readonly string[]): Promise<InstalledPackage> {
  // The prepack build empties and refills dist/, which other suites running at the same time spawn workers
  // from (a worker once failed to start with "Cannot find module"): packed from a copy.
  const source = join(dir, "source");
  const generated = new Set(["node_modules", "dist", ".git", "test/output", "bench/.tools", "bench/.out"]);
  cpSync(ROOT, source, {
    recursive: true,
    filter: (from) => !generated.has(relative(ROOT, from)),
  });
  symlinkSync(join(ROOT, "node_modules"), join(source, "node_modules"));
  const packed = await run("npm", ["pack", "--json", "--pack-destination", dir], { cwd: source, timeoutMs: 120_000 });
  if (packed.code !== 0) throw new Error(`npm pack failed:\n${packed.stderr}`);
  // The prepack build prints its summary on the same stream as npm's JSON.
  const [manifest] = JSON.parse(packed.stdout.slice(packed.stdout.search(/^\[/m)));
  const project = join(dir, "project");
  mkdirSync(project);
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "project", private: true, type: "module" }));
  const installed = await run(
    "npm",
    ["install", "--prefer-offline", "--no-audit", "--no-fund", join(dir, manifest.filename), ...alongside],
    { cwd: project, timeoutMs: 240_000 },
  );
  if (installed.code !== 0) throw new Error(`npm install failed:\n${installed.stderr}`);
  return { files: manifest.files.map((file: { path: string }) => file.path), project };
}
