/** What the `rota` program loads, from `deno info --json`'s graph of `main.ts`. */

import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { ROOT, TARGETS } from "./_harness.ts";

/** A module of `deno info --json`'s graph. */
interface GraphModule {
  specifier: string;
  dependencies?: { specifier: string; isDynamic?: boolean; code?: { specifier: string } }[];
}

/**
 * Every module main.ts reaches through imports, static or dynamic, along the
 * imports `follow` accepts.
 *
 * @param follow Whether to follow an import of `specifier`.
 * @returns The specifiers reached, main.ts's own included.
 */
export function reachable(follow: (specifier: string, dynamic: boolean) => boolean): Set<string> {
  const info = spawnSync(TARGETS["deno"]().command[0], ["info", "--json", join(ROOT, "main.ts")], {
    cwd: ROOT,
    encoding: "utf8",
  });
  const modules = (JSON.parse(info.stdout) as { modules: GraphModule[] }).modules;
  const bySpecifier = new Map(modules.map((module) => [module.specifier, module]));
  const seen = new Set<string>();
  const visit = (specifier: string) => {
    if (seen.has(specifier)) return;
    seen.add(specifier);
    for (const dependency of bySpecifier.get(specifier)?.dependencies ?? []) {
      const target = dependency.code?.specifier;
      if (target && follow(target, dependency.isDynamic === true)) visit(target);
    }
  };
  visit(pathToFileURL(join(ROOT, "main.ts")).href);
  return seen;
}
