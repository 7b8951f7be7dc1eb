import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { parseAllDocuments } from "yaml";
import { parseArgs } from "../../runtime/cli.ts";
import { parseDuration, type RawOptions, resolveOptions } from "../../runtime/options.ts";
import { ensureDebianPackage } from "../_apt.ts";
import { ROOT } from "../_harness.ts";

/** rota kills a worker this long after the graceful timeout (runtime/supervisor/supervisor.ts). */
const KILL_GRACE_MS = 3000;

// deno-lint-ignore no-explicit-any
type Obj = Record<string, any>;

function flag(args: string[], name: string, fallback: string): number {
  const i = args.indexOf(name);
  const ms = parseDuration(i >= 0 ? args[i + 1] : fallback);
  assert.ok(ms !== undefined, `${name} is a duration`);
  return ms;
}

test("examples/kubernetes.yaml parses, probes rota's health paths, and gives rota the time it needs to stop", () => {
  const docs = parseAllDocuments(readFileSync(join(ROOT, "examples", "kubernetes.yaml"), "utf8"));
  for (const doc of docs) assert.deepEqual(doc.errors, [], "valid YAML");
  const [deployment, service] = docs.map((doc) => doc.toJS() as Obj);
  assert.equal(deployment.kind, "Deployment");
  assert.equal(service.kind, "Service");

  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];
  assert.equal(container.startupProbe.httpGet.path, "/_rota/live");
  assert.equal(container.readinessProbe.httpGet.path, "/_rota/ready");
  assert.equal(container.livenessProbe.httpGet.path, "/_rota/live");
  const portNames = container.ports.map((p: Obj) => p.name);
  for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
    assert.ok(portNames.includes(container[probe].httpGet.port), `${probe} targets a declared port`);
  }

  const args: string[] = container.args.map(String);
  assert.equal(args[0], "serve");
  assert.equal(args[args.indexOf("--hostname") + 1], "0.0.0.0", "reachable by the kubelet's probes");
  const port = Number(args[args.indexOf("--port") + 1]);
  assert.equal(container.ports.find((p: Obj) => p.name === "http").containerPort, port);
  const stopMs = flag(args, "--shutdown-delay", "0") + flag(args, "--graceful-timeout", "5s") + KILL_GRACE_MS;
  assert.ok(
    pod.terminationGracePeriodSeconds * 1000 > stopMs,
    `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} s covers rota's ${stopMs} ms`,
  );

  const rollout = deployment.spec.strategy.rollingUpdate;
  assert.equal(rollout.maxUnavailable, 0, "a rollout never removes a pod before its replacement is ready");
  assert.ok(rollout.maxSurge >= 1);
  assert.deepEqual(service.spec.selector, deployment.spec.template.metadata.labels);
  assert.deepEqual(deployment.spec.selector.matchLabels, deployment.spec.template.metadata.labels);
  assert.equal(service.spec.ports[0].targetPort, "http");
});

test("examples/rota.service is a Type=notify unit whose stop timeout covers rota's drain", () => {
  const text = readFileSync(join(ROOT, "examples", "rota.service"), "utf8");
  const settings = new Map<string, string>();
  for (const line of text.replace(/\\\n\s*/g, " ").split("\n")) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (match) settings.set(match[1], match[2]);
  }
  assert.equal(settings.get("Type"), "notify");
  assert.equal(settings.get("NotifyAccess"), "all", "systemd-notify sends from its own pid when not root");
  assert.equal(settings.get("KillMode"), "mixed", "SIGTERM to rota alone; it drains its workers");
  assert.equal(settings.get("ExecReload"), "/bin/kill -HUP $MAINPID");
  const args = settings.get("ExecStart")!.split(/\s+/);
  const stopMs = flag(args, "--shutdown-delay", "0") + flag(args, "--graceful-timeout", "5s") + KILL_GRACE_MS;
  assert.ok(Number(settings.get("TimeoutStopSec")) * 1000 > stopMs);
  assert.ok(Number(settings.get("WatchdogSec")) > 0);
  const analyze = ensureDebianPackage("/usr/bin/systemd-analyze", "systemd");
  const verify = spawnSync(analyze, ["verify", join(ROOT, "examples", "rota.service")], { encoding: "utf8" });
  const complaints = verify.stderr.split("\n").filter((line) => line.includes("rota.service:"));
  assert.deepEqual(complaints, [], "systemd-analyze verify finds no unknown or malformed setting");
});

test("the examples' command lines are real: rota's own parser and option checks accept every flag and value", () => {
  const docs = parseAllDocuments(readFileSync(join(ROOT, "examples", "kubernetes.yaml"), "utf8"));
  const container = (docs[0].toJS() as Obj).spec.template.spec.containers[0];
  const unit = readFileSync(join(ROOT, "examples", "rota.service"), "utf8").replace(/\\\n\s*/g, " ");
  const execStart = /^ExecStart=(.*)$/m.exec(unit)![1].split(/\s+/);
  for (const args of [container.args.map(String), execStart.slice(execStart.indexOf("serve"))]) {
    const command = parseArgs(args);
    assert.equal(command.kind, "serve");
    const options = resolveOptions((command as { options: RawOptions }).options, {
      env: {},
      parallelism: 2,
      isTerminal: false,
    });
    assert.ok(options.app.endsWith(".js"));
  }
  const k8s = resolveOptions(
    (parseArgs(container.args.map(String)) as { options: RawOptions }).options,
    { env: {}, parallelism: 2, isTerminal: false },
  );
  assert.deepEqual([k8s.admin, k8s.shutdownDelay, k8s.healthPrefix], ["0.0.0.0:9100", 5000, "/_rota"]);
  const probes = ["startupProbe", "readinessProbe", "livenessProbe"].map((probe) => container[probe].httpGet.path);
  assert.ok(probes.every((path: string) => path.startsWith(`${k8s.healthPrefix}/`)), "the probes ask rota's prefix");
});
