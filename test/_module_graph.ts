/** What a module of rota loads, from `deno info --json`'s graph. */

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
 * Every module `root` reaches through imports, static or dynamic, along the
 * imports `follow` accepts (type-only imports load nothing and are not in
 * the graph's code dependencies).
 *
 * @param follow Whether to follow `from`'s import of `specifier`.
 * @param root The module to start from, relative to the repository.
 * @returns The specifiers reached, the root's own included.
 */
export function reachable(
  follow: (specifier: string, dynamic: boolean, from: string) => boolean,
  root = "main.ts",
): Set<string> {
  const info = spawnSync(TARGETS["deno"]().command[0], ["info", "--json", join(ROOT, root)], {
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
      if (target && follow(target, dependency.isDynamic === true, specifier)) visit(target);
    }
  };
  visit(pathToFileURL(join(ROOT, root)).href);
  return seen;
}
