/** The command line of `npm run bench`: parsed once, bad input refused with one line. */

/** The parts of the suite that can be run on their own. */
export const SECTIONS = ["steady", "replacement", "memory"] as const;
/** One part of the suite. */
export type Section = typeof SECTIONS[number];

/** The runtimes the suite knows, as keys of the harness's `TARGETS`. */
export const RUNTIMES = ["node-system", "node-npm", "bun", "deno"] as const;
/** One runtime key. */
export type RuntimeKey = typeof RUNTIMES[number];

/** What one `npm run bench` does. */
export interface BenchOptions {
  /** Fewer, shorter runs: a smoke test of the suite in under 3 minutes. @default {false} */
  quick: boolean;
  /** Alternating rounds per comparison. @default {3} (1 with --quick) */
  runs: number;
  /** Seconds of wrk per run. @default {10} (2 with --quick) */
  seconds: number;
  /** Replace-then-measure cycles per runtime. @default {3} (1 with --quick) */
  cycles: number;
  /** Which parts run. @default every section */
  sections: Section[];
  /** Which runtimes run. @default every runtime */
  runtimes: RuntimeKey[];
  /** Whether PM2 rows run (Node 20 groups of the steady section). @default {true} */
  pm2: boolean;
  /** Where the Markdown goes; `undefined`: the default for this kind of run. */
  out: string | undefined;
  /** Print the help and stop. */
  help: boolean;
}

/** A command line the suite refuses: the message is one line. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** The text of `npm run bench -- --help`. */
export const HELP = `npm run bench [-- flags]

Runs every comparison of issue 9 with wrk on 127.0.0.1, alternating the contenders
of each comparison (ABAB...), and prints one table. A full run with every section
and runtime writes bench/results.md and the README's Benchmarks table; other runs
write bench/.out/last.md unless --out says otherwise.

  --quick              1 round of 2 s per contender, no warm-up, 1 replacement cycle (under 3 minutes)
  --runs <n>           alternating rounds per comparison (default 3)
  --seconds <n>        seconds of wrk per run (default 10)
  --cycles <n>         replacement cycles per runtime (default 3)
  --only <list>        sections: ${SECTIONS.join(",")}
  --runtimes <list>    runtimes: ${RUNTIMES.join(",")}
  --no-pm2             leave PM2 out
  --out <file>         write the Markdown table there
  --help               this text`;

function positiveInteger(flag: string, value: string | undefined): number {
  if (value === undefined || !/^\d+$/.test(value) || Number(value) < 1) {
    throw new UsageError(`${flag} needs a positive integer, got ${value === undefined ? "nothing" : `'${value}'`}`);
  }
  return Number(value);
}

function list<T extends string>(flag: string, value: string | undefined, known: readonly T[]): T[] {
  if (value === undefined || value === "") throw new UsageError(`${flag} needs a comma-separated list`);
  const items = value.split(",");
  const unknown = items.filter((item) => !known.includes(item as T));
  if (unknown.length > 0) {
    throw new UsageError(`${flag}: unknown '${unknown.join(",")}' (known: ${known.join(",")})`);
  }
  return [...new Set(items)] as T[];
}

/**
 * Parse the arguments after `npm run bench --`.
 *
 * @param argv The arguments.
 * @returns The options, defaults applied.
 * @throws {UsageError} For an unknown flag or a bad value.
 */
export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  const given: Partial<BenchOptions> = {};
  let quick = false;
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].includes("=")
      ? [argv[i].slice(0, argv[i].indexOf("=")), argv[i].slice(argv[i].indexOf("=") + 1)]
      : [argv[i], undefined];
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case "--quick":
        quick = true;
        break;
      case "--runs":
        given.runs = positiveInteger(flag, value());
        break;
      case "--seconds":
        given.seconds = positiveInteger(flag, value());
        break;
      case "--cycles":
        given.cycles = positiveInteger(flag, value());
        break;
      case "--only":
        given.sections = list(flag, value(), SECTIONS);
        break;
      case "--runtimes":
        given.runtimes = list(flag, value(), RUNTIMES);
        break;
      case "--no-pm2":
        given.pm2 = false;
        break;
      case "--out": {
        const out = value();
        if (!out || out.startsWith("--")) throw new UsageError("--out needs a file name");
        given.out = out;
        break;
      }
      case "--help":
      case "-h":
        given.help = true;
        break;
      default:
        throw new UsageError(`unknown argument '${argv[i]}' (see npm run bench -- --help)`);
    }
  }
  return {
    quick,
    runs: given.runs ?? (quick ? 1 : 3),
    seconds: given.seconds ?? (quick ? 2 : 10),
    cycles: given.cycles ?? (quick ? 1 : 3),
    sections: given.sections ?? [...SECTIONS],
    runtimes: given.runtimes ?? [...RUNTIMES],
    pm2: given.pm2 ?? true,
    out: given.out,
    help: given.help ?? false,
  };
}
